package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/ragway/ragway/ingest"
)

// writeTimeout bounds the acknowledgement written after a handler returns,
// which runs even when the consumer's context is done.
const writeTimeout = 10 * time.Second

// lease is one job taken by this consumer.
type lease struct {
	seq      int64
	token    string
	attempts int
	job      ingest.Job
}

// Consume implements ingest.Queue: Config.Workers goroutines take jobs and
// run handle, until ctx is done or the queue is closed. It returns nil when
// ctx ends and ErrClosed when the queue was closed, after every handler it
// started has returned. A handler's context is cancelled when Consume stops.
func (q *Queue) Consume(ctx context.Context, handle func(context.Context, ingest.Job) error) error {
	return q.group.Run(ctx, q.cfg.Workers, func(ctx context.Context) { q.work(ctx, handle) })
}

// work takes and handles jobs until ctx is done.
func (q *Queue) work(ctx context.Context, handle func(context.Context, ingest.Job) error) {
	poll := time.NewTicker(q.cfg.PollInterval)
	defer poll.Stop()
	idle := false // woken by a poll tick, which may skip its claim
	for ctx.Err() == nil {
		wake := q.wakeChan()
		if !idle || !q.idle.skip(time.Now()) {
			l, err := q.claim(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				q.idle.invalidate()
				slog.Default().ErrorContext(ctx, "ingest queue: take job", "error", err)
			case l != nil:
				q.idle.invalidate()
				q.run(ctx, l, handle)
				idle = false
				continue
			case err == nil:
				q.idle.recordEmpty(ctx, q.db)
			}
		}
		select {
		case <-ctx.Done():
		case <-wake:
			idle = false
		case <-poll.C:
			idle = true
		}
	}
}

// claim leases the oldest visible job, or returns nil when there is none.
func (q *Queue) claim(ctx context.Context) (*lease, error) {
	q.claims.Add(1)
	now := time.Now()
	l := &lease{token: newToken()}
	var body []byte
	err := q.db.QueryRowContext(ctx, `UPDATE ingest_jobs SET token = ?, visible_at = ?, attempts = attempts + 1
		WHERE seq = (SELECT seq FROM ingest_jobs WHERE visible_at <= ? ORDER BY visible_at, seq LIMIT 1)
		RETURNING seq, body, attempts`,
		l.token, now.Add(q.cfg.Lease).UnixMilli(), now.UnixMilli()).Scan(&l.seq, &body, &l.attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim job: %w", err)
	}
	if err := json.Unmarshal(body, &l.job); err != nil {
		// A row no handler can read is parked, not redelivered forever.
		q.settle(l, math.MaxInt64, fmt.Sprintf("undecodable job: %v", err))
		return nil, fmt.Errorf("claim job %d: %w", l.seq, err)
	}
	return l, nil
}

// run calls handle with the lease renewed in the background, then settles
// the job: deleted on success, made visible after a backoff on failure.
func (q *Queue) run(ctx context.Context, l *lease, handle func(context.Context, ingest.Job) error) {
	hctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		q.renew(hctx, l)
	}()
	err := safeHandle(hctx, handle, l.job)
	stop()
	wg.Wait()
	if err == nil {
		q.ack(l)
		return
	}
	at := time.Now().Add(q.cfg.backoff(l.attempts)).UnixMilli()
	q.settle(l, at, err.Error())
}

func safeHandle(ctx context.Context, handle func(context.Context, ingest.Job) error, job ingest.Job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return handle(ctx, job)
}

// renew extends the lease every third of it until ctx is done.
func (q *Queue) renew(ctx context.Context, l *lease) {
	t := time.NewTicker(q.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, err := q.db.ExecContext(ctx, `UPDATE ingest_jobs SET visible_at = ? WHERE seq = ? AND token = ?`,
				time.Now().Add(q.cfg.Lease).UnixMilli(), l.seq, l.token)
			if err != nil && ctx.Err() == nil {
				slog.Default().WarnContext(ctx, "ingest queue: renew lease", "job", l.job.ID, "error", err)
			}
		}
	}
}

// ack deletes a job, unless its lease was lost to another consumer.
func (q *Queue) ack(l *lease) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	if _, err := q.db.ExecContext(ctx, `DELETE FROM ingest_jobs WHERE seq = ? AND token = ?`, l.seq, l.token); err != nil {
		slog.Default().ErrorContext(ctx, "ingest queue: ack job", "job", l.job.ID, "error", err)
	}
}

// settle releases a job to be delivered again at visibleAt (Unix ms).
func (q *Queue) settle(l *lease, visibleAt int64, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	const maxReason = 4096
	if len(reason) > maxReason {
		reason = reason[:maxReason]
	}
	_, err := q.db.ExecContext(ctx, `UPDATE ingest_jobs SET token = NULL, visible_at = ?, last_error = ?
		WHERE seq = ? AND token = ?`, visibleAt, reason, l.seq, l.token)
	if err != nil {
		slog.Default().ErrorContext(ctx, "ingest queue: release job", "job", l.job.ID, "error", err)
	}
}
