package service

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
)

// Page limits.
const (
	DefaultPageLimit = 20
	MaxPageLimit     = 100
)

// listQuery is a list over one table in (created_ns, id) order.
type listQuery struct {
	table, cols, idCol string
	// where scopes the list ("tenant = $1 ..."), with args.
	where string
	args  []any
}

// normalize checks and defaults list parameters.
func (p *ListParams) normalize() error {
	if p.Limit == 0 {
		p.Limit = DefaultPageLimit
	}
	if p.Limit < 1 || p.Limit > MaxPageLimit {
		return invalid("limit", "limit must be between 1 and %d", MaxPageLimit)
	}
	switch p.Order {
	case "":
		p.Order = "desc"
	case "asc", "desc":
	default:
		return invalid("order", "order must be asc or desc")
	}
	switch p.Filter {
	case "", StatusInProgress, StatusCompleted, StatusFailed, StatusCancelled:
	default:
		return invalid("filter", "filter must be in_progress, completed, failed or cancelled")
	}
	if p.After != "" && p.Before != "" {
		return invalid("after", "after and before cannot be used together")
	}
	return nil
}

// list runs a page query and scans rows with scan.
func list[T any](ctx context.Context, db *sql.DB, lq listQuery, p ListParams, scan func(scanner) (T, error), id func(T) string) (*Page[T], error) {
	if err := p.normalize(); err != nil {
		return nil, err
	}
	args := append([]any(nil), lq.args...)
	where := lq.where
	desc := p.Order == "desc"
	cursor := p.After
	if p.Before != "" {
		cursor, desc = p.Before, !desc
	}
	if cursor != "" {
		var ns int64
		cargs := append(append([]any(nil), lq.args...), cursor)
		err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT created_ns FROM %s WHERE %s AND %s = $%d",
			lq.table, lq.where, lq.idCol, len(cargs)), cargs...).Scan(&ns)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, invalid("after", "the cursor %q names no object of this list", cursor)
		}
		if err != nil {
			return nil, fmt.Errorf("list cursor: %w", err)
		}
		op := ">"
		if desc {
			op = "<"
		}
		args = append(args, ns, cursor)
		where += fmt.Sprintf(" AND (created_ns %s $%d OR (created_ns = $%d AND %s %s $%d))",
			op, len(args)-1, len(args)-1, lq.idCol, op, len(args))
	}
	dir := "ASC"
	if desc {
		dir = "DESC"
	}
	args = append(args, p.Limit+1)
	q := fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY created_ns %s, %s %s LIMIT $%d",
		lq.cols, lq.table, where, dir, lq.idCol, dir, len(args))
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", lq.table, err)
	}
	defer rows.Close()
	data := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", lq.table, err)
		}
		data = append(data, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s: %w", lq.table, err)
	}
	page := &Page[T]{Object: "list"}
	if len(data) > p.Limit {
		data, page.HasMore = data[:p.Limit], true
	}
	if p.Before != "" {
		slices.Reverse(data)
	}
	page.Data = data
	if len(data) > 0 {
		first, last := id(data[0]), id(data[len(data)-1])
		page.FirstID, page.LastID = &first, &last
	}
	return page, nil
}
