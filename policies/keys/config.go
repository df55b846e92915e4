package keys

import (
	"errors"
	"fmt"
	"time"

	"github.com/ragway/ragway/llm"
)

// Store kinds.
const (
	StoreEmbedded = "embedded" // SQLite file in the data dir
	StorePostgres = "postgres"
)

// Config is the "keys" section of the config file.
type Config struct {
	// Store is "embedded" (default) or "postgres".
	Store string `yaml:"store"`
	// Path is the SQLite file of the embedded store; relative to the data
	// dir, "keys.db" by default.
	Path     string   `yaml:"path"`
	Postgres Postgres `yaml:"postgres"`
	// CacheTTL bounds how long a replica trusts a verified key without
	// asking the store, and so how long a revocation takes to reach it.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// NegativeCacheTTL is how long a rejected key is remembered.
	NegativeCacheTTL time.Duration `yaml:"negative_cache_ttl"`
	// CacheSize bounds the cached acceptances (and, apart, rejections).
	CacheSize int `yaml:"cache_size"`
	// RotationGrace is how long a rotated key keeps working; 0 (default)
	// ends it at once.
	RotationGrace time.Duration `yaml:"rotation_grace"`
	// Pepper, when set, hashes new keys with HMAC-SHA-256. PepperEnv names
	// the environment variable the composition root reads it from.
	Pepper    llm.Secret `yaml:"pepper"`
	PepperEnv string     `yaml:"pepper_env"`
}

// Postgres configures the PostgreSQL store.
type Postgres struct {
	// DSN is a libpq URL or key=value string; DSNEnv names the environment
	// variable the composition root reads it from.
	DSN    llm.Secret `yaml:"dsn"`
	DSNEnv string     `yaml:"dsn_env"`
	// MaxConns bounds the connection pool; pgx's default when 0.
	MaxConns int32 `yaml:"max_conns"`
}

// Config bounds.
const (
	MaxCacheTTL      = time.Minute
	MaxRotationGrace = 30 * 24 * time.Hour
	MinPepperLen     = 16
)

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.Store == "" {
		c.Store = StoreEmbedded
	}
	if c.Path == "" {
		c.Path = "keys.db"
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = DefaultCacheTTL
	}
	if c.NegativeCacheTTL == 0 {
		c.NegativeCacheTTL = DefaultNegativeCacheTTL
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	return c
}

// Validate reports every problem. Run it after secrets are resolved from
// their environment variables.
func (c Config) Validate() error {
	var errs []error
	switch c.Store {
	case StoreEmbedded:
		if c.Path == "" {
			errs = append(errs, errors.New("keys.path is required for the embedded store"))
		}
	case StorePostgres:
		if c.Postgres.DSN == "" && c.Postgres.DSNEnv == "" {
			errs = append(errs, errors.New("keys.postgres.dsn or keys.postgres.dsn_env is required for the postgres store"))
		}
		if c.Postgres.MaxConns < 0 {
			errs = append(errs, errors.New("keys.postgres.max_conns must not be negative"))
		}
	default:
		errs = append(errs, fmt.Errorf("keys.store %q must be %q or %q", c.Store, StoreEmbedded, StorePostgres))
	}
	if c.CacheTTL <= 0 || c.CacheTTL > MaxCacheTTL {
		errs = append(errs, fmt.Errorf("keys.cache_ttl must be above 0 and at most %s", MaxCacheTTL))
	}
	if c.NegativeCacheTTL <= 0 || c.NegativeCacheTTL > MaxCacheTTL {
		errs = append(errs, fmt.Errorf("keys.negative_cache_ttl must be above 0 and at most %s", MaxCacheTTL))
	}
	if c.CacheSize <= 0 {
		errs = append(errs, errors.New("keys.cache_size must be positive"))
	}
	if c.RotationGrace < 0 || c.RotationGrace > MaxRotationGrace {
		errs = append(errs, fmt.Errorf("keys.rotation_grace must be between 0 and %s", MaxRotationGrace))
	}
	if c.Pepper != "" && len(c.Pepper.Reveal()) < MinPepperLen {
		errs = append(errs, fmt.Errorf("keys.pepper must be at least %d bytes", MinPepperLen))
	}
	return errors.Join(errs...)
}

// ServiceOptions returns the Service options this config sets.
func (c Config) ServiceOptions() Options {
	return Options{Pepper: c.Pepper, RotationGrace: c.RotationGrace}
}

// CacheOptions returns the Cache options this config sets.
func (c Config) CacheOptions() CacheOptions {
	return CacheOptions{TTL: c.CacheTTL, NegativeTTL: c.NegativeCacheTTL, MaxEntries: c.CacheSize}
}
