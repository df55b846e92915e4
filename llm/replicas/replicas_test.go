package replicas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/resilience"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errRefused = fmt.Errorf("dial tcp: connection refused: %w", llm.ErrUnavailable)

// fake is one replica; err is returned by every call while set.
type fake struct {
	name     string
	calls    atomic.Int64
	err      atomic.Pointer[error]
	closeErr error
	closed   atomic.Bool
	release  chan struct{} // when set, Generate waits for it
}

func (f *fake) setErr(err error) {
	if err == nil {
		f.err.Store(nil)
		return
	}
	f.err.Store(&err)
}

func (f *fake) call() error {
	f.calls.Add(1)
	if e := f.err.Load(); e != nil {
		return *e
	}
	return nil
}

func (f *fake) Generate(ctx context.Context, _ *llm.Request) (*llm.Response, error) {
	if err := f.call(); err != nil {
		return nil, err
	}
	if f.release != nil {
		select {
		case <-f.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &llm.Response{Model: f.name}, nil
}

func (f *fake) GenerateStream(context.Context, *llm.Request) (llm.Stream, error) {
	if err := f.call(); err != nil {
		return nil, err
	}
	return &fakeStream{f: f}, nil
}

func (f *fake) Embed(context.Context, *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	if err := f.call(); err != nil {
		return nil, err
	}
	return &llm.EmbedResponse{Model: f.name}, nil
}

func (f *fake) Models(context.Context) ([]llm.Model, error) {
	if err := f.call(); err != nil {
		return nil, err
	}
	return []llm.Model{{ID: f.name}}, nil
}

func (f *fake) Close() error {
	f.closed.Store(true)
	return f.closeErr
}

// fakeStream sends its replica's name once, then fails with tailErr or ends.
type fakeStream struct {
	f       *fake
	sent    bool
	tailErr error
}

func (s *fakeStream) Recv() (llm.Chunk, error) {
	if !s.sent {
		s.sent = true
		return llm.Chunk{Data: []byte(s.f.name)}, nil
	}
	if s.tailErr != nil {
		return llm.Chunk{}, s.tailErr
	}
	return llm.Chunk{}, io.EOF
}

func (s *fakeStream) Close() error { return nil }

// newPool returns a pool over n fakes named r0, r1, ... and a clock the test
// moves by hand.
func newPool(n int, opts Options) (*Pool, []*fake, *atomic.Int64) {
	fakes := make([]*fake, n)
	reps := make([]Replica, n)
	for i := range fakes {
		fakes[i] = &fake{name: fmt.Sprintf("r%d", i)}
		reps[i] = Replica{URL: "http://" + fakes[i].name, Backend: fakes[i]}
	}
	p := New(reps, opts)
	clock := &atomic.Int64{}
	clock.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	p.now = clock.Load
	return p, fakes, clock
}

func generateOn(t *testing.T, p *Pool) (string, error) {
	t.Helper()
	resp, err := p.Generate(t.Context(), &llm.Request{})
	if err != nil {
		return "", err
	}
	return resp.Model, nil
}

func TestRoundRobinOnTies(t *testing.T) {
	p, fakes, _ := newPool(3, Options{})
	for range 30 {
		_, err := generateOn(t, p)
		require.NoError(t, err)
	}
	for _, f := range fakes {
		require.Equal(t, int64(10), f.calls.Load(), f.name)
	}
	require.Zero(t, p.Outstanding())
}

func TestLeastOutstanding(t *testing.T) {
	p, _, _ := newPool(3, Options{})
	ctx := t.Context()
	open := map[string][]llm.Stream{}
	for range 6 {
		s, err := p.GenerateStream(ctx, &llm.Request{Stream: true})
		require.NoError(t, err)
		c, err := s.Recv()
		require.NoError(t, err)
		open[string(c.Data)] = append(open[string(c.Data)], s)
	}
	for _, name := range []string{"r0", "r1", "r2"} {
		require.Len(t, open[name], 2, name)
	}
	require.Equal(t, 6, p.Outstanding())

	// Free one slot on r1: every new call goes there until it catches up.
	require.NoError(t, open["r1"][0].Close())
	require.NoError(t, open["r1"][0].Close(), "closing twice releases once")
	require.Equal(t, 5, p.Outstanding())
	s, err := p.GenerateStream(ctx, &llm.Request{Stream: true})
	require.NoError(t, err)
	c, err := s.Recv()
	require.NoError(t, err)
	require.Equal(t, "r1", string(c.Data))

	// A stream that ends is no longer outstanding, even before Close.
	_, err = s.Recv()
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, 5, p.Outstanding())
	require.NoError(t, s.Close())
	require.Equal(t, 5, p.Outstanding())

	name, err := generateOn(t, p)
	require.NoError(t, err)
	require.Equal(t, "r1", name)

	for _, ss := range open {
		for _, s := range ss {
			require.NoError(t, s.Close())
		}
	}
	require.Zero(t, p.Outstanding())
	for _, st := range p.Status() {
		require.Zero(t, st.Outstanding, st.URL)
	}
}

func TestEjection(t *testing.T) {
	const base = time.Second
	p, fakes, clock := newPool(3, Options{BaseEjection: base, MaxEjection: 3 * base})
	advance := func(d time.Duration) { clock.Add(int64(d)) }
	down := fakes[0]
	down.setErr(errRefused)

	// Rotation reaches r0 within three calls; then it is ejected.
	var failures int
	for range 3 {
		if _, err := generateOn(t, p); err != nil {
			require.ErrorIs(t, err, llm.ErrUnavailable)
			failures++
		}
	}
	require.Equal(t, 1, failures)
	require.Equal(t, 2, p.Healthy())
	require.Equal(t, base, p.Status()[0].EjectedFor)
	require.False(t, p.Status()[0].Healthy)

	for range 20 {
		_, err := generateOn(t, p)
		require.NoError(t, err)
	}
	require.Equal(t, int64(1), down.calls.Load(), "an ejected replica gets no calls")

	// Re-admitted after the period; failing again doubles the period, capped.
	for _, want := range []time.Duration{2 * base, 3 * base, 3 * base} {
		advance(p.Status()[0].EjectedFor)
		require.Equal(t, 3, p.Healthy())
		calls := down.calls.Load()
		for down.calls.Load() == calls {
			_, _ = generateOn(t, p)
		}
		require.Equal(t, want, p.Status()[0].EjectedFor)
	}

	// A success resets the period.
	advance(3 * base)
	down.setErr(nil)
	for range 3 {
		_, err := generateOn(t, p)
		require.NoError(t, err)
	}
	down.setErr(errRefused)
	for p.Healthy() == 3 {
		_, _ = generateOn(t, p)
	}
	require.Equal(t, base, p.Status()[0].EjectedFor)
}

func TestInFlightFailuresDoNotLengthenEjection(t *testing.T) {
	p, _, _ := newPool(2, Options{BaseEjection: time.Second, MaxEjection: time.Minute})
	r := p.replicas[0]
	for range 5 {
		p.observe(context.Background(), r, errRefused)
	}
	require.Equal(t, int32(1), r.failures.Load())
	require.Equal(t, time.Second, p.Status()[0].EjectedFor)
}

func TestOnlyUnavailableEjects(t *testing.T) {
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
	}{
		{name: "server error", ctx: t.Context(), err: &llm.UpstreamError{Status: http.StatusInternalServerError}},
		{name: "rate limited", ctx: t.Context(), err: &llm.UpstreamError{Status: http.StatusTooManyRequests}},
		{name: "invalid", ctx: t.Context(), err: llm.InvalidRequest("x", "bad x")},
		{name: "timeout", ctx: t.Context(), err: llm.ErrTimeout},
		{name: "client gone", ctx: cancelled, err: errRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, fakes, _ := newPool(2, Options{})
			for _, f := range fakes {
				f.setErr(tt.err)
			}
			for range 4 {
				_, err := p.Embed(tt.ctx, &llm.EmbedRequest{})
				require.ErrorIs(t, err, tt.err)
			}
			require.Equal(t, 2, p.Healthy())
		})
	}
}

func TestAllEjectedUsesSoonest(t *testing.T) {
	p, fakes, clock := newPool(3, Options{BaseEjection: time.Second, MaxEjection: time.Minute})
	now := clock.Load()
	p.replicas[0].ejectedUntil.Store(now + int64(3*time.Second))
	p.replicas[1].ejectedUntil.Store(now + int64(time.Second))
	p.replicas[2].ejectedUntil.Store(now + int64(2*time.Second))
	require.Zero(t, p.Healthy())
	for range 5 {
		models, err := p.Models(t.Context())
		require.NoError(t, err)
		require.Equal(t, "r1", models[0].ID)
	}
	require.Equal(t, int64(5), fakes[1].calls.Load())
	require.Equal(t, 1, p.Healthy(), "the success re-admitted r1")
	require.True(t, p.Status()[1].Healthy)
}

func TestStreamFailureEjects(t *testing.T) {
	p, fakes, _ := newPool(1, Options{})
	s, err := p.GenerateStream(t.Context(), &llm.Request{Stream: true})
	require.NoError(t, err)
	s.(*stream).inner.(*fakeStream).tailErr = errRefused
	_, err = s.Recv()
	require.NoError(t, err)
	_, err = s.Recv()
	require.ErrorIs(t, err, llm.ErrUnavailable)
	require.Zero(t, p.Outstanding())
	require.Zero(t, p.Healthy())
	require.NoError(t, s.Close())
	require.Zero(t, p.Outstanding())

	fakes[0].setErr(errRefused)
	_, err = p.GenerateStream(t.Context(), &llm.Request{Stream: true})
	require.ErrorIs(t, err, llm.ErrUnavailable)
	require.Zero(t, p.Outstanding())
}

func TestEmptyPool(t *testing.T) {
	p := New(nil, Options{})
	_, err := p.Generate(t.Context(), &llm.Request{})
	require.ErrorIs(t, err, llm.ErrUnavailable)
	_, err = p.GenerateStream(t.Context(), &llm.Request{})
	require.ErrorIs(t, err, llm.ErrUnavailable)
	_, err = p.Embed(t.Context(), &llm.EmbedRequest{})
	require.ErrorIs(t, err, llm.ErrUnavailable)
	_, err = p.Models(t.Context())
	require.ErrorIs(t, err, llm.ErrUnavailable)
	require.Zero(t, p.Healthy())
	require.NoError(t, p.Close())
}

func TestClose(t *testing.T) {
	p, fakes, _ := newPool(3, Options{})
	boom := errors.New("boom")
	fakes[1].closeErr = boom
	err := p.Close()
	require.ErrorIs(t, err, boom)
	require.Contains(t, err.Error(), "http://r1")
	for _, f := range fakes {
		require.True(t, f.closed.Load(), f.name)
	}

	var plain plainCloser
	require.NoError(t, New([]Replica{{URL: "http://plain", Backend: &plain}}, Options{}).Close())
	require.True(t, plain.closed)
}

// plainCloser has a Close without an error result.
type plainCloser struct {
	fake
	closed bool
}

func (p *plainCloser) Close() { p.closed = true }

func TestConcurrentCallsBalance(t *testing.T) {
	p, fakes, _ := newPool(4, Options{})
	release := make(chan struct{})
	for _, f := range fakes {
		f.release = release
	}
	const callers = 40
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			_, err := p.Generate(context.Background(), &llm.Request{})
			assert.NoError(t, err)
		})
	}
	require.Eventually(t, func() bool { return p.Outstanding() == callers }, 10*time.Second, time.Millisecond)
	for _, st := range p.Status() {
		require.Equal(t, callers/len(fakes), st.Outstanding, st.URL)
	}
	close(release)
	wg.Wait()
	require.Zero(t, p.Outstanding())
}

// A retry wrapper around the pool moves to another replica: the replica that
// refused the connection is ejected before the retry picks again.
func TestRetryMovesToAnotherReplica(t *testing.T) {
	p, fakes, _ := newPool(3, Options{BaseEjection: time.Hour, MaxEjection: time.Hour})
	p.now = unixNano
	fakes[1].setErr(errRefused)
	tg := resilience.New(p, "pool", resilience.Retry{Attempts: 2, InitialBackoff: time.Microsecond, MaxBackoff: time.Microsecond},
		resilience.Breaker{Failures: 5, OpenFor: time.Hour}, nil)
	for range 30 {
		resp, err := tg.Generate(t.Context(), &llm.Request{})
		require.NoError(t, err)
		require.NotEqual(t, "r1", resp.Model)
	}
	require.Equal(t, int64(1), fakes[1].calls.Load())
	require.Equal(t, int64(30), fakes[0].calls.Load()+fakes[2].calls.Load())
	require.Equal(t, "closed", tg.BreakerState())
	require.Equal(t, 2, p.Healthy())
}

func BenchmarkGenerate(b *testing.B) {
	p, _, _ := newPool(4, Options{})
	p.now = unixNano
	req := &llm.Request{}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Generate(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
