package pgvector

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/ragway/ragway/retrieval"
)

// Filters become SQL over the attributes jsonb column. Keys and values are
// always bound parameters; the statement text holds only placeholders,
// operators from a fixed table and the type names below. Each comparison
// checks the JSON type first, in a CASE so the cast never runs on a value
// of another kind: a missing key or a kind mismatch yields NULL, which
// WHERE treats as false (ne included), as retrieval.Filter.Match does.
// Strings compare bytewise (COLLATE "C"), like Go.

var sqlOps = map[string]string{"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}

// filterSQL appends f's parameters to args and returns its condition, or
// "TRUE" for no filter. f must be valid (retrieval.Filter.Validate).
func filterSQL(f *retrieval.Filter, args []any) (string, []any, error) {
	if f == nil {
		return "TRUE", args, nil
	}
	var b strings.Builder
	args, err := writeFilter(&b, f, args)
	if err != nil {
		return "", nil, err
	}
	return b.String(), args, nil
}

func placeholder(args []any) string { return "$" + strconv.Itoa(len(args)) }

func writeFilter(b *strings.Builder, f *retrieval.Filter, args []any) ([]any, error) {
	switch f.Type {
	case "and", "or":
		b.WriteByte('(')
		for i, c := range f.Filters {
			if i > 0 {
				b.WriteString(map[string]string{"and": " AND ", "or": " OR "}[f.Type])
			}
			var err error
			if args, err = writeFilter(b, c, args); err != nil {
				return nil, err
			}
		}
		b.WriteByte(')')
		return args, nil
	}
	op, ok := sqlOps[f.Type]
	if !ok {
		return nil, fmt.Errorf("%w: unknown filter type %q", retrieval.ErrInvalidQuery, f.Type)
	}
	var kind, cast string
	var value any
	switch v := f.Value.(type) {
	case string:
		kind, cast, value = "string", `COLLATE "C"`, v
	case float64:
		kind, cast, value = "number", "::float8", v
	case json.Number:
		n, err := v.Float64()
		if err != nil {
			return nil, fmt.Errorf("%w: filter value is not a number", retrieval.ErrInvalidQuery)
		}
		kind, cast, value = "number", "::float8", n
	case bool:
		if f.Type != "eq" && f.Type != "ne" {
			return nil, fmt.Errorf("%w: %s cannot compare booleans", retrieval.ErrInvalidQuery, f.Type)
		}
		kind, cast, value = "boolean", "::boolean", v
	default:
		return nil, fmt.Errorf("%w: filter value must be a string, number or boolean", retrieval.ErrInvalidQuery)
	}
	args = append(args, f.Key)
	k := placeholder(args)
	args = append(args, value)
	v := placeholder(args)
	valueType := map[string]string{"string": "::text", "number": "::float8", "boolean": "::boolean"}[kind]
	fmt.Fprintf(b, "(CASE WHEN jsonb_typeof(attributes -> %s::text) = '%s' THEN (attributes ->> %s::text)%s %s %s%s END)",
		k, kind, k, cast, op, v, valueType)
	return args, nil
}
