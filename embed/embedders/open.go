package embedders

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ragway/ragway/embed"
	"github.com/ragway/ragway/embed/cached"
	"github.com/ragway/ragway/embed/lexical"
	"github.com/ragway/ragway/embed/remote"
	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/backends"
)

// Open returns the embedder cfg describes, after applying its defaults and
// validating it. Type lexical is the in-process embedder itself: it is
// cheaper than a cache lookup and has no upstream to batch for. Types
// ollama and openai are a remote.Embedder over an llm backend with retries
// and a circuit breaker, behind a cached.Embedder; when no dimensions are
// configured Open embeds one probe text (bounded by ProbeTimeout) to learn
// them, so the server must be up. The result of a remote type implements
// io.Closer.
func Open(cfg Config) (embed.Embedder, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch cfg.Type {
	case TypeLexical:
		return lexical.New(lexical.Options{Dimensions: cfg.Dimensions}), nil
	case TypeOllama, TypeOpenAI:
		return openRemote(cfg)
	default:
		return nil, fmt.Errorf("embedder: unknown type %q", cfg.Type)
	}
}

func openRemote(cfg Config) (embed.Embedder, error) {
	bcfg := backends.Config{
		Name:     "embedder",
		Type:     cfg.Type,
		URL:      cfg.URL,
		APIKey:   cfg.APIKey,
		Timeouts: cfg.Timeouts,
		Retry:    cfg.Retry,
		Breaker:  cfg.Breaker,
		// Batching happens in the cached layer, before the retries, so
		// the backend's own batcher is off.
		Batch: cfg.Batch,
	}
	bcfg.Batch.MaxInputs = 1
	pool, err := backends.Open(bcfg)
	if err != nil {
		return nil, fmt.Errorf("embedder: %w", err)
	}
	b := &owned{Backend: backends.Wrap(pool, bcfg, "embedder/"+cfg.Model, nil), pool: pool}
	ctx, cancel := context.WithTimeout(context.Background(), ProbeTimeout)
	defer cancel()
	r, err := remote.New(ctx, b, remote.Options{
		Model: cfg.Model, Version: cfg.Version, Dimensions: cfg.Dimensions, RequestDimensions: cfg.RequestDimensions,
	})
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("embedder: %w", err)
	}
	return cached.New(r, cached.Options{Entries: cfg.Cache.Entries, Batch: cfg.Batch}), nil
}

// owned is a wrapped backend that also closes the pool it wraps.
type owned struct {
	llm.Backend
	pool llm.Backend
}

func (o *owned) Close() error {
	var errs []error
	for _, b := range []llm.Backend{o.Backend, o.pool} {
		if c, ok := b.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}
