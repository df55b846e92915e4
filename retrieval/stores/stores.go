// Package stores turns configuration into a retrieval.Store: the one
// switch over the store implementations.
package stores

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/embedded"
)

// Store kinds.
const (
	Embedded = "embedded"
)

// Config chooses and tunes the store.
type Config struct {
	// Store is the implementation: "embedded" (the default).
	Store string `yaml:"store"`
	// Embedded tunes the embedded store.
	Embedded EmbeddedConfig `yaml:"embedded"`
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
	switch c.Store {
	case "", Embedded:
	default:
		errs = append(errs, fmt.Errorf("retrieval.store: unknown store %q (want %q)", c.Store, Embedded))
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

// Open validates cfg and opens the store it names, keeping its files under
// dataDir.
func Open(ctx context.Context, cfg Config, dataDir string) (retrieval.Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	switch cfg.Store {
	case "", Embedded:
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
	}
	return nil, fmt.Errorf("open store: unknown store %q", cfg.Store)
}
