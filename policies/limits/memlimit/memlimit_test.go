package memlimit

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ragway/ragway/policies/limits"
	"github.com/ragway/ragway/policies/limits/limitstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newLimiter(t *testing.T, cfg limits.Config, clock *limitstest.Clock) limits.Limiter {
	l, err := New(cfg, limits.Options{Now: clock.Now})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	return l
}

func TestConformance(t *testing.T) { limitstest.Run(t, newLimiter) }

func TestSweepDropsIdleState(t *testing.T) {
	clock := limitstest.NewClock(limitstest.Start)
	cfg := limits.Config{Rules: []limits.Rule{{Scope: "key", RequestsPerSecond: 1_000_000, Budget: &limits.Budget{Tokens: 1 << 30, Period: "day"}}}}.WithDefaults()
	l, err := New(cfg, limits.Options{Now: clock.Now})
	require.NoError(t, err)
	for i := range sweepEvery - 1 {
		lease := acquire(t, l, limits.Request{Key: string(rune('a' + i%26)), PromptTokens: 1})
		require.NoError(t, lease.Release(t.Context(), limits.Usage{PromptTokens: 1}))
	}
	require.Equal(t, 52, l.Len()) // 26 cells, 26 budgets
	clock.Advance(72 * 3600e9)
	acquire(t, l, limits.Request{Key: "z"}) // the sweep runs on this one
	require.Equal(t, 2, l.Len())
}

func acquire(t *testing.T, l *Limiter, req limits.Request) *limits.Lease {
	t.Helper()
	lease, err := l.Acquire(t.Context(), req)
	require.NoError(t, err)
	return lease
}

func TestInvalidConfig(t *testing.T) {
	_, err := New(limits.Config{Store: "memory", OnRedisError: "fail_open", LeaseTTL: 1e9, Rules: []limits.Rule{{Scope: "planet"}}}, limits.Options{})
	require.Error(t, err)
}

func BenchmarkAcquireRelease(b *testing.B) {
	cfg := limits.Config{Rules: []limits.Rule{
		{Scope: "key", RequestsPerMinute: 60_000_000, TokensPerMinute: 1e9, Concurrency: 1 << 20, Budget: &limits.Budget{Tokens: 1 << 40, Period: "month"}},
		{Scope: "tenant", RequestsPerSecond: 1_000_000, TokensPerMinute: 1e9},
		{Scope: "model", RequestsPerMinute: 60_000_000},
		{Scope: "global", Concurrency: 1 << 20},
	}}.WithDefaults()
	l, err := New(cfg, limits.Options{})
	require.NoError(b, err)
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
