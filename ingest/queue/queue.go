// Package queue is the embedded durable queue of ingestion jobs, the
// default that needs no server: one SQLite table (modernc.org/sqlite, WAL)
// in the data directory.
//
// A job is a row. Enqueue commits it before returning. A consumer takes the
// oldest visible row by stamping it with a lease token and moving its
// visibility to the end of the lease, renews the lease while the handler
// runs, deletes the row when the handler succeeds, and on failure makes it
// visible again after an exponential backoff. A consumer that dies (the
// process is killed) stops renewing, so its job is taken by another consumer
// when the lease runs out. Several processes may share the file.
package queue

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/ragway/ragway/ingest"
	"github.com/ragway/ragway/ingest/consumers"
)

var _ ingest.Queue = (*Queue)(nil)

// ErrClosed is returned by a Queue used after Close.
var ErrClosed = consumers.ErrClosed

// busyTimeout is how long a write waits for another writer.
const busyTimeout = 10 * time.Second

// Queue is an ingest.Queue over a SQLite file.
type Queue struct {
	db  *sql.DB
	cfg Config

	mu    sync.Mutex
	wake  chan struct{} // closed and replaced by every Enqueue
	group *consumers.Group

	idle   *idleGate
	claims atomic.Int64 // claim statements run, for tests
}

const schema = `
CREATE TABLE IF NOT EXISTS ingest_jobs (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	job_id     TEXT    NOT NULL,
	body       BLOB    NOT NULL,
	attempts   INTEGER NOT NULL DEFAULT 0,
	visible_at INTEGER NOT NULL,
	token      TEXT,
	last_error TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS ingest_jobs_visible ON ingest_jobs (visible_at, seq);
CREATE INDEX IF NOT EXISTS ingest_jobs_job ON ingest_jobs (job_id);`

// Open opens (creating if needed) the queue file cfg names, after applying
// defaults and validating cfg.
func Open(ctx context.Context, cfg Config) (*Queue, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dsn := fmt.Sprintf("file:%s?_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate",
		cfg.Path, busyTimeout.Milliseconds())
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open queue: %w", err)
	}
	db.SetMaxOpenConns(4)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open queue %s: %w", cfg.Path, err)
	}
	return &Queue{db: db, cfg: cfg, wake: make(chan struct{}), group: consumers.New(), idle: newIdleGate(cfg.Path)}, nil
}

// Enqueue implements ingest.Queue. The job is committed to the file (it
// survives the process being killed) before Enqueue returns.
func (q *Queue) Enqueue(ctx context.Context, job ingest.Job) error {
	if q.group.Closed() {
		return ErrClosed
	}
	body, err := json.Marshal(job)
	if err != nil {
		return fmt.Errorf("enqueue job: %w", err)
	}
	now := time.Now().UnixMilli()
	if q.cfg.Dedupe && job.ID != "" {
		_, err = q.db.ExecContext(ctx, `INSERT INTO ingest_jobs (job_id, body, visible_at)
			SELECT ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM ingest_jobs
				WHERE job_id = ? AND (token IS NULL OR visible_at <= ?))`,
			job.ID, body, now, job.ID, now)
	} else {
		_, err = q.db.ExecContext(ctx, `INSERT INTO ingest_jobs (job_id, body, visible_at) VALUES (?, ?, ?)`,
			job.ID, body, now)
	}
	if err != nil {
		return fmt.Errorf("enqueue job: %w", err)
	}
	q.mu.Lock()
	close(q.wake)
	q.wake = make(chan struct{})
	q.mu.Unlock()
	return nil
}

// Len returns the number of jobs not yet acknowledged, leased ones included.
func (q *Queue) Len(ctx context.Context) (int, error) {
	var n int
	if err := q.db.QueryRowContext(ctx, `SELECT count(*) FROM ingest_jobs`).Scan(&n); err != nil {
		return 0, fmt.Errorf("queue length: %w", err)
	}
	return n, nil
}

// Close stops the consumers (their handlers' contexts are cancelled), waits
// for them, and closes the file. Jobs in flight are not acknowledged. It is
// safe to call more than once.
func (q *Queue) Close() error {
	if !q.group.Close() {
		return nil
	}
	if err := q.db.Close(); err != nil {
		return fmt.Errorf("close queue: %w", err)
	}
	return nil
}

// wakeChan returns the channel the next Enqueue closes.
func (q *Queue) wakeChan() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.wake
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
