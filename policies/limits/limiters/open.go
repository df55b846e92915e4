// Package limiters turns a limits.Config into its implementation.
package limiters

import (
	"fmt"

	"github.com/ragway/ragway/policies/limits"
	"github.com/ragway/ragway/policies/limits/memlimit"
	"github.com/ragway/ragway/policies/limits/redislimit"
)

// Open returns the limiter cfg.Store names. cfg must have its defaults
// applied. For a hot reload, prefer limits.Reloader on the running limiter,
// which keeps state (memory) or the connection (Redis); Open starts afresh.
func Open(cfg limits.Config, opts limits.Options) (limits.Limiter, error) {
	switch cfg.Store {
	case limits.StoreMemory:
		return memlimit.New(cfg, opts)
	case limits.StoreRedis:
		return redislimit.New(cfg, opts)
	default:
		return nil, fmt.Errorf("open limiter: unknown store %q", cfg.Store)
	}
}

// Reload returns a limiter for cfg: old.Reload(cfg) when old supports it
// and the store kind and Redis address are unchanged, else Open(cfg). The
// caller closes old once no new requests reach it.
func Reload(old limits.Limiter, oldCfg, cfg limits.Config, opts limits.Options) (limits.Limiter, error) {
	if r, ok := old.(limits.Reloader); ok && oldCfg.Store == cfg.Store && oldCfg.Redis == cfg.Redis {
		return r.Reload(cfg)
	}
	return Open(cfg, opts)
}
