// Package backends turns backend configuration into llm.Backend
// implementations (Open) and wraps them per target with batching, retries
// and a circuit breaker (Wrap).
package backends

import (
	"errors"
	"fmt"
	"maps"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/batch"
	"github.com/ragway/ragway/llm/builtin"
	"github.com/ragway/ragway/llm/ollama"
	"github.com/ragway/ragway/llm/openai"
	"github.com/ragway/ragway/llm/replicas"
	"github.com/ragway/ragway/llm/resilience"
)

// Observer is told about retries, breaker changes and embedding batch sizes
// of wrapped targets.
type Observer interface {
	resilience.Observer
	batch.Observer
}

// NopObserver ignores everything.
type NopObserver struct{}

// Retried implements resilience.Observer.
func (NopObserver) Retried(string, int, error) {}

// BreakerChanged implements resilience.Observer.
func (NopObserver) BreakerChanged(string, string, string) {}

// Batched implements batch.Observer.
func (NopObserver) Batched(int, int) {}

var _ Observer = NopObserver{}

// Open returns the backend cfg describes, after applying its defaults and
// validating it. Types openai and ollama get one client per URL, always
// behind a *replicas.Pool (even for one URL, so that every remote backend
// reports the same replica metrics and can be closed the same way); type
// builtin is the in-process backend.
func Open(cfg Config) (llm.Backend, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch cfg.Type {
	case TypeBuiltin:
		return builtin.New(), nil
	case TypeOpenAI, TypeOllama:
		return openPool(cfg)
	default:
		return nil, fmt.Errorf("backend %q: unknown type %q", cfg.Name, cfg.Type)
	}
}

func openPool(cfg Config) (*replicas.Pool, error) {
	urls := cfg.ReplicaURLs()
	reps := make([]replicas.Replica, 0, len(urls))
	var errs []error
	for _, u := range urls {
		b, err := openReplica(cfg, u)
		if err != nil {
			errs = append(errs, fmt.Errorf("backend %q: %w", cfg.Name, err))
			continue
		}
		reps = append(reps, replicas.Replica{URL: u, Backend: b})
	}
	pool := replicas.New(reps, replicas.Options{})
	if err := errors.Join(errs...); err != nil {
		_ = pool.Close()
		return nil, err
	}
	return pool, nil
}

func openReplica(cfg Config, url string) (llm.Backend, error) {
	switch cfg.Type {
	case TypeOpenAI:
		return openai.New(openai.Options{
			BaseURL:           url,
			APIKey:            cfg.APIKey,
			Headers:           cfg.Headers,
			ConnectTimeout:    cfg.Timeouts.Connect,
			ResponseTimeout:   cfg.Timeouts.Response,
			StreamIdleTimeout: cfg.Timeouts.StreamIdle,
			MaxIdleConns:      cfg.MaxIdleConnsPerReplica,
		})
	case TypeOllama:
		return ollama.New(ollama.Options{
			BaseURL:           url,
			Headers:           ollamaHeaders(cfg),
			ConnectTimeout:    cfg.Timeouts.Connect,
			ResponseTimeout:   cfg.Timeouts.Response,
			StreamIdleTimeout: cfg.Timeouts.StreamIdle,
			MaxIdleConns:      cfg.MaxIdleConnsPerReplica,
		})
	default:
		return nil, fmt.Errorf("type %q has no replicas", cfg.Type)
	}
}

// ollamaHeaders adds the API key, if any, as a bearer token: Ollama itself
// takes none, but a proxy in front of it may.
func ollamaHeaders(cfg Config) map[string]string {
	if cfg.APIKey == "" {
		return cfg.Headers
	}
	h := maps.Clone(cfg.Headers)
	if h == nil {
		h = make(map[string]string, 1)
	}
	if _, ok := h["Authorization"]; !ok {
		h["Authorization"] = "Bearer " + cfg.APIKey.Reveal()
	}
	return h
}

// Wrap composes the per-target layers over b, a backend returned by Open:
// an embedding batcher outside retries and the circuit breaker, so that a
// batch is retried as one call. target names the target (backend name and
// upstream model) in errors and observer calls; obs may be nil. The result
// implements io.Closer: closing it stops the batcher, not b.
func Wrap(b llm.Backend, cfg Config, target string, obs Observer) llm.Backend {
	cfg = cfg.WithDefaults()
	if obs == nil {
		obs = NopObserver{}
	}
	return batch.New(resilience.New(b, target, cfg.Retry, cfg.Breaker, obs), cfg.Batch, obs)
}
