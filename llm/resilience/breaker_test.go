package resilience

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm"
)

func generate(t *testing.T, tg *Target) error {
	t.Helper()
	_, err := tg.Generate(t.Context(), &llm.Request{})
	return err
}

func TestBreakerOpensAndRecovers(t *testing.T) {
	const openFor = 20 * time.Millisecond
	f := &fakeBackend{steps: []step{{err: errDown}, {err: err503}, {err: errDown}}}
	rec := &recorder{}
	tg := New(f, "gpu/llama", Retry{Attempts: 1}, Breaker{Failures: 3, OpenFor: openFor, HalfOpenRequests: 1}, rec)

	for range 3 {
		require.Error(t, generate(t, tg))
	}
	require.Equal(t, "open", tg.BreakerState())

	err := generate(t, tg)
	require.ErrorIs(t, err, llm.ErrUnavailable)
	require.Contains(t, err.Error(), "circuit open for gpu/llama")
	var oe *OpenError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "gpu/llama", oe.Target)
	require.Equal(t, 3, f.Calls(), "an open breaker does not call the backend")

	require.Eventually(t, func() bool { return tg.BreakerState() == "half-open" }, 5*time.Second, time.Millisecond)
	require.NoError(t, generate(t, tg))
	require.Equal(t, "closed", tg.BreakerState())
	require.Equal(t, []string{"closed->open", "open->half-open", "half-open->closed"}, rec.Changes())
}

func TestBreakerHalfOpenProbeFailureReopens(t *testing.T) {
	f := &fakeBackend{steps: []step{{err: errDown}, {err: errDown}}}
	rec := &recorder{}
	tg := New(f, "t", Retry{Attempts: 1}, Breaker{Failures: 1, OpenFor: 10 * time.Millisecond}, rec)
	require.Error(t, generate(t, tg))
	require.Eventually(t, func() bool { return tg.BreakerState() == "half-open" }, 5*time.Second, time.Millisecond)
	require.ErrorIs(t, generate(t, tg), llm.ErrUnavailable)
	require.Equal(t, "open", tg.BreakerState())
	require.Equal(t, []string{"closed->open", "open->half-open", "half-open->open"}, rec.Changes())
}

func TestBreakerIgnoresNonFailures(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var steps []step
	for range 4 {
		steps = append(steps, step{err: errBadArg}, step{err: context.Canceled}, step{err: errDown})
	}
	f := &fakeBackend{steps: steps}
	tg := New(f, "t", Retry{Attempts: 1}, Breaker{Failures: 2, OpenFor: time.Hour}, nil)
	for range 4 {
		require.ErrorIs(t, generate(t, tg), llm.ErrInvalidRequest)
		require.ErrorIs(t, generate(t, tg), context.Canceled)
		// The client is gone: even a retryable error does not count.
		_, err := tg.Generate(ctx, &llm.Request{})
		require.ErrorIs(t, err, llm.ErrUnavailable)
	}
	require.Equal(t, "closed", tg.BreakerState())
	require.Equal(t, 12, f.Calls())
}

func TestBreakerSuccessResetsCount(t *testing.T) {
	f := &fakeBackend{steps: []step{{err: errDown}, {}, {err: errDown}, {err: err400}, {err: errDown}, {err: errDown}}}
	tg := New(f, "t", Retry{Attempts: 1}, Breaker{Failures: 2, OpenFor: time.Hour}, nil)
	for range 5 {
		_ = generate(t, tg)
	}
	require.Equal(t, "closed", tg.BreakerState(), "a success or an upstream answer resets consecutive failures")
	require.Error(t, generate(t, tg), "one more failure")
	require.Equal(t, "open", tg.BreakerState())
}

func TestBreakerOpenIsNotRetried(t *testing.T) {
	f := &fakeBackend{steps: []step{{err: errDown}, {err: errDown}, {err: errDown}}}
	tg := New(f, "t", Retry{Attempts: 5, InitialBackoff: time.Microsecond, MaxBackoff: time.Microsecond}, Breaker{Failures: 2, OpenFor: time.Hour}, nil)
	err := generate(t, tg)
	var oe *OpenError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, 2, f.Calls())
}

func TestBreakerHalfOpenAdmitsOneProbe(t *testing.T) {
	block := make(chan struct{})
	f := &fakeBackend{steps: []step{{err: errDown}, {block: block, chunks: []string{"p"}}}}
	tg := New(f, "t", Retry{Attempts: 1}, Breaker{Failures: 1, OpenFor: 10 * time.Millisecond, HalfOpenRequests: 1}, nil)
	require.Error(t, generate(t, tg))
	require.Eventually(t, func() bool { return tg.BreakerState() == "half-open" }, 5*time.Second, time.Millisecond)

	type result struct {
		s   llm.Stream
		err error
	}
	probe := make(chan result, 1)
	go func() {
		s, err := tg.GenerateStream(context.Background(), &llm.Request{Stream: true})
		probe <- result{s, err}
	}()
	require.Eventually(t, func() bool { return f.Calls() == 2 }, 5*time.Second, time.Millisecond)

	err := generate(t, tg)
	var oe *OpenError
	require.ErrorAs(t, err, &oe)
	require.True(t, oe.HalfOpen)
	require.Contains(t, err.Error(), "half-open")

	close(block)
	r := <-probe
	require.NoError(t, r.err)
	require.Equal(t, "half-open", tg.BreakerState(), "the probe is done only when its stream ends")
	got, err := readAll(r.s)
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, []string{"p"}, got)
	require.Equal(t, "closed", tg.BreakerState())
	require.NoError(t, r.s.Close())
}

func TestStreamMidErrorCountsOnce(t *testing.T) {
	f := &fakeBackend{steps: []step{{chunks: []string{"x"}, tailErr: errDown}, {err: errDown}}}
	tg := New(f, "t", Retry{Attempts: 1}, Breaker{Failures: 2, OpenFor: time.Hour}, nil)
	s, err := tg.GenerateStream(t.Context(), &llm.Request{Stream: true})
	require.NoError(t, err)
	_, err = readAll(s)
	require.ErrorIs(t, err, llm.ErrUnavailable)
	_, err = s.Recv()
	require.ErrorIs(t, err, llm.ErrUnavailable)
	require.NoError(t, s.Close())
	require.Equal(t, "closed", tg.BreakerState(), "one failed stream is one failure")

	_, err = tg.GenerateStream(t.Context(), &llm.Request{Stream: true})
	require.ErrorIs(t, err, llm.ErrUnavailable)
	require.Equal(t, "open", tg.BreakerState())
}

func TestStreamClosedEarlyIsSuccess(t *testing.T) {
	f := &fakeBackend{steps: []step{{err: errDown}, {chunks: []string{"x", "y"}}, {err: errDown}}}
	tg := New(f, "t", Retry{Attempts: 1}, Breaker{Failures: 2, OpenFor: time.Hour}, nil)
	require.Error(t, generate(t, tg))
	s, err := tg.GenerateStream(t.Context(), &llm.Request{Stream: true})
	require.NoError(t, err)
	c, err := s.Recv()
	require.NoError(t, err)
	require.Equal(t, "x", string(c.Data))
	require.NoError(t, s.Close())
	require.Error(t, generate(t, tg))
	require.Equal(t, "closed", tg.BreakerState(), "the closed stream reset consecutive failures")
}
