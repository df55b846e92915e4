package limitstest

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/policies"
	"github.com/ragway/ragway/policies/limits"
)

// NewLimiter returns a fresh limiter for cfg (defaults applied) on clock,
// with state no other call to it shares.
type NewLimiter func(t *testing.T, cfg limits.Config, clock *Clock) limits.Limiter

// Start is a fixed instant tests begin at.
var Start = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

// Run runs the conformance suite.
func Run(t *testing.T, newLimiter NewLimiter) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newLimiter NewLimiter)
	}{
		{"RequestRate", testRequestRate},
		{"PerKeyAndMatch", testPerKeyAndMatch},
		{"TenantModelGlobal", testTenantModelGlobal},
		{"AllOrNothing", testAllOrNothing},
		{"TokenReconciliation", testTokenReconciliation},
		{"RefineRefundsTheBound", testRefine},
		{"Concurrency", testConcurrency},
		{"BudgetRollsOver", testBudgetRollsOver},
		{"BudgetReconcilesIntoAcquirePeriod", testBudgetAcrossBoundary},
		{"MonthBudget", testMonthBudget},
		{"Status", testStatus},
		{"ReloadKeepsState", testReload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newLimiter) })
	}
}

func config(rules ...limits.Rule) limits.Config {
	return limits.Config{CompletionReserve: -1, Rules: rules}.WithDefaults()
}

// RequireLimited asserts err is a rejection by limit name at scope.
func RequireLimited(t *testing.T, err error, name, scope string) *policies.LimitError {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, policies.ErrLimited)
	var le *policies.LimitError
	require.ErrorAs(t, err, &le)
	require.Equal(t, name, le.Limit, "limit")
	require.Equal(t, scope, le.Scope, "scope")
	return le
}

func acquire(t *testing.T, l limits.Limiter, req limits.Request) *limits.Lease {
	t.Helper()
	lease, err := l.Acquire(context.Background(), req)
	require.NoError(t, err)
	require.NotNil(t, lease)
	return lease
}

func release(t *testing.T, lease *limits.Lease, prompt, completion int) {
	t.Helper()
	require.NoError(t, lease.Release(context.Background(), limits.Usage{PromptTokens: prompt, CompletionTokens: completion}))
}

func testRequestRate(t *testing.T, newLimiter NewLimiter) {
	clock := NewClock(Start)
	l := newLimiter(t, config(limits.Rule{Scope: "key", RequestsPerMinute: 3}), clock)
	req := limits.Request{Key: "k1"}
	for i := range 3 {
		lease := acquire(t, l, req)
		require.Equal(t, int64(2-i), lease.Status().RemainingRequests)
	}
	_, err := l.Acquire(context.Background(), req)
	le := RequireLimited(t, err, "requests_per_minute", "key")
	require.Equal(t, 20*time.Second, le.RetryAfter)

	clock.Advance(19 * time.Second)
	_, err = l.Acquire(context.Background(), req)
	RequireLimited(t, err, "requests_per_minute", "key")
	clock.Advance(time.Second)
	acquire(t, l, req)
	_, err = l.Acquire(context.Background(), req)
	RequireLimited(t, err, "requests_per_minute", "key")
	// After a full minute idle the whole burst is back.
	clock.Advance(time.Minute)
	for range 3 {
		acquire(t, l, req)
	}
}

func testPerKeyAndMatch(t *testing.T, newLimiter NewLimiter) {
	l := newLimiter(t, config(limits.Rule{Scope: "key", Match: "team-*", RequestsPerSecond: 1}), NewClock(Start))
	acquire(t, l, limits.Request{Key: "team-a"})
	acquire(t, l, limits.Request{Key: "team-b"}) // its own limit, not shared
	_, err := l.Acquire(context.Background(), limits.Request{Key: "team-a"})
	RequireLimited(t, err, "requests_per_second", "key")
	for range 5 { // not matched: unlimited
		acquire(t, l, limits.Request{Key: "other"})
		acquire(t, l, limits.Request{})
	}
}

func testTenantModelGlobal(t *testing.T, newLimiter NewLimiter) {
	l := newLimiter(t, config(
		limits.Rule{Scope: "tenant", Match: "acme", RequestsPerMinute: 2},
		limits.Rule{Scope: "model", Match: "gpt-*", RequestsPerMinute: 1},
		limits.Rule{Scope: "global", RequestsPerMinute: 5},
	), NewClock(Start))
	acquire(t, l, limits.Request{Tenant: "acme", Key: "a", Model: "llama"})
	acquire(t, l, limits.Request{Tenant: "acme", Key: "b", Model: "llama"})
	_, err := l.Acquire(context.Background(), limits.Request{Tenant: "acme", Key: "c", Model: "llama"})
	RequireLimited(t, err, "requests_per_minute", "tenant")
	acquire(t, l, limits.Request{Tenant: "other", Model: "gpt-4o"})
	acquire(t, l, limits.Request{Tenant: "other", Model: "gpt-4"}) // per model
	_, err = l.Acquire(context.Background(), limits.Request{Tenant: "other", Model: "gpt-4o"})
	RequireLimited(t, err, "requests_per_minute", "model")
	acquire(t, l, limits.Request{Tenant: "third"})
	_, err = l.Acquire(context.Background(), limits.Request{Tenant: "fourth"})
	RequireLimited(t, err, "requests_per_minute", "global")
}

func testAllOrNothing(t *testing.T, newLimiter NewLimiter) {
	l := newLimiter(t, config(
		limits.Rule{Scope: "key", RequestsPerMinute: 5, TokensPerMinute: 1000, Concurrency: 10, Budget: &limits.Budget{Tokens: 10000, Period: "day"}},
		limits.Rule{Scope: "model", Match: "small", RequestsPerMinute: 1},
	), NewClock(Start))
	acquire(t, l, limits.Request{Key: "k", Model: "small", PromptTokens: 100})
	for range 3 {
		_, err := l.Acquire(context.Background(), limits.Request{Key: "k", Model: "small", PromptTokens: 100})
		RequireLimited(t, err, "requests_per_minute", "model")
	}
	// The rejected calls took nothing from the key's limits: 4 requests
	// and 900 tokens are left.
	lease := acquire(t, l, limits.Request{Key: "k", Model: "big", PromptTokens: 900})
	require.Equal(t, int64(3), lease.Status().RemainingRequests)
	require.Equal(t, int64(0), lease.Status().RemainingTokens)
	_, err := l.Acquire(context.Background(), limits.Request{Key: "k", Model: "big", PromptTokens: 1})
	RequireLimited(t, err, "tokens_per_minute", "key")
	for range 3 {
		acquire(t, l, limits.Request{Key: "k", Model: "big"})
	}
	_, err = l.Acquire(context.Background(), limits.Request{Key: "k", Model: "big"})
	RequireLimited(t, err, "requests_per_minute", "key")
}

func testTokenReconciliation(t *testing.T, newLimiter NewLimiter) {
	cfg := config(limits.Rule{Scope: "key", TokensPerMinute: 1000})
	cfg.CompletionReserve = 100
	l := newLimiter(t, cfg, NewClock(Start))
	ctx := context.Background()

	first := acquire(t, l, limits.Request{Key: "k", PromptTokens: 500}) // reserves 500+100
	require.Equal(t, 600, first.ReservedTokens())
	require.Equal(t, int64(400), first.Status().RemainingTokens)
	_, err := l.Acquire(ctx, limits.Request{Key: "k", PromptTokens: 500})
	le := RequireLimited(t, err, "tokens_per_minute", "key")
	require.Equal(t, 12*time.Second, le.RetryAfter) // 200 tokens at 1000/min

	release(t, first, 500, 10) // refunds 90
	release(t, first, 0, 0)    // no effect
	second := acquire(t, l, limits.Request{Key: "k", PromptTokens: 390, MaxTokens: 100})
	require.Equal(t, 490, second.ReservedTokens())
	require.Equal(t, int64(0), second.Status().RemainingTokens)
	_, err = l.Acquire(ctx, limits.Request{Key: "k", MaxTokens: 1})
	RequireLimited(t, err, "tokens_per_minute", "key")

	// Using less refunds; using more than reserved charges the difference.
	release(t, second, 0, 0)
	third := acquire(t, l, limits.Request{Key: "k", PromptTokens: 390, MaxTokens: 100})
	release(t, third, 390, 600) // 500 more than reserved
	_, err = l.Acquire(ctx, limits.Request{Key: "k", MaxTokens: 1})
	RequireLimited(t, err, "tokens_per_minute", "key")
}

// testRefine admits a request by an upper bound of its prompt, then
// refines it to the counted prompt: the difference is refunded to the
// token rate and the budget at once, the status follows, the concurrency
// slot stays held, and Release reconciles with the refined reservation.
func testRefine(t *testing.T, newLimiter NewLimiter) {
	cfg := config(
		limits.Rule{Scope: "key", TokensPerMinute: 1000, Concurrency: 2},
		limits.Rule{Scope: "tenant", Budget: &limits.Budget{Tokens: 1500, Period: "day"}},
	)
	cfg.CompletionReserve = 100
	l := newLimiter(t, cfg, NewClock(Start))
	ctx := context.Background()
	req := limits.Request{Tenant: "t", Key: "k", PromptTokens: 800} // a bound: 800 bytes
	lease := acquire(t, l, req)
	require.Equal(t, 900, lease.ReservedTokens())
	require.Equal(t, int64(100), lease.Status().RemainingTokens)
	_, err := l.Acquire(ctx, limits.Request{Tenant: "t", Key: "k", PromptTokens: 500})
	RequireLimited(t, err, "tokens_per_minute", "key")

	require.NoError(t, lease.Refine(ctx, 800, 200)) // counted: 200 tokens
	require.Equal(t, 300, lease.ReservedTokens())
	require.Equal(t, int64(700), lease.Status().RemainingTokens)
	second := acquire(t, l, limits.Request{Tenant: "t", Key: "k", PromptTokens: 500})
	require.Equal(t, int64(100), second.Status().RemainingTokens, "the refund reached the store")
	// Refining kept both concurrency slots: a third call that costs no
	// tokens is turned away by concurrency alone.
	_, err = l.Acquire(ctx, limits.Request{Tenant: "t", Key: "k", MaxTokens: limits.NoCompletion})
	RequireLimited(t, err, "concurrency", "key")

	// Release reconciles with 300, not 900: using 350 charges 50 more.
	release(t, lease, 200, 150)
	require.NoError(t, lease.Refine(ctx, 200, 0), "refining after release does nothing")
	release(t, second, 500, 100)
	// The budget holds 350 + 600 = 950 of 1500 (the bound alone held
	// 900); key "other" has a token rate of its own.
	_, err = l.Acquire(ctx, limits.Request{Tenant: "t", Key: "other", PromptTokens: 551, MaxTokens: limits.NoCompletion})
	RequireLimited(t, err, "budget_day", "tenant")
	last := acquire(t, l, limits.Request{Tenant: "t", Key: "other", PromptTokens: 550, MaxTokens: limits.NoCompletion})
	require.Equal(t, int64(0), last.Status().RemainingTokens)
}

func testConcurrency(t *testing.T, newLimiter NewLimiter) {
	l := newLimiter(t, config(limits.Rule{Scope: "tenant", Concurrency: 2}), NewClock(Start))
	req := limits.Request{Tenant: "t"}
	a := acquire(t, l, req)
	b := acquire(t, l, req)
	_, err := l.Acquire(context.Background(), req)
	le := RequireLimited(t, err, "concurrency", "tenant")
	require.Positive(t, le.RetryAfter)
	release(t, a, 0, 0)
	release(t, a, 0, 0) // a second release frees nothing more
	c := acquire(t, l, req)
	_, err = l.Acquire(context.Background(), req)
	RequireLimited(t, err, "concurrency", "tenant")
	release(t, b, 0, 0)
	release(t, c, 0, 0)
	acquire(t, l, req)
	acquire(t, l, req)
}

func testBudgetRollsOver(t *testing.T, newLimiter NewLimiter) {
	clock := NewClock(time.Date(2026, 3, 14, 23, 59, 0, 0, time.UTC))
	l := newLimiter(t, config(limits.Rule{Scope: "key", Budget: &limits.Budget{Tokens: 1000, Period: "day"}}), clock)
	lease := acquire(t, l, limits.Request{Key: "k", PromptTokens: 600})
	require.Equal(t, int64(400), lease.Status().RemainingTokens)
	require.Equal(t, time.Minute, lease.Status().ResetTokens)
	release(t, lease, 600, 0)
	_, err := l.Acquire(context.Background(), limits.Request{Key: "k", PromptTokens: 500})
	le := RequireLimited(t, err, "budget_day", "key")
	require.Equal(t, time.Minute, le.RetryAfter)
	acquire(t, l, limits.Request{Key: "other", PromptTokens: 1000}) // per key

	clock.Set(time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC))
	acquire(t, l, limits.Request{Key: "k", PromptTokens: 1000})
}

func testBudgetAcrossBoundary(t *testing.T, newLimiter NewLimiter) {
	clock := NewClock(time.Date(2026, 3, 14, 23, 59, 59, 0, time.UTC))
	l := newLimiter(t, config(limits.Rule{Scope: "tenant", Budget: &limits.Budget{Tokens: 1000, Period: "day"}}), clock)
	lease := acquire(t, l, limits.Request{Tenant: "t", PromptTokens: 100})
	clock.Advance(2 * time.Second)
	release(t, lease, 100, 800) // charged to the 14th, not the 15th
	acquire(t, l, limits.Request{Tenant: "t", PromptTokens: 1000})
}

func testMonthBudget(t *testing.T, newLimiter NewLimiter) {
	clock := NewClock(time.Date(2026, 1, 31, 22, 0, 0, 0, time.UTC))
	l := newLimiter(t, config(limits.Rule{Scope: "key", Budget: &limits.Budget{Tokens: 100, Period: "month"}}), clock)
	acquire(t, l, limits.Request{Key: "k", PromptTokens: 100})
	_, err := l.Acquire(context.Background(), limits.Request{Key: "k", PromptTokens: 1})
	le := RequireLimited(t, err, "budget_month", "key")
	require.Equal(t, 2*time.Hour, le.RetryAfter)
	clock.Advance(time.Hour + 59*time.Minute)
	_, err = l.Acquire(context.Background(), limits.Request{Key: "k", PromptTokens: 1})
	RequireLimited(t, err, "budget_month", "key")
	clock.Advance(time.Minute)
	acquire(t, l, limits.Request{Key: "k", PromptTokens: 100})
}

func testStatus(t *testing.T, newLimiter NewLimiter) {
	l := newLimiter(t, config(
		limits.Rule{Scope: "key", RequestsPerMinute: 100, TokensPerMinute: 60000},
		limits.Rule{Scope: "global", RequestsPerSecond: 10, TokensPerMinute: 1000000},
	), NewClock(Start))
	lease := acquire(t, l, limits.Request{Key: "k", PromptTokens: 600})
	st := lease.Status()
	require.True(t, st.HasRequests)
	require.Equal(t, int64(10), st.LimitRequests) // per second: 9 left beats 99
	require.Equal(t, int64(9), st.RemainingRequests)
	require.Equal(t, 100*time.Millisecond, st.ResetRequests)
	require.True(t, st.HasTokens)
	require.Equal(t, int64(60000), st.LimitTokens)
	require.Equal(t, int64(59400), st.RemainingTokens)
	require.Equal(t, 600*time.Millisecond, st.ResetTokens)

	h := http.Header{}
	st.SetHeaders(h)
	require.Equal(t, "10", h.Get("x-ratelimit-limit-requests"))
	require.Equal(t, "9", h.Get("x-ratelimit-remaining-requests"))
	require.Equal(t, "100ms", h.Get("x-ratelimit-reset-requests"))
	require.Equal(t, "60000", h.Get("x-ratelimit-limit-tokens"))
	require.Equal(t, "59400", h.Get("x-ratelimit-remaining-tokens"))
	require.Equal(t, "600ms", h.Get("x-ratelimit-reset-tokens"))

	none := acquire(t, newLimiter(t, config(limits.Rule{Scope: "key", Concurrency: 1}), NewClock(Start)), limits.Request{Key: "k"})
	require.False(t, none.Status().HasRequests)
	require.False(t, none.Status().HasTokens)
}

func testReload(t *testing.T, newLimiter NewLimiter) {
	rule := limits.Rule{Name: "keys", Scope: "key", RequestsPerMinute: 2, Concurrency: 1}
	l := newLimiter(t, config(rule), NewClock(Start))
	r, ok := l.(limits.Reloader)
	require.True(t, ok, "limiters implement limits.Reloader")
	lease := acquire(t, l, limits.Request{Key: "k"})
	rule.RequestsPerMinute = 2
	rule.Concurrency = 2
	next, err := r.Reload(config(rule, limits.Rule{Scope: "global", RequestsPerMinute: 100}))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, next.Close()) })
	second := acquire(t, next, limits.Request{Key: "k"}) // concurrency 2 now, one held
	_, err = next.Acquire(context.Background(), limits.Request{Key: "k"})
	require.True(t, errors.Is(err, policies.ErrLimited))
	RequireLimited(t, err, "requests_per_minute", "key") // the first acquisition still counts
	release(t, lease, 0, 0)                              // an old lease releases into the new state
	release(t, second, 0, 0)
}
