// Package usage records requests and tokens per tenant, key and model, and
// answers queries over time ranges. Recording is in memory and cheap; rows
// are aggregated per minute and flushed to SQL (the embedded SQLite file or
// PostgreSQL) in the background.
package usage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

// Row is the usage of one tenant, key and model in one time bucket.
type Row struct {
	Tenant           string    `json:"tenant"`
	Key              string    `json:"key,omitempty"`
	Model            string    `json:"model,omitempty"`
	Bucket           time.Time `json:"bucket"`
	Requests         int64     `json:"requests"`
	PromptTokens     int64     `json:"prompt_tokens"`
	CompletionTokens int64     `json:"completion_tokens"`
}

// Query selects usage rows of one tenant.
type Query struct {
	Tenant string
	// Key and Model, when set, filter.
	Key, Model string
	From, To   time.Time
	// GroupBy is "model", "key" or "" (tenant totals), always per Step.
	GroupBy string
	// Step is the bucket size of the answer: a minute, hour or day.
	Step time.Duration
}

type bucketKey struct {
	tenant, key, model string
	minute             int64
}

type counts struct{ requests, prompt, completion int64 }

// Recorder aggregates usage in memory and flushes it to the database.
type Recorder struct {
	db      *sql.DB
	dialect string
	log     *slog.Logger

	mu      sync.Mutex
	pending map[bucketKey]*counts

	stop chan struct{}
	done chan struct{}
}

// Open opens the usage database: driver "sqlite" with a file path, or
// "pgx" with a PostgreSQL DSN. It creates the table if needed and starts
// flushing every interval until Close.
func Open(ctx context.Context, driver, dsn string, interval time.Duration, log *slog.Logger) (*Recorder, error) {
	if driver == "sqlite" {
		dsn = "file:" + dsn + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open usage db: %w", err)
	}
	if driver == "sqlite" {
		db.SetMaxOpenConns(1)
	}
	const ddl = `CREATE TABLE IF NOT EXISTS ragway_usage (
		tenant TEXT NOT NULL, key_id TEXT NOT NULL, model TEXT NOT NULL, minute BIGINT NOT NULL,
		requests BIGINT NOT NULL, prompt_tokens BIGINT NOT NULL, completion_tokens BIGINT NOT NULL,
		PRIMARY KEY (tenant, key_id, model, minute))`
	if _, err := db.ExecContext(ctx, ddl); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("create usage table: %w", err)
	}
	r := &Recorder{db: db, dialect: driver, log: log, pending: map[bucketKey]*counts{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go r.loop(interval)
	return r, nil
}

// Record adds one request's usage.
func (r *Recorder) Record(tenant, key, model string, prompt, completion int, at time.Time) {
	k := bucketKey{tenant, key, model, at.Unix() / 60}
	r.mu.Lock()
	c := r.pending[k]
	if c == nil {
		c = &counts{}
		r.pending[k] = c
	}
	c.requests++
	c.prompt += int64(prompt)
	c.completion += int64(completion)
	r.mu.Unlock()
}

func (r *Recorder) loop(interval time.Duration) {
	defer close(r.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := r.Flush(ctx); err != nil {
				r.log.Error("usage flush failed; will retry", "error", err)
			}
			cancel()
		}
	}
}

// Flush writes pending usage. Rows that fail to write stay pending.
func (r *Recorder) Flush(ctx context.Context) error {
	r.mu.Lock()
	batch := r.pending
	r.pending = map[bucketKey]*counts{}
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := r.write(ctx, batch)
	if err != nil {
		r.mu.Lock()
		for k, c := range batch {
			p := r.pending[k]
			if p == nil {
				r.pending[k] = c
				continue
			}
			p.requests += c.requests
			p.prompt += c.prompt
			p.completion += c.completion
		}
		r.mu.Unlock()
	}
	return err
}

func (r *Recorder) write(ctx context.Context, batch map[bucketKey]*counts) error {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin usage write: %w", err)
	}
	const upsert = `INSERT INTO ragway_usage (tenant, key_id, model, minute, requests, prompt_tokens, completion_tokens)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (tenant, key_id, model, minute) DO UPDATE SET
		requests = ragway_usage.requests + excluded.requests,
		prompt_tokens = ragway_usage.prompt_tokens + excluded.prompt_tokens,
		completion_tokens = ragway_usage.completion_tokens + excluded.completion_tokens`
	for k, c := range batch {
		if _, err := tx.ExecContext(ctx, upsert, k.tenant, k.key, k.model, k.minute, c.requests, c.prompt, c.completion); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("write usage: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit usage: %w", err)
	}
	return nil
}

// Query returns the tenant's usage in [From, To), summed per Step and
// GroupBy. Pending usage is flushed first so the answer is current.
func (r *Recorder) Query(ctx context.Context, q Query) ([]Row, error) {
	if q.Tenant == "" {
		return nil, errors.New("usage query needs a tenant")
	}
	if err := r.Flush(ctx); err != nil {
		return nil, err
	}
	step := int64(q.Step / time.Minute)
	if step < 1 {
		step = 1
	}
	group := ""
	switch q.GroupBy {
	case "model":
		group = ", model"
	case "key":
		group = ", key_id"
	case "":
	default:
		return nil, fmt.Errorf("group_by must be model, key or empty, not %q", q.GroupBy)
	}
	var where strings.Builder
	args := []any{step, q.Tenant, q.From.Unix() / 60, (q.To.Unix() + 59) / 60}
	where.WriteString("tenant = $2 AND minute >= $3 AND minute < $4")
	if q.Key != "" {
		args = append(args, q.Key)
		fmt.Fprintf(&where, " AND key_id = $%d", len(args))
	}
	if q.Model != "" {
		args = append(args, q.Model)
		fmt.Fprintf(&where, " AND model = $%d", len(args))
	}
	stmt := fmt.Sprintf(`SELECT (minute / $1) * $1 AS b%s, SUM(requests), SUM(prompt_tokens), SUM(completion_tokens)
		FROM ragway_usage WHERE %s GROUP BY b%s ORDER BY b%s`, group, where.String(), group, group)
	rows, err := r.db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, fmt.Errorf("query usage: %w", err)
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		row := Row{Tenant: q.Tenant}
		var minute int64
		dest := []any{&minute}
		switch q.GroupBy {
		case "model":
			dest = append(dest, &row.Model)
		case "key":
			dest = append(dest, &row.Key)
		}
		dest = append(dest, &row.Requests, &row.PromptTokens, &row.CompletionTokens)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("scan usage: %w", err)
		}
		row.Bucket = time.Unix(minute*60, 0).UTC()
		out = append(out, row)
	}
	return out, rows.Err()
}

// Close flushes and closes the database.
func (r *Recorder) Close() error {
	close(r.stop)
	<-r.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ferr := r.Flush(ctx)
	return errors.Join(ferr, r.db.Close())
}
