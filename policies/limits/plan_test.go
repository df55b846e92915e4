package limits

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestGCRA(t *testing.T) {
	const interval = 1000.0 // one unit per ms
	tests := []struct {
		name              string
		tat, now          float64
		burst, cost       int64
		ok                bool
		newTat, retry     float64
		remaining, resetF float64
	}{
		{"empty cell", 0, 10000, 3, 1, true, 11000, 0, 2, 1000},
		{"last of burst", 12000, 10000, 3, 1, true, 13000, 0, 0, 3000},
		{"over burst", 13000, 10000, 3, 1, false, 13000, 1000, 0, 3000},
		{"replenished", 13000, 11000, 3, 1, true, 14000, 0, 0, 3000},
		{"cost of several", 0, 10000, 10, 4, true, 14000, 0, 6, 4000},
		{"cost above what is left", 14000, 10000, 10, 7, false, 14000, 1000, 6, 4000},
		{"cost above burst", 0, 10000, 10, 11, false, 10000, 1000, 10, 0},
		{"zero cost", 12000, 10000, 3, 0, true, 12000, 0, 1, 2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newTat, ok, retry, remaining, reset := GCRA(tt.tat, tt.now, interval, tt.burst, tt.cost)
			require.Equal(t, tt.ok, ok)
			require.InDelta(t, tt.newTat, newTat, 1e-6)
			require.InDelta(t, tt.retry, retry, 1e-6)
			require.InDelta(t, tt.remaining, remaining, 1e-6)
			require.InDelta(t, tt.resetF, reset, 1e-6)
		})
	}
}

// TestGCRAExactOverARun: a cell admits exactly burst at once and then one
// per interval, with no drift over many intervals.
func TestGCRAExactOverARun(t *testing.T) {
	interval := float64(time.Minute/time.Microsecond) / 7 // 7 per minute, not a whole µs
	now := Micros(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	tat, admitted := 0.0, 0
	for step := range 7 * 60 * 24 { // one day in steps of a whole interval's worth per 1/7 minute
		at := now + float64(step)*interval
		for {
			nt, ok, _, _, _ := GCRA(tat, at, interval, 7, 1)
			if !ok {
				break
			}
			tat = nt
			admitted++
		}
	}
	require.Equal(t, 7+7*60*24-1, admitted)
}

func TestPeriodOf(t *testing.T) {
	tests := []struct {
		period string
		now    time.Time
		label  string
		end    time.Time
	}{
		{"day", time.Date(2026, 3, 14, 23, 59, 59, 0, time.UTC), "20260314", time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)},
		{"day", time.Date(2026, 12, 31, 12, 0, 0, 0, time.FixedZone("x", 14*3600)), "20261230", time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)},
		{"month", time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC), "202612", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"month", time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC), "202802", time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		label, end := PeriodOf(tt.period, tt.now)
		require.Equal(t, tt.label, label)
		require.True(t, tt.end.Equal(end), "%v != %v", tt.end, end)
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "", true},
		{"*", "openai/gpt-4o", true},
		{"gpt-4*", "gpt-4o-mini", true},
		{"gpt-4*", "gpt-3.5", false},
		{"*/gpt-?o", "openai/gpt-4o", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"", "", true},
		{"", "x", false},
		{"exact", "exact", true},
		{"exact", "exactly", false},
		{"*", "*0", true},
		{"a*", "a*b", true},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, Glob(tt.pattern, tt.name), "%q %q", tt.pattern, tt.name)
	}
}

func TestChecks(t *testing.T) {
	cfg, err := Parse([]byte(`
completion_reserve: 100
rules:
  - {scope: key, match: "k*", requests_per_minute: 60, burst: 5, tokens_per_minute: 600, concurrency: 2, budget: {tokens: 10, period: month}}
  - {scope: model, match: "m", requests_per_second: 4}
  - {scope: tenant, match: "none", concurrency: 1}
`))
	require.NoError(t, err)
	plan := NewPlan(cfg)
	long := "k" + strings.Repeat("x", 300)
	checks, reserve := plan.Checks(nil, Request{Key: long, Tenant: "t", Model: "m", PromptTokens: 50, MaxTokens: 500}, time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC))
	require.Equal(t, int64(150), reserve)
	require.Len(t, checks, 5)
	require.Equal(t, Check{Kind: KindRequests, Scope: "key", LimitName: "requests_per_minute", Key: checks[0].Key, Limit: 5, Interval: 1e6, Cost: 1}, checks[0])
	require.True(t, strings.HasPrefix(checks[0].Key, "key:k*:rpm:sha256-"), checks[0].Key)
	require.Less(t, len(checks[0].Key), 120)
	require.Equal(t, int64(150), checks[1].Cost)
	require.InDelta(t, 1e5, checks[1].Interval, 1e-9)
	require.Equal(t, KindConcurrency, checks[2].Kind)
	require.Equal(t, "budget_month", checks[3].LimitName)
	require.Contains(t, checks[3].Key, ":budget:202605:")
	require.Equal(t, "model:m:rps:m", checks[4].Key)

	_, reserve = plan.Checks(nil, Request{PromptTokens: 50}, time.Now())
	require.Equal(t, int64(150), reserve) // max_tokens unset: the full reserve
	_, reserve = plan.Checks(nil, Request{PromptTokens: 50, MaxTokens: 7}, time.Now())
	require.Equal(t, int64(57), reserve)
}

func TestStatusHeaders(t *testing.T) {
	h := http.Header{}
	Status{}.SetHeaders(h)
	require.Empty(t, h)
	Status{HasRequests: true, LimitRequests: 60, RemainingRequests: 59, ResetRequests: 6*time.Minute + 1500*time.Microsecond}.SetHeaders(h)
	require.Equal(t, "6m0.002s", h.Get("x-ratelimit-reset-requests"))
	require.Empty(t, h.Get("x-ratelimit-limit-tokens"))
	require.Len(t, h, 3)
	Status{HasRequests: true, LimitRequests: 60, RemainingRequests: 58, HasTokens: true, LimitTokens: 1000, RemainingTokens: 900, ResetTokens: 120 * time.Millisecond}.SetHeaders(h)
	require.Equal(t, http.Header{
		"X-Ratelimit-Limit-Requests": {"60"}, "X-Ratelimit-Remaining-Requests": {"58"}, "X-Ratelimit-Reset-Requests": {"0s"},
		"X-Ratelimit-Limit-Tokens": {"1000"}, "X-Ratelimit-Remaining-Tokens": {"900"}, "X-Ratelimit-Reset-Tokens": {"120ms"},
	}, h)
	// Appending to one value never spills into another.
	h["X-Ratelimit-Limit-Requests"] = append(h["X-Ratelimit-Limit-Requests"], "extra")
	require.Equal(t, []string{"58"}, h["X-Ratelimit-Remaining-Requests"])
	require.Equal(t, "0s", FormatReset(-time.Second))
}

func FuzzGlob(f *testing.F) {
	f.Add("a*b?c", "axxbyc")
	f.Add("**", "")
	f.Add("*a*a*a*a*a*a*b", strings.Repeat("a", 100))
	f.Fuzz(func(t *testing.T, pattern, name string) {
		got := Glob(pattern, name)
		if !strings.ContainsAny(pattern, "*?") {
			require.Equal(t, pattern == name, got)
		}
		if pattern == "*" {
			require.True(t, got)
		}
	})
}

// TestKeyChecksAreTenantScoped: a JWT subject is unique only within its
// tenant, so the same caller key in two tenants holds two key limits.
func TestKeyChecksAreTenantScoped(t *testing.T) {
	cfg := Config{Rules: []Rule{{Scope: ScopeKey, RequestsPerMinute: 2}}}.WithDefaults()
	require.NoError(t, cfg.Validate())
	p := NewPlan(cfg)
	now := time.Now()
	a, _ := p.Checks(nil, Request{Tenant: "acme", Key: "jwt:alice", Model: "m"}, now)
	b, _ := p.Checks(nil, Request{Tenant: "globex", Key: "jwt:alice", Model: "m"}, now)
	c, _ := p.Checks(nil, Request{Tenant: "acme", Key: "jwt:alice", Model: "other"}, now)
	require.Len(t, a, 1)
	require.Len(t, b, 1)
	require.NotEqual(t, a[0].Key, b[0].Key)
	require.Equal(t, a[0].Key, c[0].Key, "one caller keeps one key limit across models")
	// A tenant containing the separator cannot alias another pair.
	d, _ := p.Checks(nil, Request{Tenant: "acme/jwt:x", Key: "jwt:y"}, now)
	e, _ := p.Checks(nil, Request{Tenant: "acme", Key: "jwt:x/jwt:y"}, now)
	require.NotEqual(t, d[0].Key, e[0].Key)
}

func TestReserveWithoutCompletion(t *testing.T) {
	p := NewPlan(Config{CompletionReserve: 1024})
	tests := []struct {
		name string
		req  Request
		want int64
	}{
		{"max_tokens unset", Request{PromptTokens: 10}, 1034},
		{"max_tokens below reserve", Request{PromptTokens: 10, MaxTokens: 5}, 15},
		{"no completion", Request{PromptTokens: 10, MaxTokens: NoCompletion}, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, p.Reserve(tt.req))
		})
	}
}

func TestCountsTokens(t *testing.T) {
	cfg, err := Parse([]byte(`
rules:
  - {scope: global, requests_per_second: 100}
  - {scope: tenant, match: "paying-*", tokens_per_minute: 1000}
  - {scope: key, match: "k9*", budget: {tokens: 10, period: day}}
  - {scope: model, match: "gpt-4*", requests_per_second: 5}
  - {scope: key, match: "k1", requests_per_minute: 60}
`))
	require.NoError(t, err)
	plan := NewPlan(cfg.WithDefaults())
	tests := []struct {
		req  Request
		want bool
	}{
		{Request{Tenant: "paying-acme", Key: "k1", Model: "llama"}, true},     // the tenant's tokens per minute
		{Request{Tenant: "free", Key: "k9x", Model: "llama"}, true},           // the key's budget
		{Request{Tenant: "free", Key: "k1", Model: "gpt-4o"}, false},          // the model's rule is on requests
		{Request{Tenant: "free", Key: "k1", Model: "llama"}, false},           // request rules only
		{Request{Tenant: "", Key: "k2", Model: ""}, false},                    // nothing to match
		{Request{Tenant: "paying", Key: "k1", Model: "gpt-3.5-turbo"}, false}, // globs are whole-string
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, plan.CountsTokens(tt.req), "%+v", tt.req)
	}

	global, err := Parse([]byte("rules: [{scope: global, tokens_per_minute: 1000}]"))
	require.NoError(t, err)
	require.True(t, NewPlan(global.WithDefaults()).CountsTokens(Request{}), "a global token rule applies to every caller")
}
