// Package embedders turns embedder configuration into an embed.Embedder
// (Open): the built-in lexical embedder, or a remote model on an Ollama or
// OpenAI-compatible server behind an embedding cache and micro-batching.
package embedders

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ragway/ragway/embed/lexical"
	"github.com/ragway/ragway/embed/remote"
	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/backends"
	"github.com/ragway/ragway/llm/batch"
	"github.com/ragway/ragway/llm/resilience"
)

// Embedder types.
const (
	TypeLexical = "lexical" // built-in feature hashing, needs no model
	TypeOllama  = "ollama"  // Ollama's /api/embed
	TypeOpenAI  = "openai"  // any OpenAI-compatible /v1/embeddings server
)

// Config is the config file's "embedder" section.
type Config struct {
	Type string `yaml:"type"`
	// Model is the upstream model name (ollama, openai).
	Model string `yaml:"model"`
	// Version names the model's revision in the index's Info; bump it when
	// the weights behind Model change. Default "1" (ollama, openai).
	Version string `yaml:"version"`
	// Dimensions is the vector length. For lexical it defaults to 384; for
	// ollama and openai 0 means probe the server once at start.
	Dimensions int `yaml:"dimensions"`
	// RequestDimensions sends Dimensions upstream, for models that shorten
	// their vectors on request (OpenAI text-embedding-3, Matryoshka models).
	RequestDimensions bool `yaml:"request_dimensions"`
	// URL is the server: for openai with the /v1 prefix
	// (http://host:8000/v1), for ollama the root (http://host:11434).
	URL string `yaml:"url"`
	// APIKeyEnv names the environment variable holding the API key; the
	// composition root resolves it into APIKey.
	APIKeyEnv string     `yaml:"api_key_env"`
	APIKey    llm.Secret `yaml:"-"`
	// Timeouts bound each upstream call; Retry and Breaker guard them.
	Timeouts backends.Timeouts  `yaml:"timeouts"`
	Retry    resilience.Retry   `yaml:"retry"`
	Breaker  resilience.Breaker `yaml:"breaker"`
	// Batch coalesces concurrent embedding calls (ollama, openai).
	Batch batch.Config `yaml:"batch"`
	Cache Cache        `yaml:"cache"`
}

// Cache sizes the embedding cache.
type Cache struct {
	// Entries bounds the cached vectors; 0 means the default (8192) and a
	// negative value turns the cache off.
	Entries int `yaml:"entries"`
}

// ProbeTimeout bounds the call that learns a remote model's dimensions.
const ProbeTimeout = 30 * time.Second

// MaxCacheEntries bounds Cache.Entries.
const MaxCacheEntries = 10_000_000

// WithDefaults returns c with every zero field set to its default: type
// lexical with 384 dimensions.
func (c Config) WithDefaults() Config {
	if c.Type == "" {
		c.Type = TypeLexical
	}
	switch c.Type {
	case TypeLexical:
		if c.Dimensions == 0 {
			c.Dimensions = lexical.DefaultDimensions
		}
	case TypeOllama, TypeOpenAI:
		if c.Version == "" {
			c.Version = remote.DefaultVersion
		}
	}
	c.Batch = c.Batch.WithDefaults()
	c.Retry = c.Retry.WithDefaults()
	c.Breaker = c.Breaker.WithDefaults()
	return c
}

// Validate reports every problem, each prefixed with "embedder".
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("embedder: "+format, args...))
	}
	switch c.Type {
	case TypeLexical:
		if c.Dimensions < 1 || c.Dimensions > lexical.MaxDimensions {
			add("dimensions must be between 1 and %d for type lexical", lexical.MaxDimensions)
		}
		if c.URL != "" || c.Model != "" || c.Version != "" || c.APIKeyEnv != "" || c.RequestDimensions {
			add("type lexical takes no url, model, version, api_key_env or request_dimensions")
		}
	case TypeOllama, TypeOpenAI:
		if c.Model == "" {
			add("model is required for type %s", c.Type)
		}
		if c.URL == "" {
			add("url is required for type %s", c.Type)
		} else if p, err := url.Parse(c.URL); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			add("url %q must be an absolute http(s) URL", c.URL)
		}
		if c.Dimensions < 0 || c.Dimensions > remote.MaxDimensions {
			add("dimensions must be between 0 (probe) and %d", remote.MaxDimensions)
		}
		if c.RequestDimensions && c.Dimensions == 0 {
			add("request_dimensions needs dimensions")
		}
	default:
		add("unknown type %q (want lexical, ollama or openai)", c.Type)
	}
	if c.Timeouts.Connect < 0 || c.Timeouts.Response < 0 || c.Timeouts.StreamIdle < 0 {
		add("timeouts must not be negative")
	}
	if c.Cache.Entries > MaxCacheEntries {
		add("cache.entries must be at most %d", MaxCacheEntries)
	}
	for _, err := range []error{c.Batch.Validate(), c.Retry.Validate(), c.Breaker.Validate()} {
		if err != nil {
			add("%w", err)
		}
	}
	return errors.Join(errs...)
}
