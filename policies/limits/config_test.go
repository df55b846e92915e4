package limits

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseExample(t *testing.T) {
	data, err := os.ReadFile("testdata/limits.example.yaml")
	require.NoError(t, err)
	cfg, err := Parse(data)
	require.NoError(t, err)
	require.Equal(t, StoreRedis, cfg.Store)
	require.Len(t, cfg.Rules, 4)
	require.Equal(t, "*", cfg.Rules[3].Match)
	require.Equal(t, int64(200000), cfg.Rules[1].Budget.Tokens)
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, yaml string
		errs       []string
	}{
		{"empty", "", nil},
		{"defaults", "rules: [{scope: key, requests_per_minute: 10}]", nil},
		{"unknown field", "rules: [{scope: key, rpm: 10}]", []string{"field rpm not found"}},
		{"bad scope", "rules: [{scope: planet, concurrency: 1}]", []string{`scope "planet"`}},
		{"no limit", "rules: [{scope: key}]", []string{"sets no limit"}},
		{"negative", "rules: [{scope: key, concurrency: -1}]", []string{"concurrency must be between"}},
		{"too fast", "rules: [{scope: key, requests_per_second: 2000000}]", []string{"requests_per_second must be between"}},
		{"budget period", "rules: [{scope: key, budget: {tokens: 5, period: week}}]", []string{`period "week"`}},
		{"budget scope", "rules: [{scope: model, budget: {tokens: 5, period: day}}]", []string{"key and tenant scopes only"}},
		{"burst alone", "rules: [{scope: key, burst: 5, concurrency: 1}]", []string{"burst needs"}},
		{"duplicate names", "rules: [{scope: key, concurrency: 1}, {scope: key, concurrency: 2}]", []string{"used twice"}},
		{"redis without addr", "store: redis", []string{"redis.addr is required"}},
		{"bad store and mode", "store: etcd\non_redis_error: shrug", []string{"limits.store", "on_redis_error"}},
		{"lease ttl", "lease_ttl: 10ms", []string{"lease_ttl"}},
		{"every problem", "rules: [{scope: x}, {scope: key, concurrency: -2}]", []string{"rules[0]", "rules[1]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if tt.errs == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, e := range tt.errs {
				require.Contains(t, err.Error(), e)
			}
		})
	}
}

func TestSecretNeverPrints(t *testing.T) {
	cfg, err := Parse([]byte("store: redis\nredis: {addr: 'h:1', password: hunter2}"))
	require.NoError(t, err)
	require.Equal(t, "hunter2", cfg.Redis.Password.Reveal())
	require.NotContains(t, strings.Join([]string{cfg.Redis.Password.String()}, ""), "hunter2")
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "rules: [{scope: key, requests_per_minute: 10}]",
		"store: redis\nredis: {addr: x}\nrules: [{scope: tenant, match: 'a*', budget: {tokens: 3, period: month}}]",
		"rules: [{scope: global, concurrency: 99999999999999999999}]", "lease_ttl: -5s", "{", "rules: 5",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			return
		}
		// A config that parses is valid and usable.
		require.NoError(t, cfg.Validate())
		plan := NewPlan(cfg)
		checks, reserve := plan.Checks(nil, Request{Tenant: "t", Key: "k", Model: "m", PromptTokens: 10, MaxTokens: 5}, Epoch)
		require.GreaterOrEqual(t, reserve, int64(10))
		for _, c := range checks {
			require.Positive(t, c.Limit)
			if c.Kind == KindRequests || c.Kind == KindTokens {
				require.Greater(t, c.Interval, 0.0)
			}
		}
	})
}
