// Package queuetest is the conformance suite every ingest.Queue must pass.
package queuetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/ingest"
)

// Opener opens a queue over the backing store its test was given. Every call
// returns a new instance (as another process would open) over the same jobs;
// the Opener closes it when the test ends, and Close may also be called
// earlier.
type Opener func(t *testing.T) ingest.Queue

// Wait bounds every wait of the suite. Queues under test must use a lease of
// at most a second and a retry backoff of at most a second.
const Wait = 15 * time.Second

// quiet is how long the suite watches for deliveries that must not happen.
const quiet = 1500 * time.Millisecond

// Run runs the suite. newStore returns an Opener over fresh, empty backing
// storage.
func Run(t *testing.T, newStore func(t *testing.T) Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"DeliverAndAck", testDeliverAndAck},
		{"FailureRedelivers", testFailureRedelivers},
		{"DeadWorkerLeaseExpires", testDeadWorker},
		{"LongHandlerKeepsLease", testLongHandler},
		{"DurableAcrossReopen", testDurable},
		{"ManyJobsManyConsumers", testManyJobs},
		{"ConsumeStopsOnCancel", testStops},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

func job(i int) ingest.Job {
	return ingest.Job{ID: fmt.Sprintf("job-%d", i), Tenant: "t1", Collection: "vs_1", FileID: fmt.Sprintf("file-%d", i)}
}

// consumer runs q.Consume until the test ends or stop is called.
type consumer struct {
	cancel context.CancelFunc
	done   chan error
}

func consume(t *testing.T, q ingest.Queue, handle func(context.Context, ingest.Job) error) *consumer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &consumer{cancel: cancel, done: make(chan error, 1)}
	go func() { c.done <- q.Consume(ctx, handle) }()
	t.Cleanup(func() { c.stop(t) })
	return c
}

// stop cancels the consumer and waits for Consume to return.
func (c *consumer) stop(t *testing.T) {
	t.Helper()
	c.cancel()
	select {
	case err, ok := <-c.done:
		if ok {
			require.NoError(t, err, "Consume after its context ended")
			close(c.done)
		}
	case <-time.After(Wait):
		t.Fatal("Consume did not return after its context was cancelled")
	}
}

// recorder counts deliveries per job ID.
type recorder struct {
	mu   sync.Mutex
	seen map[string]int
	jobs map[string]ingest.Job
}

func newRecorder() *recorder {
	return &recorder{seen: map[string]int{}, jobs: map[string]ingest.Job{}}
}

func (r *recorder) add(j ingest.Job) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen[j.ID]++
	r.jobs[j.ID] = j
	return r.seen[j.ID]
}

func (r *recorder) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[id]
}

func (r *recorder) total() (distinct, deliveries int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.seen {
		deliveries += n
	}
	return len(r.seen), deliveries
}

func testDeliverAndAck(t *testing.T, open Opener) {
	q := open(t)
	want := job(1)
	require.NoError(t, q.Enqueue(context.Background(), want))
	rec := newRecorder()
	consume(t, q, func(_ context.Context, j ingest.Job) error { rec.add(j); return nil })
	require.Eventually(t, func() bool { return rec.count(want.ID) == 1 }, Wait, 10*time.Millisecond)
	rec.mu.Lock()
	require.Equal(t, want, rec.jobs[want.ID])
	rec.mu.Unlock()
	require.Never(t, func() bool { return rec.count(want.ID) > 1 }, quiet, 50*time.Millisecond, "an acked job came back")
}

func testFailureRedelivers(t *testing.T, open Opener) {
	q := open(t)
	require.NoError(t, q.Enqueue(context.Background(), job(1)))
	rec := newRecorder()
	consume(t, q, func(_ context.Context, j ingest.Job) error {
		if rec.add(j) < 3 {
			return errors.New("transient failure")
		}
		return nil
	})
	require.Eventually(t, func() bool { return rec.count("job-1") == 3 }, Wait, 10*time.Millisecond)
	require.Never(t, func() bool { return rec.count("job-1") > 3 }, quiet, 50*time.Millisecond, "a job that succeeded came back")
}

func testDeadWorker(t *testing.T, open Opener) {
	q1, q2 := open(t), open(t)
	require.NoError(t, q1.Enqueue(context.Background(), job(1)))
	started := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	// The first worker hangs: it ignores its context, as a wedged or
	// killed process would, and never acknowledges in time.
	dead := consume(t, q1, func(context.Context, ingest.Job) error {
		once.Do(func() { close(started) })
		<-release
		return nil
	})
	select {
	case <-started:
	case <-time.After(Wait):
		t.Fatal("the first consumer was never given the job")
	}
	dead.cancel()

	rec := newRecorder()
	consume(t, q2, func(_ context.Context, j ingest.Job) error { rec.add(j); return nil })
	require.Eventually(t, func() bool { return rec.count("job-1") == 1 }, Wait, 10*time.Millisecond,
		"the job of a dead consumer must go to another after the lease")
	// The stale worker finishing late must not disturb anything.
	close(release)
	dead.stop(t)
	require.Never(t, func() bool { return rec.count("job-1") > 1 }, quiet, 50*time.Millisecond)
}

func testLongHandler(t *testing.T, open Opener) {
	q1, q2 := open(t), open(t)
	require.NoError(t, q1.Enqueue(context.Background(), job(1)))
	rec := newRecorder()
	handle := func(ctx context.Context, j ingest.Job) error {
		if rec.add(j) == 1 {
			// Longer than any lease the suite allows: a live consumer
			// must keep its lease.
			select {
			case <-time.After(2500 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	consume(t, q1, handle)
	consume(t, q2, handle)
	require.Eventually(t, func() bool { return rec.count("job-1") == 1 }, Wait, 10*time.Millisecond)
	require.Never(t, func() bool { return rec.count("job-1") > 1 }, 3*time.Second, 50*time.Millisecond,
		"a job whose handler is still running was delivered again")
}

func testDurable(t *testing.T, open Opener) {
	q1 := open(t)
	for i := range 5 {
		require.NoError(t, q1.Enqueue(context.Background(), job(i)))
	}
	require.NoError(t, q1.Close())
	q2 := open(t)
	rec := newRecorder()
	consume(t, q2, func(_ context.Context, j ingest.Job) error { rec.add(j); return nil })
	require.Eventually(t, func() bool { d, n := rec.total(); return d == 5 && n == 5 }, Wait, 10*time.Millisecond)
	for i := range 5 {
		require.Equal(t, 1, rec.count(job(i).ID))
	}
}

func testManyJobs(t *testing.T, open Opener) {
	const n = 200
	qs := []ingest.Queue{open(t), open(t)}
	rec := newRecorder()
	var inFlight, most atomic.Int64
	together := make(chan struct{})
	var once sync.Once
	handle := func(ctx context.Context, j ingest.Job) error {
		cur := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if cur <= m || most.CompareAndSwap(m, cur) {
				break
			}
		}
		if cur >= 2 {
			once.Do(func() { close(together) })
		}
		// Until two handlers have overlapped, each waits a while for
		// company, so the check below does not depend on timing.
		select {
		case <-together:
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
		rec.add(j)
		return nil
	}
	for _, q := range qs {
		consume(t, q, handle)
		consume(t, q, handle)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- qs[i%2].Enqueue(context.Background(), job(i))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { d, _ := rec.total(); return d == n }, Wait, 10*time.Millisecond)
	require.Never(t, func() bool { _, d := rec.total(); return d > n }, quiet, 50*time.Millisecond,
		"a job was delivered twice")
	for i := range n {
		require.Equal(t, 1, rec.count(job(i).ID), job(i).ID)
	}
	require.Greater(t, most.Load(), int64(1), "consumers never ran concurrently")
}

func testStops(t *testing.T, open Opener) {
	q := open(t)
	require.NoError(t, q.Enqueue(context.Background(), job(1)))
	started := make(chan struct{})
	var handlerErr atomic.Value
	c := consume(t, q, func(ctx context.Context, _ ingest.Job) error {
		close(started)
		<-ctx.Done()
		handlerErr.Store(ctx.Err())
		return ctx.Err()
	})
	select {
	case <-started:
	case <-time.After(Wait):
		t.Fatal("the job was never delivered")
	}
	c.stop(t)
	require.ErrorIs(t, handlerErr.Load().(error), context.Canceled, "the handler's context must end with Consume")
	// The job was not acknowledged: another consumer gets it.
	rec := newRecorder()
	consume(t, q, func(_ context.Context, j ingest.Job) error { rec.add(j); return nil })
	require.Eventually(t, func() bool { return rec.count("job-1") == 1 }, Wait, 10*time.Millisecond)
}
