package limiters

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ragway/ragway/policies"
	"github.com/ragway/ragway/policies/limits"
	"github.com/ragway/ragway/policies/limits/limitstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	replicas             = 3
	goroutinesPerReplica = 16
	attemptsPerGoroutine = 40
)

// replicaSet opens n limiters for cfg as n gateway replicas would: each with
// its own state (memory) or its own connection to one Redis.
func replicaSet(t *testing.T, cfg limits.Config, now func() time.Time) []limits.Limiter {
	t.Helper()
	if cfg.Store == limits.StoreRedis {
		addr := limitstest.RedisAddr(t)
		cfg.Redis.Addr = addr
		cfg.Redis.KeyPrefix = limitstest.RedisPrefix(t, addr)
	}
	cfg = cfg.WithDefaults()
	out := make([]limits.Limiter, replicas)
	for i := range out {
		l, err := Open(cfg, limits.Options{Now: now})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, l.Close()) })
		out[i] = l
	}
	return out
}

// hammer sends attemptsPerGoroutine requests from goroutinesPerReplica
// goroutines per replica at once and returns how many were admitted. Leases
// are released (with their usage) unless hold is set.
func hammer(t *testing.T, ls []limits.Limiter, req limits.Request, hold bool) int64 {
	t.Helper()
	var admitted atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, len(ls)*goroutinesPerReplica)
	for _, l := range ls {
		for range goroutinesPerReplica {
			wg.Go(func() {
				<-start
				for range attemptsPerGoroutine {
					lease, err := l.Acquire(context.Background(), req)
					var le *policies.LimitError
					switch {
					case err == nil:
						admitted.Add(1)
						if !hold {
							if err := lease.Release(context.Background(), limits.Usage{PromptTokens: req.PromptTokens}); err != nil {
								errs <- err
								return
							}
						}
					case errors.As(err, &le):
					default:
						errs <- err
						return
					}
				}
			})
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	return admitted.Load()
}

// TestReplicasShareLimits is the reason shared mode exists: three replicas
// on one Redis admit exactly the limit, three in-memory replicas admit it
// three times. The clock is frozen so no quota is replenished during the
// run; with a running clock the tolerance is what the rate replenishes in
// the run's duration, not over-admission.
func TestReplicasShareLimits(t *testing.T) {
	const rpm, tpm, promptTokens, concurrency = 200, 5000, 10, 7
	tests := []struct {
		name  string
		rule  limits.Rule
		req   limits.Request
		hold  bool
		limit int64
	}{
		{"requests", limits.Rule{Scope: "key", RequestsPerMinute: rpm}, limits.Request{Key: "k"}, false, rpm},
		{"tokens", limits.Rule{Scope: "tenant", RequestsPerMinute: 100000, TokensPerMinute: tpm}, limits.Request{Tenant: "t", PromptTokens: promptTokens}, false, tpm / promptTokens},
		{"concurrency", limits.Rule{Scope: "global", Concurrency: concurrency}, limits.Request{Key: "k"}, true, concurrency},
		{"budget", limits.Rule{Scope: "key", Budget: &limits.Budget{Tokens: 5000, Period: "day"}}, limits.Request{Key: "k", PromptTokens: promptTokens}, false, 5000 / promptTokens},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Less(t, replicas*tt.limit, int64(replicas*goroutinesPerReplica*attemptsPerGoroutine), "the load must exceed even the over-admitted total")
			cfg := limits.Config{CompletionReserve: -1, Rules: []limits.Rule{tt.rule}}

			cfg.Store = limits.StoreRedis
			shared := hammer(t, replicaSet(t, cfg, limitstest.NewClock(limitstest.Start).Now), tt.req, tt.hold)
			require.Equal(t, tt.limit, shared, "shared mode admits exactly the limit across replicas")

			cfg.Store = limits.StoreMemory
			local := hammer(t, replicaSet(t, cfg, limitstest.NewClock(limitstest.Start).Now), tt.req, tt.hold)
			require.Equal(t, replicas*tt.limit, local, "memory mode admits the limit once per replica")
			t.Logf("%s: limit %d, shared admitted %d, memory admitted %d", tt.name, tt.limit, shared, local)
		})
	}
}

// TestReplicasShareLimitsRealClock runs the request case on Redis's own
// clock (as production does). The tolerance is what the rate replenishes
// while the load runs: the limit is never exceeded beyond it.
func TestReplicasShareLimitsRealClock(t *testing.T) {
	const rpm = 200
	cfg := limits.Config{Store: limits.StoreRedis, Rules: []limits.Rule{{Scope: "key", RequestsPerMinute: rpm}}}
	ls := replicaSet(t, cfg, nil)
	start := time.Now()
	admitted := hammer(t, ls, limits.Request{Key: "k"}, false)
	replenished := int64(time.Since(start)*rpm/time.Minute) + 1
	t.Logf("limit %d, admitted %d, tolerance %d", rpm, admitted, replenished)
	require.GreaterOrEqual(t, admitted, int64(rpm))
	require.LessOrEqual(t, admitted, rpm+replenished)
}
