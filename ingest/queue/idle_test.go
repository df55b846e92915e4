package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/ingest"
)

func idleConfig(path string) Config {
	return Config{Path: path, Lease: 300 * time.Millisecond, PollInterval: 5 * time.Millisecond, Workers: 2,
		RetryInitial: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond}
}

func openIdle(t *testing.T, path string) *Queue {
	t.Helper()
	q, err := Open(context.Background(), idleConfig(path))
	require.NoError(t, err)
	t.Cleanup(func() { _ = q.Close() })
	return q
}

// consume runs q's consumers until the test ends and sends each job's ID.
func consume(t *testing.T, q *Queue) <-chan string {
	t.Helper()
	got := make(chan string, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = q.Consume(ctx, func(_ context.Context, j ingest.Job) error {
			got <- j.ID
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return got
}

func waitJob(t *testing.T, got <-chan string, id string, within time.Duration) {
	t.Helper()
	select {
	case g := <-got:
		require.Equal(t, id, g)
	case <-time.After(within):
		t.Fatalf("job %s not handled within %s", id, within)
	}
}

// TestIdleConsumersSkipClaims: idle consumers polling every 5 ms must not
// run a claim statement at every tick (two workers would run about 120 in
// 300 ms).
func TestIdleConsumersSkipClaims(t *testing.T) {
	q := openIdle(t, filepath.Join(t.TempDir(), "q.db"))
	time.Sleep(2 * staleStamp) // the schema's commit is no longer recent
	consume(t, q)
	time.Sleep(100 * time.Millisecond)
	before := q.claims.Load()
	time.Sleep(300 * time.Millisecond)
	n := q.claims.Load() - before
	t.Logf("claims in 300 ms of idle polling every 5 ms with 2 workers: %d", n)
	assert.Less(t, n, int64(10))
}

// TestIdleConsumersSeeOtherProcesses: a job enqueued through another
// handle on the file (another process) is taken by idle consumers soon.
func TestIdleConsumersSeeOtherProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	q := openIdle(t, path)
	other := openIdle(t, path)
	got := consume(t, q)
	for i, id := range []string{"a", "b", "c"} {
		time.Sleep(time.Duration(i*60) * time.Millisecond) // idle, with a gate recorded
		require.NoError(t, other.Enqueue(context.Background(), ingest.Job{ID: id}))
		waitJob(t, got, id, time.Second)
	}
}

// TestIdleConsumersWaitForLeases: a job leased by a consumer that died is
// taken when its lease runs out, with no commit to signal it.
func TestIdleConsumersWaitForLeases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	q := openIdle(t, path)
	other := openIdle(t, path)
	require.NoError(t, other.Enqueue(context.Background(), ingest.Job{ID: "orphan"}))
	l, err := other.claim(context.Background()) // taken, never renewed nor acknowledged
	require.NoError(t, err)
	require.NotNil(t, l)
	start := time.Now()
	got := consume(t, q)
	waitJob(t, got, "orphan", 2*time.Second)
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond, "not before the lease ran out")
}

func TestIdleGateSkip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	q := openIdle(t, path)
	g := q.idle
	now := time.Now()
	assert.False(t, g.skip(now), "nothing recorded yet")
	time.Sleep(2 * staleStamp)
	g.recordEmpty(context.Background(), q.db)
	assert.True(t, g.skip(time.Now()), "empty table, files unchanged")
	assert.False(t, g.skip(time.Now().Add(fullClaimEvery)), "a full claim every so often")
	require.NoError(t, q.Enqueue(context.Background(), ingest.Job{ID: "x"}))
	assert.False(t, g.skip(time.Now()), "a commit changed the file")

	// A job visible later: skipped until then.
	_, err := q.db.Exec(`UPDATE ingest_jobs SET visible_at = ?`, time.Now().Add(time.Hour).UnixMilli())
	require.NoError(t, err)
	time.Sleep(2 * staleStamp)
	g.recordEmpty(context.Background(), q.db)
	assert.True(t, g.skip(time.Now()))
	assert.False(t, g.skip(time.Now().Add(time.Hour)), "the job's visible_at is reached")
	g.invalidate()
	assert.False(t, g.skip(time.Now()))
}
