package limits

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ragway/ragway/llm"
)

// Scopes a rule applies at.
const (
	ScopeKey    = "key"
	ScopeTenant = "tenant"
	ScopeModel  = "model"
	ScopeGlobal = "global"
)

// Stores and Redis failure modes.
const (
	StoreMemory = "memory"
	StoreRedis  = "redis"
	FailOpen    = "fail_open"
	FailClosed  = "fail_closed"
)

// Budget periods (calendar periods in UTC).
const (
	PeriodDay   = "day"
	PeriodMonth = "month"
)

// Config is the limits section of the policy file.
type Config struct {
	// Store is "memory" (default; one process) or "redis" (shared).
	Store string      `yaml:"store"`
	Redis RedisConfig `yaml:"redis"`
	// OnRedisError is "fail_open" (default: admit, unmetered) or
	// "fail_closed" (reject) when Redis cannot be reached.
	OnRedisError string `yaml:"on_redis_error"`
	// CompletionReserve bounds the completion tokens Acquire reserves on
	// top of the prompt: min(max_tokens, CompletionReserve), or
	// CompletionReserve when max_tokens is not set. Release reconciles.
	// Default 1024; -1 reserves the prompt only.
	CompletionReserve int `yaml:"completion_reserve"`
	// LeaseTTL is how long a concurrency slot is held at most if its lease
	// is never released (a replica died). Default 10m. A request running
	// longer stops counting toward concurrency after it.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	Rules    []Rule        `yaml:"rules"`
}

// RedisConfig addresses the shared store.
type RedisConfig struct {
	Addr     string     `yaml:"addr"`
	Password llm.Secret `yaml:"password"`
	DB       int        `yaml:"db"`
	// KeyPrefix namespaces every key (default "ragway:limits:").
	KeyPrefix    string        `yaml:"key_prefix"`
	DialTimeout  time.Duration `yaml:"dial_timeout"`
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	PoolSize     int           `yaml:"pool_size"`
}

// Rule is one limit declaration.
type Rule struct {
	// Name identifies the rule's state; it defaults to "<scope>:<match>".
	// State survives a reload as long as the name (and the limit kind) stays.
	Name string `yaml:"name"`
	// Scope is key, tenant, model or global. Key, tenant and model rules
	// hold a separate limit for each distinct key, tenant or model that
	// matches; a global rule is one limit shared by every request.
	Scope string `yaml:"scope"`
	// Match is a glob ('*' any run, '?' one character) over the key id,
	// tenant or model name. Empty matches everything. Ignored for global.
	Match string `yaml:"match"`

	RequestsPerSecond int64 `yaml:"requests_per_second"`
	RequestsPerMinute int64 `yaml:"requests_per_minute"`
	// Burst is how many requests may arrive at once under the request
	// rates; it defaults to the rate itself (a full second or minute).
	Burst           int64   `yaml:"burst"`
	TokensPerMinute int64   `yaml:"tokens_per_minute"`
	Concurrency     int64   `yaml:"concurrency"`
	Budget          *Budget `yaml:"budget"`
}

// Budget is a token budget per calendar period.
type Budget struct {
	Tokens int64  `yaml:"tokens"`
	Period string `yaml:"period"`
}

// Defaults.
const (
	DefaultCompletionReserve = 1024
	DefaultLeaseTTL          = 10 * time.Minute
	DefaultKeyPrefix         = "ragway:limits:"
	maxRules                 = 1000
	maxLimit                 = 1 << 40
	// GCRA cells keep microsecond times in float64s (see Epoch); these
	// bounds keep one unit at least 0.06µs.
	maxRequestsPerSecond = 1_000_000
	maxTokensPerMinute   = 1_000_000_000
)

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.Store == "" {
		c.Store = StoreMemory
	}
	if c.OnRedisError == "" {
		c.OnRedisError = FailOpen
	}
	if c.CompletionReserve == 0 {
		c.CompletionReserve = DefaultCompletionReserve
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	c.Redis = c.Redis.WithDefaults()
	rules := make([]Rule, len(c.Rules))
	for i, r := range c.Rules {
		if r.Match == "" || r.Scope == ScopeGlobal {
			r.Match = "*"
		}
		if r.Name == "" {
			r.Name = r.Scope + ":" + r.Match
		}
		rules[i] = r
	}
	c.Rules = rules
	return c
}

// WithDefaults fills zero fields.
func (r RedisConfig) WithDefaults() RedisConfig {
	if r.KeyPrefix == "" {
		r.KeyPrefix = DefaultKeyPrefix
	}
	if r.DialTimeout == 0 {
		r.DialTimeout = time.Second
	}
	if r.ReadTimeout == 0 {
		r.ReadTimeout = 500 * time.Millisecond
	}
	if r.WriteTimeout == 0 {
		r.WriteTimeout = 500 * time.Millisecond
	}
	return r
}

// Validate reports every problem; call it on a config with defaults.
func (c Config) Validate() error {
	var errs []error
	switch c.Store {
	case StoreMemory:
	case StoreRedis:
		if c.Redis.Addr == "" {
			errs = append(errs, errors.New("limits.redis.addr is required with store redis"))
		}
		if c.Redis.DB < 0 || c.Redis.DB > 15 {
			errs = append(errs, errors.New("limits.redis.db must be between 0 and 15"))
		}
		if c.Redis.DialTimeout < 0 || c.Redis.ReadTimeout < 0 || c.Redis.WriteTimeout < 0 || c.Redis.PoolSize < 0 {
			errs = append(errs, errors.New("limits.redis timeouts and pool_size must not be negative"))
		}
	default:
		errs = append(errs, fmt.Errorf("limits.store %q must be memory or redis", c.Store))
	}
	if c.OnRedisError != FailOpen && c.OnRedisError != FailClosed {
		errs = append(errs, fmt.Errorf("limits.on_redis_error %q must be fail_open or fail_closed", c.OnRedisError))
	}
	if c.CompletionReserve < -1 || c.CompletionReserve > maxLimit {
		errs = append(errs, errors.New("limits.completion_reserve must be -1 or more"))
	}
	if c.LeaseTTL < time.Second {
		errs = append(errs, errors.New("limits.lease_ttl must be at least 1s"))
	}
	if len(c.Rules) > maxRules {
		errs = append(errs, fmt.Errorf("limits.rules: %d rules is more than %d", len(c.Rules), maxRules))
	}
	seen := map[string]bool{}
	for i, r := range c.Rules {
		if err := r.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("limits.rules[%d]: %w", i, err))
		}
		if seen[r.Name] {
			errs = append(errs, fmt.Errorf("limits.rules[%d]: name %q is used twice", i, r.Name))
		}
		seen[r.Name] = true
	}
	return errors.Join(errs...)
}

// Validate reports every problem of one rule.
func (r Rule) Validate() error {
	var errs []error
	switch r.Scope {
	case ScopeKey, ScopeTenant, ScopeModel, ScopeGlobal:
	default:
		errs = append(errs, fmt.Errorf("scope %q must be key, tenant, model or global", r.Scope))
	}
	if len(r.Name) > 200 || len(r.Match) > 200 {
		errs = append(errs, errors.New("name and match must be at most 200 bytes"))
	}
	for _, f := range []struct {
		name   string
		v, max int64
	}{
		{"requests_per_second", r.RequestsPerSecond, maxRequestsPerSecond},
		{"requests_per_minute", r.RequestsPerMinute, 60 * maxRequestsPerSecond},
		{"burst", r.Burst, maxLimit},
		{"tokens_per_minute", r.TokensPerMinute, maxTokensPerMinute},
		{"concurrency", r.Concurrency, maxLimit},
	} {
		if f.v < 0 || f.v > f.max {
			errs = append(errs, fmt.Errorf("%s must be between 0 and %d", f.name, f.max))
		}
	}
	if r.Burst > 0 && r.RequestsPerSecond == 0 && r.RequestsPerMinute == 0 {
		errs = append(errs, errors.New("burst needs requests_per_second or requests_per_minute"))
	}
	if r.Budget != nil {
		if r.Budget.Tokens <= 0 || r.Budget.Tokens > maxLimit {
			errs = append(errs, errors.New("budget.tokens must be positive"))
		}
		if r.Budget.Period != PeriodDay && r.Budget.Period != PeriodMonth {
			errs = append(errs, fmt.Errorf("budget.period %q must be day or month", r.Budget.Period))
		}
		if r.Scope != ScopeKey && r.Scope != ScopeTenant {
			errs = append(errs, errors.New("budget applies to key and tenant scopes only"))
		}
	}
	if r.RequestsPerSecond == 0 && r.RequestsPerMinute == 0 && r.TokensPerMinute == 0 && r.Concurrency == 0 && r.Budget == nil {
		errs = append(errs, errors.New("rule sets no limit"))
	}
	return errors.Join(errs...)
}

// Parse decodes a limits config strictly (unknown fields are errors),
// applies defaults and validates it.
func Parse(data []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("parse limits: %w", err)
	}
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("parse limits: %w", err)
	}
	return c, nil
}
