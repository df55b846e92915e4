package resilience

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm"
)

var (
	errDown   = fmt.Errorf("dial: %w", llm.ErrUnavailable)
	err503    = &llm.UpstreamError{Status: http.StatusServiceUnavailable}
	err400    = &llm.UpstreamError{Status: http.StatusBadRequest, Message: "bad"}
	errBadArg = llm.InvalidRequest("temperature", "temperature: out of range")

	err429Long = &llm.UpstreamError{Status: http.StatusTooManyRequests, RetryAfter: time.Minute}
)

var fastRetry = Retry{Attempts: 3, InitialBackoff: time.Microsecond, MaxBackoff: 10 * time.Microsecond}

func TestGenerateRetries(t *testing.T) {
	tests := []struct {
		name     string
		retry    Retry
		steps    []step
		wantErr  error
		calls    int
		attempts []int
	}{
		{name: "success first", retry: fastRetry, calls: 1},
		{name: "retryable then success", retry: fastRetry, steps: []step{{err: errDown}, {err: err503}}, calls: 3, attempts: []int{2, 3}},
		{name: "exhausted", retry: fastRetry, steps: []step{{err: errDown}, {err: errDown}, {err: err503}}, wantErr: err503, calls: 3, attempts: []int{2, 3}},
		{name: "single attempt", retry: Retry{Attempts: 1}, steps: []step{{err: errDown}}, wantErr: llm.ErrUnavailable, calls: 1},
		{name: "zero attempts means one", retry: Retry{}, steps: []step{{err: errDown}}, wantErr: llm.ErrUnavailable, calls: 1},
		{name: "invalid request not retried", retry: fastRetry, steps: []step{{err: errBadArg}}, wantErr: llm.ErrInvalidRequest, calls: 1},
		{name: "client error status not retried", retry: fastRetry, steps: []step{{err: err400}}, wantErr: err400, calls: 1},
		{name: "cancellation not retried", retry: fastRetry, steps: []step{{err: context.Canceled}}, wantErr: context.Canceled, calls: 1},
		{name: "timeout retried", retry: fastRetry, steps: []step{{err: llm.ErrTimeout}}, calls: 2, attempts: []int{2}},
		{name: "bad upstream retried", retry: fastRetry, steps: []step{{err: llm.ErrBadUpstream}}, calls: 2, attempts: []int{2}},
		{
			name:    "retry-after beyond max backoff stops",
			retry:   fastRetry,
			steps:   []step{{err: err429Long}},
			wantErr: err429Long, calls: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeBackend{steps: tt.steps}
			rec := &recorder{}
			tg := New(f, "t", tt.retry, Breaker{}, rec)
			resp, err := tg.Generate(t.Context(), &llm.Request{})
			if tt.wantErr == nil {
				require.NoError(t, err)
				require.Equal(t, "ok", string(resp.Body))
			} else {
				require.ErrorIs(t, err, tt.wantErr)
				require.Nil(t, resp)
			}
			require.Equal(t, tt.calls, f.Calls())
			require.Equal(t, tt.attempts, rec.Attempts())
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	const wait = 30 * time.Millisecond
	f := &fakeBackend{steps: []step{{err: &llm.UpstreamError{Status: http.StatusTooManyRequests, RetryAfter: wait}}}}
	tg := New(f, "t", Retry{Attempts: 2, InitialBackoff: time.Microsecond, MaxBackoff: time.Second}, Breaker{}, nil)
	start := time.Now()
	_, err := tg.Generate(t.Context(), &llm.Request{})
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), wait)
	require.Equal(t, 2, f.Calls())
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f := &fakeBackend{steps: []step{{err: errDown}}}
	rec := &recorder{onRetry: cancel}
	tg := New(f, "t", Retry{Attempts: 5, InitialBackoff: time.Hour, MaxBackoff: time.Hour}, Breaker{}, rec)
	_, err := tg.Embed(ctx, &llm.EmbedRequest{Input: []string{"x"}})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 1, f.Calls())
}

func TestEmbedRetriedModelsPassThrough(t *testing.T) {
	f := &fakeBackend{steps: []step{{err: errDown}}}
	tg := New(f, "t", fastRetry, Breaker{}, nil)
	resp, err := tg.Embed(t.Context(), &llm.EmbedRequest{Input: []string{"a", "b"}})
	require.NoError(t, err)
	require.Len(t, resp.Vectors, 2)
	require.Equal(t, 2, f.Calls())

	ms, err := tg.Models(t.Context())
	require.NoError(t, err)
	require.Equal(t, []llm.Model{{ID: "m"}}, ms)
	require.Equal(t, 3, f.Calls())
}

func TestFullJitterBounds(t *testing.T) {
	tests := []struct {
		initial, max time.Duration
		attempt      int
		ceil         time.Duration
	}{
		{initial: 100, max: 1000, attempt: 1, ceil: 100},
		{initial: 100, max: 1000, attempt: 2, ceil: 200},
		{initial: 100, max: 1000, attempt: 4, ceil: 800},
		{initial: 100, max: 1000, attempt: 5, ceil: 1000},
		{initial: 100, max: 1000, attempt: 60, ceil: 1000},
		{initial: time.Duration(1) << 62, max: time.Duration(1<<63 - 1), attempt: 10, ceil: time.Duration(1<<63 - 1)},
		{initial: 0, max: 0, attempt: 3, ceil: 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.initial, tt.max, tt.attempt), func(t *testing.T) {
			var sawUpperHalf bool
			for range 200 {
				d := fullJitter(tt.initial, tt.max, tt.attempt)
				require.GreaterOrEqual(t, d, time.Duration(0))
				require.LessOrEqual(t, d, tt.ceil)
				sawUpperHalf = sawUpperHalf || d >= tt.ceil/2
			}
			require.True(t, sawUpperHalf, "jitter never reached the upper half of [0, %v]", tt.ceil)
		})
	}
}

func TestStreamRetriedBeforeOutput(t *testing.T) {
	f := &fakeBackend{steps: []step{
		{err: errDown},
		{firstErr: fmt.Errorf("read: %w", llm.ErrTimeout)},
		{chunks: []string{"x", "y", "z"}},
	}}
	rec := &recorder{}
	tg := New(f, "t", Retry{Attempts: 3, InitialBackoff: time.Microsecond, MaxBackoff: time.Microsecond}, Breaker{}, rec)
	s, err := tg.GenerateStream(t.Context(), &llm.Request{Stream: true})
	require.NoError(t, err)
	got, err := readAll(s)
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, []string{"x", "y", "z"}, got)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	require.Equal(t, 3, f.Calls())
	require.Equal(t, 2, f.Closed(), "the failed stream and the finished one are closed")
	require.Equal(t, []int{2, 3}, rec.Attempts())
}

func TestStreamNotRetriedAfterOutput(t *testing.T) {
	f := &fakeBackend{steps: []step{{chunks: []string{"x"}, tailErr: errDown}}}
	tg := New(f, "t", fastRetry, Breaker{}, nil)
	s, err := tg.GenerateStream(t.Context(), &llm.Request{Stream: true})
	require.NoError(t, err)
	got, err := readAll(s)
	require.ErrorIs(t, err, llm.ErrUnavailable)
	require.Equal(t, []string{"x"}, got)
	require.NoError(t, s.Close())
	require.Equal(t, 1, f.Calls())
}

func TestStreamFirstRecvFatal(t *testing.T) {
	tests := []struct {
		name    string
		step    step
		wantErr error
	}{
		{name: "invalid", step: step{firstErr: errBadArg}, wantErr: llm.ErrInvalidRequest},
		{name: "exhausted", step: step{firstErr: errDown}, wantErr: llm.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps := []step{tt.step, tt.step}
			f := &fakeBackend{steps: steps}
			tg := New(f, "t", Retry{Attempts: 2, InitialBackoff: time.Microsecond, MaxBackoff: time.Microsecond}, Breaker{}, nil)
			s, err := tg.GenerateStream(t.Context(), &llm.Request{Stream: true})
			require.ErrorIs(t, err, tt.wantErr)
			require.Nil(t, s)
			require.Equal(t, f.Calls(), f.Closed(), "every failed stream is closed")
		})
	}
}

func TestStreamEmpty(t *testing.T) {
	f := &fakeBackend{steps: []step{{}}}
	tg := New(f, "t", fastRetry, Breaker{Failures: 1, OpenFor: time.Hour}, nil)
	s, err := tg.GenerateStream(t.Context(), &llm.Request{Stream: true})
	require.NoError(t, err)
	got, err := readAll(s)
	require.ErrorIs(t, err, io.EOF)
	require.Empty(t, got)
	require.NoError(t, s.Close())
	require.Equal(t, "closed", tg.BreakerState())
}
