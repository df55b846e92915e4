package limiters

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/policies/limits"
	"github.com/ragway/ragway/policies/limits/limitstest"
	"github.com/ragway/ragway/policies/limits/memlimit"
	"github.com/ragway/ragway/policies/limits/redislimit"
)

func TestOpen(t *testing.T) {
	mem, err := Open(limits.Config{}.WithDefaults(), limits.Options{})
	require.NoError(t, err)
	require.IsType(t, &memlimit.Limiter{}, mem)
	require.NoError(t, mem.Close())

	cfg := limits.Config{Store: limits.StoreRedis}
	cfg.Redis.Addr = "127.0.0.1:1"
	red, err := Open(cfg.WithDefaults(), limits.Options{})
	require.NoError(t, err)
	require.IsType(t, &redislimit.Limiter{}, red)
	require.NoError(t, red.Close())

	_, err = Open(limits.Config{Store: "etcd"}.WithDefaults(), limits.Options{})
	require.Error(t, err)
	_, err = Open(limits.Config{Rules: []limits.Rule{{Scope: "key"}}}.WithDefaults(), limits.Options{})
	require.Error(t, err)
}

func TestReloadKeepsMemoryState(t *testing.T) {
	clock := limitstest.NewClock(limitstest.Start)
	opts := limits.Options{Now: clock.Now}
	oldCfg := limits.Config{Rules: []limits.Rule{{Scope: "key", RequestsPerMinute: 1}}}.WithDefaults()
	old, err := Open(oldCfg, opts)
	require.NoError(t, err)
	_, err = old.Acquire(t.Context(), limits.Request{Key: "k"})
	require.NoError(t, err)

	newCfg := limits.Config{Rules: []limits.Rule{{Scope: "key", RequestsPerMinute: 1}, {Scope: "global", Concurrency: 5}}}.WithDefaults()
	next, err := Reload(old, oldCfg, newCfg, opts)
	require.NoError(t, err)
	require.NoError(t, old.Close())
	_, err = next.Acquire(t.Context(), limits.Request{Key: "k"})
	limitstest.RequireLimited(t, err, "requests_per_minute", "key")

	// Switching store starts afresh.
	redisCfg := newCfg
	redisCfg.Store = limits.StoreRedis
	redisCfg.Redis.Addr = limitstest.RedisAddr(t)
	redisCfg.Redis.KeyPrefix = limitstest.RedisPrefix(t, redisCfg.Redis.Addr)
	fresh, err := Reload(next, newCfg, redisCfg, opts)
	require.NoError(t, err)
	require.IsType(t, &redislimit.Limiter{}, fresh)
	require.NoError(t, next.Close())
	_, err = fresh.Acquire(t.Context(), limits.Request{Key: "k"})
	require.NoError(t, err)
	require.NoError(t, fresh.Close())
}
