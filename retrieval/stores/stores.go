// Package stores turns configuration into a retrieval.Store: the one
// switch over the store implementations.
package stores

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/embedded"
	"github.com/ragway/ragway/retrieval/pgvector"
)

// Store kinds.
const (
	Embedded = "embedded"
	Pgvector = "pgvector"
	Weaviate = "weaviate"
	Milvus   = "milvus"
)

// Kinds lists every store kind.
var Kinds = []string{Embedded, Pgvector, Weaviate, Milvus}

func known(kind string) bool { return slices.Contains(Kinds, kind) }

// Store is what every store kind is: searchable and readable back.
type Store interface {
	retrieval.Store
	retrieval.Reader
}

// Config chooses and tunes the stores.
type Config struct {
	// Store is the default kind: "embedded" (the default), "pgvector",
	// "weaviate" or "milvus". Only the kinds in use need their settings.
	Store string `yaml:"store"`
	// Collections keep chosen collections in other kinds than Store.
	Collections []CollectionRule `yaml:"collections"`
	// Embedded tunes the embedded store.
	Embedded EmbeddedConfig `yaml:"embedded"`
	// Pgvector connects and tunes the PostgreSQL store.
	Pgvector PgvectorConfig `yaml:"pgvector"`
	// Weaviate connects and tunes the Weaviate store.
	Weaviate WeaviateConfig `yaml:"weaviate"`
	// Milvus connects and tunes the Milvus store.
	Milvus MilvusConfig `yaml:"milvus"`
}

// PgvectorConfig connects and tunes the PostgreSQL + pgvector store; zero
// values are its defaults.
type PgvectorConfig struct {
	// DSN is the connection string (postgres://...). It holds a password,
	// so configs name an environment variable in DSNEnv and the loader
	// resolves it into DSN.
	DSN    llm.Secret `yaml:"dsn"`
	DSNEnv string     `yaml:"dsn_env"`
	// Schema holds the store's tables; default "ragway".
	Schema         string `yaml:"schema"`
	M              int    `yaml:"m"`
	EfConstruction int    `yaml:"ef_construction"`
	EfSearch       int    `yaml:"ef_search"`
	// Fusion is "weighted" (default) or "rrf".
	Fusion        string  `yaml:"fusion"`
	LexicalWeight float64 `yaml:"lexical_weight"`
	// MaxConns bounds the connection pool (default 8); a search or write
	// waits at most AcquireTimeout (default 5s) for a connection.
	MaxConns       int           `yaml:"max_conns"`
	AcquireTimeout time.Duration `yaml:"acquire_timeout"`
}

// EmbeddedConfig tunes the embedded store; zero values are its defaults.
type EmbeddedConfig struct {
	// Dir is the store's directory, relative to the data dir; default
	// "retrieval".
	Dir            string  `yaml:"dir"`
	M              int     `yaml:"m"`
	EfConstruction int     `yaml:"ef_construction"`
	EfSearch       int     `yaml:"ef_search"`
	K1             float64 `yaml:"bm25_k1"`
	B              float64 `yaml:"bm25_b"`
	// Fusion is "weighted" (default) or "rrf".
	Fusion        string  `yaml:"fusion"`
	LexicalWeight float64 `yaml:"lexical_weight"`
}

// Validate reports every problem with the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Store != "" && !known(c.Store) {
		errs = append(errs, fmt.Errorf("retrieval.store: unknown store %q (want one of %v)", c.Store, Kinds))
	}
	for i, r := range c.Collections {
		errs = append(errs, r.validate(i)...)
	}
	if c.uses(Pgvector) {
		errs = append(errs, c.Pgvector.validate()...)
	}
	if c.uses(Weaviate) {
		errs = append(errs, c.Weaviate.validate()...)
	}
	if c.uses(Milvus) {
		errs = append(errs, c.Milvus.validate()...)
	}
	e := c.Embedded
	if e.Dir != "" && (filepath.IsAbs(e.Dir) || !filepath.IsLocal(e.Dir)) {
		errs = append(errs, fmt.Errorf("retrieval.embedded.dir: %q must be a relative path inside the data dir", e.Dir))
	}
	if e.M < 0 || e.M > 128 {
		errs = append(errs, errors.New("retrieval.embedded.m: must be 0..128"))
	}
	if e.EfConstruction < 0 || e.EfConstruction > 4096 {
		errs = append(errs, errors.New("retrieval.embedded.ef_construction: must be 0..4096"))
	}
	if e.EfSearch < 0 || e.EfSearch > 4096 {
		errs = append(errs, errors.New("retrieval.embedded.ef_search: must be 0..4096"))
	}
	if e.K1 < 0 || e.K1 > 10 {
		errs = append(errs, errors.New("retrieval.embedded.bm25_k1: must be 0..10"))
	}
	if e.B < 0 || e.B > 1 {
		errs = append(errs, errors.New("retrieval.embedded.bm25_b: must be 0..1"))
	}
	switch e.Fusion {
	case "", embedded.FusionWeighted, embedded.FusionRRF:
	default:
		errs = append(errs, fmt.Errorf("retrieval.embedded.fusion: unknown fusion %q", e.Fusion))
	}
	if e.LexicalWeight < 0 || e.LexicalWeight >= 1 {
		errs = append(errs, errors.New("retrieval.embedded.lexical_weight: must be in [0,1)"))
	}
	return errors.Join(errs...)
}

func (p PgvectorConfig) validate() []error {
	var errs []error
	if p.DSN == "" && p.DSNEnv == "" {
		errs = append(errs, errors.New("retrieval.pgvector: dsn_env (or dsn) is required"))
	}
	if p.M < 0 || p.M > 100 {
		errs = append(errs, errors.New("retrieval.pgvector.m: must be 0..100"))
	}
	if p.EfConstruction < 0 || p.EfConstruction > 1000 {
		errs = append(errs, errors.New("retrieval.pgvector.ef_construction: must be 0..1000"))
	}
	if p.EfSearch < 0 || p.EfSearch > 1000 {
		errs = append(errs, errors.New("retrieval.pgvector.ef_search: must be 0..1000"))
	}
	switch p.Fusion {
	case "", pgvector.FusionWeighted, pgvector.FusionRRF:
	default:
		errs = append(errs, fmt.Errorf("retrieval.pgvector.fusion: unknown fusion %q", p.Fusion))
	}
	if p.LexicalWeight < 0 || p.LexicalWeight >= 1 {
		errs = append(errs, errors.New("retrieval.pgvector.lexical_weight: must be in [0,1)"))
	}
	if p.MaxConns < 0 || p.MaxConns > 1000 {
		errs = append(errs, errors.New("retrieval.pgvector.max_conns: must be 0..1000"))
	}
	if p.AcquireTimeout < 0 {
		errs = append(errs, errors.New("retrieval.pgvector.acquire_timeout: must not be negative"))
	}
	return errs
}

// Default is the default kind.
func (c Config) Default() string {
	if c.Store == "" {
		return Embedded
	}
	return c.Store
}

// uses reports whether the default or a rule names kind.
func (c Config) uses(kind string) bool {
	if c.Default() == kind {
		return true
	}
	return slices.ContainsFunc(c.Collections, func(r CollectionRule) bool { return r.Store == kind })
}

// Open validates cfg and opens the stores it uses, keeping files under
// dataDir: the default store alone, or a Router over the default and the
// kinds the collection rules name.
func Open(ctx context.Context, cfg Config, dataDir string) (Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	def, err := OpenKind(ctx, cfg, cfg.Default(), dataDir)
	if err != nil || len(cfg.Collections) == 0 {
		return def, err
	}
	r := &Router{def: cfg.Default(), rules: cfg.Collections, stores: map[string]Store{cfg.Default(): def}}
	for _, rule := range cfg.Collections {
		if r.stores[rule.Store] != nil {
			continue
		}
		s, err := OpenKind(ctx, cfg, rule.Store, dataDir)
		if err != nil {
			_ = r.Close()
			return nil, err
		}
		r.stores[rule.Store] = s
	}
	return r, nil
}

// OpenKind opens the store of one kind with its settings in cfg, whether
// or not cfg uses it: migrations open both ends this way.
func OpenKind(ctx context.Context, cfg Config, kind, dataDir string) (Store, error) {
	switch kind {
	case Embedded:
		e := cfg.Embedded
		dir := e.Dir
		if dir == "" {
			dir = "retrieval"
		}
		s, err := embedded.Open(ctx, filepath.Join(dataDir, dir), embedded.Options{
			M: e.M, EfConstruction: e.EfConstruction, EfSearch: e.EfSearch,
			K1: e.K1, B: e.B, Fusion: e.Fusion, LexicalWeight: e.LexicalWeight,
		})
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return s, nil
	case Pgvector:
		p := cfg.Pgvector
		if errs := p.validate(); len(errs) > 0 {
			return nil, fmt.Errorf("open store: %w", errors.Join(errs...))
		}
		if p.DSN == "" {
			return nil, fmt.Errorf("open store: retrieval.pgvector.dsn is empty (is %s set?)", p.DSNEnv)
		}
		s, err := pgvector.Open(ctx, p.DSN.Reveal(), pgvector.Options{
			Schema: p.Schema, M: p.M, EfConstruction: p.EfConstruction, EfSearch: p.EfSearch,
			Fusion: p.Fusion, LexicalWeight: p.LexicalWeight,
			MaxConns: p.MaxConns, AcquireTimeout: p.AcquireTimeout,
		})
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return s, nil
	case Weaviate:
		s, err := openWeaviate(ctx, cfg.Weaviate)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return s, nil
	case Milvus:
		s, err := openMilvus(ctx, cfg.Milvus)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("open store: unknown store %q (want one of %v)", kind, Kinds)
}
