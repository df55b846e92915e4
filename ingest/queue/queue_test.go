package queue_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/ingest"
	"github.com/ragway/ragway/ingest/queue"
	"github.com/ragway/ragway/ingest/queuetest"
)

// testConfig leases jobs for 1.5s: long enough that a loaded CI machine does
// not let a lease lapse between a handler's success and its acknowledgement
// (delivery is at least once), short enough for the dead-worker cases.
func testConfig(path string) queue.Config {
	return queue.Config{Path: path, Lease: 1500 * time.Millisecond, PollInterval: 20 * time.Millisecond,
		Workers: 3, RetryInitial: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond}
}

func TestConformance(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) queuetest.Opener {
		path := filepath.Join(t.TempDir(), "q.db")
		return func(t *testing.T) ingest.Queue {
			q, err := queue.Open(context.Background(), testConfig(path))
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, q.Close()) })
			return q
		}
	})
}

func TestDedupeAndLen(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(filepath.Join(t.TempDir(), "q.db"))
	cfg.Dedupe = true
	q, err := queue.Open(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, q.Close()) })
	j := ingest.Job{ID: "j1", FileID: "f"}
	require.NoError(t, q.Enqueue(ctx, j))
	require.NoError(t, q.Enqueue(ctx, j))
	require.NoError(t, q.Enqueue(ctx, ingest.Job{ID: "j2"}))
	n, err := q.Len(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n, "a waiting job is not enqueued twice")
}

func TestClosed(t *testing.T) {
	q, err := queue.Open(context.Background(), testConfig(filepath.Join(t.TempDir(), "q.db")))
	require.NoError(t, err)
	require.NoError(t, q.Close())
	require.NoError(t, q.Close())
	require.ErrorIs(t, q.Enqueue(context.Background(), ingest.Job{ID: "x"}), queue.ErrClosed)
	require.ErrorIs(t, q.Consume(context.Background(), func(context.Context, ingest.Job) error { return nil }), queue.ErrClosed)
}

func TestCloseStopsConsumers(t *testing.T) {
	q, err := queue.Open(context.Background(), testConfig(filepath.Join(t.TempDir(), "q.db")))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		done <- q.Consume(context.Background(), func(context.Context, ingest.Job) error { return nil })
	}()
	require.NoError(t, q.Close())
	select {
	case err := <-done:
		require.ErrorIs(t, err, queue.ErrClosed)
	case <-time.After(queuetest.Wait):
		t.Fatal("Consume did not return after Close")
	}
}
