package queue

import (
	"context"
	"database/sql"
	"os"
	"sync"
	"time"
)

// Idle consumers used to claim (an UPDATE on the SQLite file) at every poll
// tick: with two workers and the default 250 ms that is eight write
// statements a second, each taking 10 µs to half a millisecond of CPU on the
// serving core, and the requests they landed on made a good part of the
// gateway's p99 at concurrency 1.
//
// The gate lets an idle tick skip the claim when nothing can have become
// visible since the last empty claim:
//   - no process committed to the file (its size and modification time, and
//     its WAL's, are unchanged), and
//   - the earliest visible_at in the table (a lease or a retry backoff
//     running out) has not been reached.
//
// Jobs enqueued in this process wake the consumers directly, as before.

// staleStamp is how recent a file's modification time may be and still be
// trusted: a commit in the same clock tick as the stat could leave size and
// time unchanged (the WAL is rewritten in place after a checkpoint).
const staleStamp = 50 * time.Millisecond

// fullClaimEvery bounds how long the gate may skip claims in a row.
const fullClaimEvery = 5 * time.Second

type fileStamp struct {
	size  int64
	mtime time.Time
	ok    bool
}

type idleGate struct {
	files [2]string

	mu     sync.Mutex
	valid  bool // stamps and next describe the table after an empty claim
	stamps [2]fileStamp
	next   time.Time // earliest visible_at; zero when the table is empty
	since  time.Time // when the state was recorded
}

func newIdleGate(path string) *idleGate {
	return &idleGate{files: [2]string{path, path + "-wal"}}
}

func (g *idleGate) stat() (s [2]fileStamp) {
	for i, f := range g.files {
		if fi, err := os.Stat(f); err == nil {
			s[i] = fileStamp{size: fi.Size(), mtime: fi.ModTime(), ok: true}
		}
	}
	return s
}

// skip reports whether an idle tick at now can skip its claim.
func (g *idleGate) skip(now time.Time) bool {
	g.mu.Lock()
	valid, stamps, next, since := g.valid, g.stamps, g.next, g.since
	g.mu.Unlock()
	switch {
	case !valid, now.Sub(since) >= fullClaimEvery:
		return false
	case !next.IsZero() && !now.Before(next):
		return false
	}
	return g.stat() == stamps
}

// invalidate makes the next tick claim.
func (g *idleGate) invalidate() {
	g.mu.Lock()
	g.valid = false
	g.mu.Unlock()
}

// recordEmpty is called after a claim found nothing: it stamps the files,
// then reads the earliest visible_at, so that a commit after the stamp
// shows as a change and one before it is in the minimum.
func (g *idleGate) recordEmpty(ctx context.Context, db *sql.DB) {
	now := time.Now()
	stamps := g.stat()
	for _, s := range stamps {
		if s.ok && now.Sub(s.mtime) < staleStamp {
			g.invalidate()
			return
		}
	}
	var minVisible sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT MIN(visible_at) FROM ingest_jobs`).Scan(&minVisible); err != nil {
		g.invalidate()
		return
	}
	var next time.Time
	if minVisible.Valid {
		next = time.UnixMilli(minVisible.Int64)
	}
	g.mu.Lock()
	g.valid, g.stamps, g.next, g.since = true, stamps, next, now
	g.mu.Unlock()
}
