package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ragway/ragway/gateway/config"
	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/backends"
	"github.com/ragway/ragway/policies/limits"
	"github.com/ragway/ragway/policies/routing"
)

// runtime is everything built from one configuration: backends, wrapped
// targets and the route table. A reload builds a new runtime and swaps it in;
// requests in flight keep the one they started with.
type runtime struct {
	cfg      *config.Config
	table    *routing.Table
	backends map[string]llm.Backend
	bcfg     map[string]backends.Config
	obs      backends.Observer
	loaded   time.Time
	access   *access

	mu      sync.Mutex
	targets map[targetKey]llm.Backend

	// discovered maps model names listed by discover: true backends to the
	// backend serving them.
	discovered atomic.Pointer[map[string]string]
}

type targetKey struct{ backend, model string }

// target is a resolved route target.
type target struct {
	routing.Target
	backend llm.Backend
	// provider is the backend type, for gen_ai.provider.name.
	provider string
}

func openRuntime(cfg *config.Config, obs backends.Observer, prev *runtime, lopts limits.Options) (*runtime, error) {
	rt := &runtime{
		cfg:      cfg,
		table:    routing.NewTable(cfg.Routes),
		backends: make(map[string]llm.Backend, len(cfg.Backends)),
		bcfg:     make(map[string]backends.Config, len(cfg.Backends)),
		obs:      obs,
		loaded:   time.Now(),
		targets:  map[targetKey]llm.Backend{},
	}
	empty := map[string]string{}
	rt.discovered.Store(&empty)
	var errs []error
	for _, bc := range cfg.Backends {
		b, err := backends.Open(bc)
		if err != nil {
			errs = append(errs, fmt.Errorf("backend %q: %w", bc.Name, err))
			continue
		}
		rt.backends[bc.Name] = b
		rt.bcfg[bc.Name] = bc
	}
	if err := errors.Join(errs...); err != nil {
		rt.close()
		return nil, err
	}
	acc, err := openAccess(cfg, prev, lopts)
	if err != nil {
		rt.close()
		return nil, err
	}
	rt.access = acc
	return rt, nil
}

// resolve returns the wrapped backend of a route target, creating it on first
// use so that discovered models get the same retries and breaker.
func (rt *runtime) resolve(t routing.Target) (target, error) {
	b, ok := rt.backends[t.Backend]
	if !ok {
		return target{}, fmt.Errorf("target %s: %w: backend %q is not configured", t.Label(), llm.ErrUnavailable, t.Backend)
	}
	k := targetKey{t.Backend, t.Model}
	rt.mu.Lock()
	w, ok := rt.targets[k]
	if !ok {
		w = backends.Wrap(b, rt.bcfg[t.Backend], t.Label(), rt.obs)
		rt.targets[k] = w
	}
	rt.mu.Unlock()
	return target{Target: t, backend: w, provider: rt.bcfg[t.Backend].Type}, nil
}

// pick chooses the target for a route name, falling back to discovered
// models. found is false when the name is neither.
func (rt *runtime) pick(model string, caller routing.Caller, forced string) (t target, found bool, err error) {
	rtg, found, err := rt.table.Pick(model, caller, forced)
	if err != nil {
		return target{}, true, err
	}
	if !found {
		backend, ok := (*rt.discovered.Load())[model]
		if !ok {
			return target{}, false, nil
		}
		rtg = routing.Target{Backend: backend, Model: model, Weight: 1}
		if forced != "" && forced != rtg.Label() {
			return target{}, true, routing.ErrUnknownTarget
		}
	}
	t, err = rt.resolve(rtg)
	return t, true, err
}

// has reports whether model names a route or a discovered model.
func (rt *runtime) has(model string) bool {
	if _, ok := rt.table.Route(model); ok {
		return true
	}
	_, ok := (*rt.discovered.Load())[model]
	return ok
}

// chain returns the route and its fallbacks; a discovered model has none.
func (rt *runtime) chain(model string) []string {
	if c := rt.table.Chain(model); len(c) > 0 {
		return c
	}
	return []string{model}
}

// models lists every route and discovered model, routes first.
func (rt *runtime) models() []llm.Model {
	created := rt.loaded.Unix()
	var out []llm.Model
	seen := map[string]bool{}
	for _, m := range rt.table.Models() {
		seen[m] = true
		out = append(out, llm.Model{ID: m, Created: created, OwnedBy: "ragway"})
	}
	disc := *rt.discovered.Load()
	names := make([]string, 0, len(disc))
	for m := range disc {
		if !seen[m] {
			names = append(names, m)
		}
	}
	sort.Strings(names)
	for _, m := range names {
		out = append(out, llm.Model{ID: m, Created: created, OwnedBy: disc[m]})
	}
	return out
}

// discover asks every discover: true backend for its models once.
func (rt *runtime) discover(ctx context.Context, timeout time.Duration, log *slog.Logger) {
	found := map[string]string{}
	for _, bc := range rt.cfg.Backends {
		if !bc.Discover {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		ms, err := rt.backends[bc.Name].Models(cctx)
		cancel()
		if err != nil {
			log.Debug("model discovery failed", "backend", bc.Name, "error", err)
			continue
		}
		for _, m := range ms {
			if _, dup := found[m.ID]; !dup {
				found[m.ID] = bc.Name
			}
		}
	}
	rt.discovered.Store(&found)
}

// close releases backends that hold resources.
func (rt *runtime) close() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, t := range rt.targets {
		if c, ok := t.(io.Closer); ok {
			_ = c.Close()
		}
	}
	for _, b := range rt.backends {
		if c, ok := b.(io.Closer); ok {
			_ = c.Close()
		}
	}
	if rt.access != nil {
		rt.access.close()
	}
}
