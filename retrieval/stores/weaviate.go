package stores

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/retrieval/weaviate"
)

// WeaviateConfig connects and tunes the Weaviate store; zero values are
// its defaults.
type WeaviateConfig struct {
	// URL is the REST endpoint (http://host:8080); GRPC the gRPC one
	// (default: the URL's host, port 50051).
	URL  string `yaml:"url"`
	GRPC string `yaml:"grpc"`
	// APIKeyEnv names the environment variable holding the API key.
	APIKeyEnv string     `yaml:"api_key_env"`
	APIKey    llm.Secret `yaml:"-"`
	// ClassPrefix starts every class name (default "Ragway").
	ClassPrefix    string        `yaml:"class_prefix"`
	Timeout        time.Duration `yaml:"timeout"`
	BatchSize      int           `yaml:"batch_size"`
	Ef             int           `yaml:"ef"`
	EfConstruction int           `yaml:"ef_construction"`
	MaxConnections int           `yaml:"max_connections"`
	// Alpha is the vector share of Weaviate's native hybrid search.
	Alpha          *float64      `yaml:"alpha"`
	MaxConcurrency int           `yaml:"max_concurrency"`
	AcquireTimeout time.Duration `yaml:"acquire_timeout"`
	// SchemaCacheTTL bounds how long a class definition changed by another
	// process may go unseen (default 5s; negative: read it on every call).
	SchemaCacheTTL time.Duration `yaml:"schema_cache_ttl"`
}

func (w WeaviateConfig) validate() []error {
	var errs []error
	if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, errors.New("retrieval.weaviate.url: an http(s)://host:port URL is required"))
	}
	if w.Alpha != nil && (*w.Alpha < 0 || *w.Alpha > 1) {
		errs = append(errs, errors.New("retrieval.weaviate.alpha: must be in [0,1]"))
	}
	for name, v := range map[string]int{"batch_size": w.BatchSize, "max_concurrency": w.MaxConcurrency, "ef_construction": w.EfConstruction, "max_connections": w.MaxConnections} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("retrieval.weaviate.%s: must not be negative", name))
		}
	}
	if w.Timeout < 0 || w.AcquireTimeout < 0 {
		errs = append(errs, errors.New("retrieval.weaviate: timeouts must not be negative"))
	}
	return errs
}

func openWeaviate(ctx context.Context, w WeaviateConfig) (Store, error) {
	if errs := w.validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if w.APIKeyEnv != "" && w.APIKey == "" {
		return nil, fmt.Errorf("retrieval.weaviate: the API key is empty (is %s set?)", w.APIKeyEnv)
	}
	opts := weaviate.Options{
		URL: w.URL, GRPCAddress: w.GRPC, APIKey: w.APIKey, ClassPrefix: w.ClassPrefix,
		Timeout: w.Timeout, BatchSize: w.BatchSize, Ef: w.Ef, EfConstruction: w.EfConstruction,
		MaxConnections: w.MaxConnections, MaxConcurrency: w.MaxConcurrency, AcquireTimeout: w.AcquireTimeout,
		SchemaCacheTTL: w.SchemaCacheTTL,
	}
	if w.Alpha != nil {
		opts.Alpha = *w.Alpha
		if opts.Alpha == 0 {
			opts.Alpha = -1 // the store's spelling of "no vector share"
		}
	}
	return weaviate.Open(ctx, opts)
}
