package redislimit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ragway/ragway/policies"
	"github.com/ragway/ragway/policies/limits"
	"github.com/ragway/ragway/policies/limits/limitstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func redisConfig(t *testing.T, rules ...limits.Rule) limits.Config {
	addr := limitstest.RedisAddr(t)
	cfg := limits.Config{Store: limits.StoreRedis, CompletionReserve: -1, Rules: rules}
	cfg.Redis.Addr = addr
	cfg.Redis.KeyPrefix = limitstest.RedisPrefix(t, addr)
	return cfg.WithDefaults()
}

func newTestLimiter(t *testing.T, cfg limits.Config, clock *limitstest.Clock) limits.Limiter {
	addr := limitstest.RedisAddr(t)
	cfg.Store = limits.StoreRedis
	cfg.Redis.Addr = addr
	cfg.Redis.KeyPrefix = limitstest.RedisPrefix(t, addr)
	cfg = cfg.WithDefaults()
	l, err := New(cfg, limits.Options{Now: clock.Now})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	return l
}

func TestConformance(t *testing.T) { limitstest.Run(t, newTestLimiter) }

func TestConcurrencySlotsExpire(t *testing.T) {
	clock := limitstest.NewClock(limitstest.Start)
	cfg := redisConfig(t, limits.Rule{Scope: "key", Concurrency: 1})
	cfg.LeaseTTL = 5 * time.Second
	l := newTestLimiter(t, cfg, clock)
	_, err := l.Acquire(t.Context(), limits.Request{Key: "k"}) // never released: its process died
	require.NoError(t, err)
	_, err = l.Acquire(t.Context(), limits.Request{Key: "k"})
	limitstest.RequireLimited(t, err, "concurrency", "key")
	clock.Advance(4 * time.Second)
	_, err = l.Acquire(t.Context(), limits.Request{Key: "k"})
	limitstest.RequireLimited(t, err, "concurrency", "key")
	clock.Advance(2 * time.Second)
	_, err = l.Acquire(t.Context(), limits.Request{Key: "k"})
	require.NoError(t, err)
}

func TestRedisClock(t *testing.T) {
	cfg := redisConfig(t, limits.Rule{Scope: "key", RequestsPerMinute: 2, TokensPerMinute: 1000, Concurrency: 5, Budget: &limits.Budget{Tokens: 100, Period: "day"}})
	l, err := New(cfg, limits.Options{}) // no clock: the scripts use Redis TIME
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()
	lease, err := l.Acquire(t.Context(), limits.Request{Key: "k", PromptTokens: 10})
	require.NoError(t, err)
	require.Equal(t, int64(1), lease.Status().RemainingRequests)
	require.Equal(t, int64(90), lease.Status().RemainingTokens) // the budget is tighter than 990
	require.NoError(t, lease.Release(t.Context(), limits.Usage{PromptTokens: 10, CompletionTokens: 5}))
	lease, err = l.Acquire(t.Context(), limits.Request{Key: "k", PromptTokens: 85})
	require.NoError(t, err)
	require.Equal(t, int64(0), lease.Status().RemainingTokens)
	_, err = l.Acquire(t.Context(), limits.Request{Key: "k"})
	le := limitstest.RequireLimited(t, err, "requests_per_minute", "key")
	require.InDelta(t, 30*time.Second, le.RetryAfter, float64(2*time.Second))
}

type storeErrors struct {
	mu  sync.Mutex
	ops []string
}

func (s *storeErrors) record(op string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.ops = append(s.ops, op)
	}
}

func (s *storeErrors) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ops...)
}

func TestRedisUnreachable(t *testing.T) {
	for _, mode := range []string{limits.FailOpen, limits.FailClosed} {
		t.Run(mode, func(t *testing.T) {
			cfg := limits.Config{Store: limits.StoreRedis, OnRedisError: mode, Rules: []limits.Rule{{Scope: "key", RequestsPerMinute: 1, Concurrency: 1}}}
			cfg.Redis.Addr = "127.0.0.1:1" // nothing listens there
			cfg.Redis.Password = "hunter2-secret"
			cfg = cfg.WithDefaults()
			var logs bytes.Buffer
			var errs storeErrors
			l, err := New(cfg, limits.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), OnStoreError: errs.record})
			require.NoError(t, err)
			defer func() { require.NoError(t, l.Close()) }()

			for range 3 {
				lease, err := l.Acquire(t.Context(), limits.Request{Key: "k"})
				if mode == limits.FailOpen {
					require.NoError(t, err)
					require.False(t, lease.Status().HasRequests)
					require.NoError(t, lease.Release(t.Context(), limits.Usage{}))
					continue
				}
				require.Nil(t, lease)
				require.ErrorIs(t, err, limits.ErrUnavailable)
				le := limitstest.RequireLimited(t, err, "limiter_unavailable", "global")
				require.Equal(t, time.Second, le.RetryAfter)
			}
			require.Equal(t, []string{"acquire", "acquire", "acquire"}, errs.list())
			require.Contains(t, logs.String(), "redis limiter failed")
			require.NotContains(t, logs.String(), "hunter2")
		})
	}
}

// TestReleaseFailureIsReported: a lease taken while Redis answered cannot
// be released once it stops. Release only queues it, so the failure is
// reported and counted when it is sent, and the slot is left to expire.
func TestReleaseFailureIsReported(t *testing.T) {
	cfg := redisConfig(t, limits.Rule{Scope: "key", Concurrency: 1})
	var errs storeErrors
	l, err := New(cfg, limits.Options{OnStoreError: errs.record})
	require.NoError(t, err)
	lease, err := l.Acquire(t.Context(), limits.Request{Key: "k"})
	require.NoError(t, err)
	require.NoError(t, l.client.Close()) // the connection is gone
	require.NoError(t, lease.Release(t.Context(), limits.Usage{}))
	require.Eventually(t, func() bool { return len(errs.list()) == 1 }, 5*time.Second, time.Millisecond,
		"sent after ReleaseDelay, it fails")
	require.Equal(t, []string{"release"}, errs.list())
	require.NoError(t, lease.Release(t.Context(), limits.Usage{})) // once only
	require.Error(t, l.Close())                                    // its client is already closed
	require.Equal(t, []string{"release"}, errs.list(), "nothing was left to send")
	// The slot is still held in Redis until it expires.
	other, err := New(cfg, limits.Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, other.Close()) }()
	_, err = other.Acquire(t.Context(), limits.Request{Key: "k"})
	limitstest.RequireLimited(t, err, "concurrency", "key")
}

func TestCancelledContextIsNotAStoreError(t *testing.T) {
	cfg := redisConfig(t, limits.Rule{Scope: "key", RequestsPerMinute: 10})
	cfg.OnRedisError = limits.FailClosed
	var errs storeErrors
	l, err := New(cfg, limits.Options{OnStoreError: errs.record})
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()
	ctx, cancel := contextWithCancel(t)
	cancel()
	_, err = l.Acquire(ctx, limits.Request{Key: "k"})
	require.Error(t, err)
	require.False(t, errors.Is(err, policies.ErrLimited))
	require.Empty(t, errs.list())
}

func BenchmarkAcquireRelease(b *testing.B) {
	addr := limitstest.RedisAddr(b)
	cfg := limits.Config{Store: limits.StoreRedis, Rules: []limits.Rule{
		{Scope: "key", RequestsPerMinute: 60_000_000, TokensPerMinute: 1e9, Concurrency: 1 << 20, Budget: &limits.Budget{Tokens: 1 << 40, Period: "month"}},
		{Scope: "tenant", RequestsPerSecond: 1_000_000, TokensPerMinute: 1e9},
		{Scope: "model", RequestsPerMinute: 60_000_000},
		{Scope: "global", Concurrency: 1 << 20},
	}}
	cfg.Redis.Addr = addr
	cfg.Redis.KeyPrefix = limitstest.RedisPrefix(b, addr)
	l, err := New(cfg.WithDefaults(), limits.Options{})
	require.NoError(b, err)
	defer func() { _ = l.Close() }()
	req := limits.Request{Tenant: "acme", Key: "key-1", Model: "gpt-4o", PromptTokens: 100, MaxTokens: 200}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		lease, err := l.Acquire(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if err := lease.Release(ctx, limits.Usage{PromptTokens: 100, CompletionTokens: 50}); err != nil {
			b.Fatal(err)
		}
	}
}

func contextWithCancel(t *testing.T) (ctx context.Context, cancel context.CancelFunc) {
	return context.WithCancel(t.Context())
}

// TestOneRoundTripPerAcquire checks every admission is one call to Redis
// on the request path, carrying the release of the request before it; the
// last release goes on its own after ReleaseDelay.
func TestOneRoundTripPerAcquire(t *testing.T) {
	cfg := redisConfig(t, limits.Rule{Scope: "key", RequestsPerMinute: 100, TokensPerMinute: 10000, Concurrency: 1})
	var mu sync.Mutex
	calls := map[string][]time.Duration{}
	count := func(op string) int {
		mu.Lock()
		defer mu.Unlock()
		return len(calls[op])
	}
	var errs storeErrors
	l, err := New(cfg, limits.Options{OnStoreError: errs.record, OnStoreCall: func(op string, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		calls[op] = append(calls[op], d)
	}})
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()
	// However slow the machine, each release waits for the next Acquire;
	// the last one gets the real delay.
	l.releaseDelay = time.Hour
	for i := range 5 {
		// Concurrency 1: each admission needs the previous release applied
		// first, in the same round trip.
		lease, err := l.Acquire(t.Context(), limits.Request{Key: "k", PromptTokens: 10})
		require.NoError(t, err, "request %d", i)
		require.Equal(t, i+1, count("acquire"), "one call per admission")
		if i == 4 {
			l.releaseDelay = ReleaseDelay
		}
		require.NoError(t, lease.Release(t.Context(), limits.Usage{PromptTokens: 10, CompletionTokens: 3}))
	}
	require.LessOrEqual(t, count("release"), 1, "releases rode the next acquire")
	require.Eventually(t, func() bool { return count("release") >= 1 }, 5*time.Second, time.Millisecond,
		"the last release is sent on its own")
	require.Empty(t, errs.list())
	mu.Lock()
	defer mu.Unlock()
	for op, ds := range calls {
		for _, d := range ds {
			require.Positive(t, d, op)
			require.Less(t, d, 5*time.Second, op)
		}
	}
}

// TestDeferredReleaseReachesOtherReplicas: a release waits for the next
// Acquire of its own limiter, but another replica sees it within
// ReleaseDelay without one, and at once when its limiter closes.
func TestDeferredReleaseReachesOtherReplicas(t *testing.T) {
	cfg := redisConfig(t, limits.Rule{Scope: "key", Concurrency: 1})
	a, err := New(cfg, limits.Options{})
	require.NoError(t, err)
	b, err := New(cfg, limits.Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, b.Close()) }()

	lease, err := a.Acquire(t.Context(), limits.Request{Key: "k"})
	require.NoError(t, err)
	_, err = b.Acquire(t.Context(), limits.Request{Key: "k"})
	limitstest.RequireLimited(t, err, "concurrency", "key")
	require.NoError(t, lease.Release(t.Context(), limits.Usage{}))
	var held *limits.Lease
	require.Eventually(t, func() bool {
		held, err = b.Acquire(t.Context(), limits.Request{Key: "k"})
		return err == nil
	}, 5*time.Second, 100*time.Microsecond, "a's release reaches Redis by its timer")

	// b holds the slot; its release is pending when it closes.
	require.NoError(t, held.Release(t.Context(), limits.Usage{}))
	require.NoError(t, b.Close())
	_, err = a.Acquire(t.Context(), limits.Request{Key: "k"})
	require.NoError(t, err, "Close sent b's pending release")
	require.NoError(t, a.Close())
}

// TestReleasesSurviveAScriptFlush: when Redis forgets the scripts (a
// restart), the pipelined release and acquire are rerun, in that order.
func TestReleasesSurviveAScriptFlush(t *testing.T) {
	cfg := redisConfig(t, limits.Rule{Scope: "key", Concurrency: 1, TokensPerMinute: 1000})
	var errs storeErrors
	l, err := New(cfg, limits.Options{OnStoreError: errs.record})
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()
	// Releases wait for the next Acquire however slow the machine is; the
	// timer would otherwise send one on its own, racing that Acquire.
	l.releaseDelay = time.Hour
	lease, err := l.Acquire(t.Context(), limits.Request{Key: "k", PromptTokens: 10})
	require.NoError(t, err)
	require.NoError(t, lease.Release(t.Context(), limits.Usage{PromptTokens: 10, CompletionTokens: 1}))
	lease, err = l.Acquire(t.Context(), limits.Request{Key: "k", PromptTokens: 10}) // scripts now cached
	require.NoError(t, err)
	require.True(t, l.loaded.Load())
	require.NoError(t, lease.Release(t.Context(), limits.Usage{PromptTokens: 10, CompletionTokens: 1}))
	require.NoError(t, l.client.ScriptFlush(t.Context()).Err())
	_, err = l.Acquire(t.Context(), limits.Request{Key: "k", PromptTokens: 10})
	require.NoError(t, err, "the release ran again, before the acquire")
	require.Empty(t, errs.list())
}
