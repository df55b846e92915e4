package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/gateway/config"
	"github.com/ragway/ragway/llm/llmtest"
	"github.com/ragway/ragway/policies/limits"
)

func TestAuthGatewayConfig(t *testing.T) {
	tests := []struct {
		name      string
		store     string
		redisAddr string
	}{
		{name: "memory", store: limits.StoreMemory},
		{name: "redis", store: limits.StoreRedis, redisAddr: "127.0.0.1:6390"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yml := AuthGatewayConfig("http://127.0.0.1:1/v1", "127.0.0.1:2", t.TempDir(), tt.store, tt.redisAddr, "p:")
			cfg, err := config.Parse(yml, noEnv)
			require.NoError(t, err)
			require.False(t, cfg.Auth.Anonymous.Enabled)
			require.Equal(t, tt.store, cfg.Limits.Store)
			require.Equal(t, limits.FailClosed, cfg.Limits.OnRedisError)
			require.Len(t, cfg.Limits.Rules, 2)
			if tt.redisAddr != "" {
				require.Equal(t, tt.redisAddr, cfg.Limits.Redis.Addr)
				require.Equal(t, "p:", cfg.Limits.Redis.KeyPrefix)
			}
		})
	}
}

// TestAuthGatewayRequiresKey checks that the embedded auth gateway admits
// the bench's key and nothing else, so the phase measures auth for real.
func TestAuthGatewayRequiresKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	up, err := llmtest.Start("127.0.0.1:0", llmtest.WithRecordLimit(0))
	require.NoError(t, err)
	defer up.Close()
	gw, err := InProcess{}.Launch(ctx, Setup{UpstreamURL: up.OpenAIURL(), Limits: limits.StoreMemory})
	require.NoError(t, err)
	defer func() { require.NoError(t, gw.Close()) }()
	require.NotEmpty(t, gw.APIKey())

	tests := []struct {
		name   string
		auth   string
		status int
	}{
		{name: "bench key", auth: "Bearer " + gw.APIKey(), status: http.StatusOK},
		{name: "no key", status: http.StatusUnauthorized},
		{name: "wrong key", auth: "Bearer " + gw.APIKey() + "x", status: http.StatusUnauthorized},
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, gw.URL()+"/v1/chat/completions",
				bytes.NewReader(chatBody(Model, false)))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := client.Do(req)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			require.Equal(t, tt.status, resp.StatusCode)
		})
	}

	e, err := gatewayEndpoint(ctx, DefaultOptions, "auth", gw)
	require.NoError(t, err)
	defer closeIdle(e)
	require.NoError(t, e.do(nil))
}

func TestAuthLimitsTable(t *testing.T) {
	us := time.Microsecond
	a := &AuthLimits{Requests: 1000,
		Off: AuthRow{Name: authOffName, Latency: Summary{N: 1000, P50: 100 * us, P99: 200 * us},
			Own: Summary{N: 1000, P50: 10 * us, P99: 30 * us}},
		Embedded: AuthRow{Name: authEmbeddedName, Latency: Summary{N: 1000, P50: 105 * us, P99: 260 * us},
			Own: Summary{N: 1000, P50: 16 * us, P99: 45 * us}},
	}
	a.evaluate()
	require.Equal(t, 60*us, a.Embedded.AddedP99)
	require.Equal(t, 15*us, a.Embedded.AddedOwnP99)
	require.True(t, a.EmbeddedPass, "judged on the gateway's own time")
	var out bytes.Buffer
	require.NoError(t, a.writeTable(&out))
	require.Contains(t, out.String(), "own added p99 ≤ 20.0 µs: PASS")
	require.Contains(t, out.String(), "shared row skipped")

	a.Embedded.Own.P99 = 51 * us
	a.Shared = &AuthRow{Name: authSharedName, Latency: Summary{N: 1000, P50: 150 * us, P99: 300 * us},
		Own: Summary{N: 1000, P50: 60 * us, P99: 130 * us}}
	a.RedisPing = Summary{N: 1000, P50: 50 * us, P99: 90 * us}
	a.RedisAddr = "127.0.0.1:6390"
	a.SharedStore = StoreCalls{PerRequest: 1, Mean: 45 * us, P50: 40 * us}
	a.evaluate()
	require.False(t, a.EmbeddedPass)
	require.InDelta(t, 2.0, a.SharedRoundTrips, 1e-9)
	require.InDelta(t, 1.25, a.SharedAddedInGatewayTrips, 1e-9, "added p50 50 µs over a 40 µs round trip")
	out.Reset()
	require.NoError(t, a.writeTable(&out))
	require.Contains(t, out.String(), "own added p99 ≤ 20.0 µs: FAIL")
	require.Contains(t, out.String(), "+21.0 µs")
	require.Contains(t, out.String(), "Redis round trip (PING from bench)")
	require.Contains(t, out.String(), "added p50 = 1.25× its Redis round trip")
	require.Contains(t, out.String(), "1.00 per request, mean 45.0 µs")
	require.Contains(t, out.String(), "+100.0 µs")
	require.Contains(t, out.String(), "own added p99 paired by turn (median over 0 rounds")

	// Paired by turn: the rounds' differences are -2, 4, 6, 30 µs; their
	// lower middle is 4 µs. The pooled p99s would say +21 µs.
	a.Off.OwnP99Turns = []time.Duration{40 * us, 30 * us, 50 * us, 20 * us}
	a.Embedded.OwnP99Turns = []time.Duration{70 * us, 34 * us, 48 * us, 26 * us}
	a.Shared.OwnP99Turns = a.Shared.OwnP99Turns[:0]
	a.evaluate()
	require.Equal(t, 4*us, a.Embedded.PairedOwnP99)
	require.Zero(t, a.Shared.PairedOwnP99, "no rounds")
	require.False(t, a.EmbeddedPass, "the target stays on the pooled figure")
	out.Reset()
	require.NoError(t, a.writeTable(&out))
	require.Contains(t, out.String(), "median over 4 rounds")
	require.Contains(t, out.String(), "embedded +4.0 µs, shared +0.0 µs")
	require.NotContains(t, out.String(), "minor page faults", "none counted")

	// Faults: the first turn, then the median of the rest.
	a.Off.FaultsTurns = []int64{5}
	a.Embedded.FaultsTurns = []int64{1742, 3, 40, 2, 1}
	out.Reset()
	require.NoError(t, a.writeTable(&out))
	require.Contains(t, out.String(), "first measured turn / median of the turns after: "+
		authOffName+" 5, "+authEmbeddedName+" 1742 / 2\n", "the shared row counted none")

	a.Embedded.Own.P99 = 30 * us
	a.Embedded.OwnP99Turns = nil
	a.Embedded.Own.N = 0
	a.evaluate()
	require.False(t, a.EmbeddedPass, "no samples is no pass")
}

func TestParseMinorFaults(t *testing.T) {
	n, err := minorFaults(0)
	require.NoError(t, err)
	require.Positive(t, n, "this process has faulted its pages in")
	for _, tc := range []struct {
		stat string
		want int64
		ok   bool
	}{
		{"4211 (ragway) S 4200 4211 4200 0 -1 4194560 3996 0 0 0 12 3 0 0 20 0 4 0 100 0 0", 3996, true},
		{"9 (a) b) (c d) R 1 9 9 0 -1 0 77 0 0 0", 77, true},
		{"9 (x) S 1 2 3 4 5 6", 0, false},
		{"9 (x) S 1 2 3 4 5 6 -3 0", 0, false},
		{"9 (x) S 1 2 3 4 5 6 many 0", 0, false},
		{"no parenthesis 1 2 3 4 5 6 7 8 9", 0, false},
		{"", 0, false},
	} {
		got, err := parseMinorFaults(tc.stat)
		if !tc.ok {
			require.Error(t, err, tc.stat)
			continue
		}
		require.NoError(t, err, tc.stat)
		require.Equal(t, tc.want, got, tc.stat)
	}
}

func FuzzParseMinorFaults(f *testing.F) {
	f.Add("4211 (ragway) S 4200 4211 4200 0 -1 4194560 3996 0 0 0", "ragway", uint64(3996))
	f.Add("9 (a) b) R 1 9 9 0 -1 0 77 0", "a) b", uint64(77))
	f.Add(")", ") R 1 2 3 4 5 6 7", uint64(0))
	f.Fuzz(func(t *testing.T, stat, comm string, minflt uint64) {
		n, err := parseMinorFaults(stat)
		if err == nil && n < 0 {
			t.Fatalf("%q: negative count %d", stat, n)
		}
		// A line the kernel could write: any command name (it may hold
		// spaces and parentheses), then the fields, minflt the eighth.
		want := int64(minflt >> 1)
		line := fmt.Sprintf("4211 (%s) S 4200 4211 4200 0 -1 4194560 %d 0 0 0 12 3\n", comm, want)
		n, err = parseMinorFaults(line)
		if err != nil || n != want {
			t.Fatalf("%q: got %d, %v; want %d", line, n, err, want)
		}
	})
}

func TestPairedMedianAndTurnP99(t *testing.T) {
	us := time.Microsecond
	require.Equal(t, 5*us, pairedMedian([]time.Duration{10 * us, 20 * us, 7 * us}, []time.Duration{5 * us, 5 * us, 5 * us, 9 * us}),
		"differences 5, 15, 2 over the three rounds both have")
	require.Zero(t, pairedMedian(nil, []time.Duration{us}))
	all := []time.Duration{9 * us, 1 * us, 5 * us, 3 * us}
	require.Equal(t, 5*us, turnP99(all, 1), "the turn after index 1 is 1, 5, 3 µs")
	require.Equal(t, []time.Duration{9 * us, 1 * us, 5 * us, 3 * us}, all, "left in order")
}
