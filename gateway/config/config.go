// Package config is Ragway's one configuration tree: strict YAML over
// documented defaults, with environment variables overlaying secrets.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ragway/ragway/gateway/heapfloor"
	"github.com/ragway/ragway/gateway/sysmon"
	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/backends"
	"github.com/ragway/ragway/policies/jwtauth"
	"github.com/ragway/ragway/policies/keys"
	"github.com/ragway/ragway/policies/limits"
	"github.com/ragway/ragway/policies/rbac"
	"github.com/ragway/ragway/policies/routing"
)

// Config is the whole configuration.
type Config struct {
	Server    Server            `yaml:"server"`
	DataDir   string            `yaml:"data_dir"`
	Log       Log               `yaml:"log"`
	Telemetry Telemetry         `yaml:"telemetry"`
	Backends  []backends.Config `yaml:"backends"`
	Routes    []routing.Route   `yaml:"routes"`
	Discovery Discovery         `yaml:"discovery"`
	Auth      Auth              `yaml:"auth"`
	Roles     []rbac.Role       `yaml:"roles"`
	Limits    limits.Config     `yaml:"limits"`
	Usage     Usage             `yaml:"usage"`
	Ingest    Ingest            `yaml:"ingest"`
}

// Auth configures who may call the gateway.
type Auth struct {
	// Anonymous admits callers that send no credential as a fixed
	// principal. Off unless set; the no-config default turns it on for its
	// loopback listener.
	Anonymous Anonymous      `yaml:"anonymous"`
	Keys      keys.Config    `yaml:"keys"`
	JWT       jwtauth.Config `yaml:"jwt"`
}

// Anonymous is the principal of callers without a credential.
type Anonymous struct {
	Enabled bool     `yaml:"enabled"`
	Tenant  string   `yaml:"tenant"`
	Roles   []string `yaml:"roles"`
}

// Usage configures usage accounting.
type Usage struct {
	// FlushInterval is how often usage rows are written to the database.
	FlushInterval time.Duration `yaml:"flush_interval"`
}

// Server configures the HTTP listener.
type Server struct {
	Addr string `yaml:"addr"`
	// MaxBodyBytes bounds a request body; larger ones get 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ReadHeaderTimeout bounds reading request headers.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ShutdownTimeout bounds how long in-flight requests and streams may run
	// after a shutdown signal.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// AllowTargetHeader honours X-Ragway-Target (force a route's target) from
	// every caller. Access control narrows this to roles that may.
	AllowTargetHeader bool `yaml:"allow_target_header"`
	// ShadowConcurrency bounds shadow calls in flight; copies beyond it are
	// dropped and counted.
	ShadowConcurrency int `yaml:"shadow_concurrency"`
	// ShadowTimeout bounds one shadow call.
	ShadowTimeout time.Duration `yaml:"shadow_timeout"`
	// Role is what the process does: "all" (default) serves the API and
	// indexes files, "gateway" only serves the API (it queues ingestion
	// jobs for workers), "worker" only indexes files and serves /healthz,
	// /readyz and /metrics.
	Role string `yaml:"role"`
	// GCMinHeapBytes is the floor under the Go heap goal (see
	// gateway/heapfloor): with a small live heap the runtime would collect
	// every few megabytes, and each collection delays the requests that
	// overlap it. 8 MiB by default; -1 leaves the runtime's own minimum.
	// GOGC in the environment overrides it. Read at start-up only.
	GCMinHeapBytes int64 `yaml:"gc_min_heap_bytes"`
	// RuntimeMonitor is the scheduling priority of the Go runtime's
	// monitor thread (see gateway/sysmon): "auto" (default: idle on a
	// process that may use one CPU only, else normal), "normal", "low"
	// (nice 19) or "idle" (SCHED_IDLE); low and idle also give it a 1 ms
	// timer slack (Linux). On one CPU the monitor, woken by the first
	// system call after idle, interrupts requests; at idle it waits for
	// the CPU instead. Read at start-up only.
	RuntimeMonitor string `yaml:"runtime_monitor"`
}

// Roles of a process.
const (
	RoleAll     = "all"
	RoleGateway = "gateway"
	RoleWorker  = "worker"
)

// Log configures structured logs.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // json or text
	// Prompts adds request messages to access logs. Off by default.
	Prompts bool `yaml:"prompts"`
}

// Telemetry configures OpenTelemetry tracing.
type Telemetry struct {
	// OTLPEndpoint is an OTLP/HTTP endpoint: host:port, a collector's base
	// URL (spans go to its /v1/traces) or a full URL with a path (used as
	// it is). Empty disables trace export.
	OTLPEndpoint string  `yaml:"otlp_endpoint"`
	Insecure     bool    `yaml:"insecure"`
	ServiceName  string  `yaml:"service_name"`
	SampleRatio  float64 `yaml:"sample_ratio"`
}

// Discovery configures how models listed by backends with discover: true
// become routes.
type Discovery struct {
	Interval time.Duration `yaml:"interval"`
	Timeout  time.Duration `yaml:"timeout"`
}

// Builtin names the always-present in-process backend and its models.
const (
	BuiltinBackend    = "builtin"
	BuiltinChatModel  = "ragway-extractive"
	BuiltinEmbedModel = "ragway-lexical"
	LocalOllamaURL    = "http://127.0.0.1:11434"
)

// Default returns the configuration used when no file is given, with the
// environment overlaid and validated: the gateway on
// 127.0.0.1:8080, data in ./data, the built-in backend, and a local Ollama
// whose models are served if it answers.
func Default(getenv func(string) string) (*Config, error) {
	c := &Config{
		Backends: []backends.Config{
			{Name: "ollama", Type: backends.TypeOllama, URL: LocalOllamaURL, Discover: true, Optional: true},
		},
		// The default listener is loopback only: local callers need no key.
		Auth: Auth{Anonymous: Anonymous{Enabled: true, Tenant: "default", Roles: []string{rbac.RoleAdmin}}},
	}
	c.applyDefaults()
	if err := c.overlayEnv(getenv); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) applyDefaults() {
	s := &c.Server
	if s.Addr == "" {
		s.Addr = "127.0.0.1:8080"
	}
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = 16 << 20
	}
	if s.ReadHeaderTimeout == 0 {
		s.ReadHeaderTimeout = 10 * time.Second
	}
	if s.ShutdownTimeout == 0 {
		s.ShutdownTimeout = 30 * time.Second
	}
	if s.ShadowConcurrency == 0 {
		s.ShadowConcurrency = 64
	}
	if s.ShadowTimeout == 0 {
		s.ShadowTimeout = 60 * time.Second
	}
	if s.Role == "" {
		s.Role = RoleAll
	}
	if s.RuntimeMonitor == "" {
		s.RuntimeMonitor = sysmon.Auto
	}
	if s.GCMinHeapBytes == 0 {
		s.GCMinHeapBytes = heapfloor.DefaultBytes
	}
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	c.Ingest = c.Ingest.WithDefaults()
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "json"
	}
	if c.Telemetry.ServiceName == "" {
		c.Telemetry.ServiceName = "ragway"
	}
	if c.Telemetry.SampleRatio == 0 {
		c.Telemetry.SampleRatio = 1
	}
	if c.Discovery.Interval == 0 {
		c.Discovery.Interval = 30 * time.Second
	}
	if c.Discovery.Timeout == 0 {
		c.Discovery.Timeout = 2 * time.Second
	}
	if c.Auth.Anonymous.Enabled && c.Auth.Anonymous.Tenant == "" {
		c.Auth.Anonymous.Tenant = "default"
	}
	if c.Auth.Anonymous.Enabled && len(c.Auth.Anonymous.Roles) == 0 {
		c.Auth.Anonymous.Roles = []string{rbac.RoleUser}
	}
	c.Auth.Keys = c.Auth.Keys.WithDefaults()
	c.Auth.JWT = c.Auth.JWT.WithDefaults()
	c.Roles = rbac.WithDefaults(c.Roles)
	c.Limits = c.Limits.WithDefaults()
	if c.Usage.FlushInterval == 0 {
		c.Usage.FlushInterval = 5 * time.Second
	}
	c.addBuiltin()
	for i := range c.Backends {
		c.Backends[i] = c.Backends[i].WithDefaults()
	}
}

// addBuiltin adds the built-in backend and its routes unless the file
// already defines them.
func (c *Config) addBuiltin() {
	hasBackend := false
	for _, b := range c.Backends {
		if b.Name == BuiltinBackend {
			hasBackend = true
		}
	}
	if !hasBackend {
		c.Backends = append(c.Backends, backends.Config{Name: BuiltinBackend, Type: backends.TypeBuiltin})
	}
	for _, m := range []string{BuiltinChatModel, BuiltinEmbedModel} {
		found := false
		for _, r := range c.Routes {
			if r.Model == m {
				found = true
			}
		}
		if !found {
			c.Routes = append(c.Routes, routing.Route{
				Model:   m,
				Targets: []routing.Target{{Backend: BuiltinBackend, Model: m, Weight: 1}},
			})
		}
	}
}

// Parse decodes YAML strictly (unknown keys are errors), applies defaults,
// overlays the environment and validates. getenv is os.Getenv in production.
func Parse(data []byte, getenv func(string) string) (*Config, error) {
	c := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("parse config: more than one YAML document")
	}
	c.applyDefaults()
	if err := c.overlayEnv(getenv); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Load reads and parses a file.
func Load(path string, getenv func(string) string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, getenv)
}

// overlayEnv resolves secrets and the few fields environment variables may
// set: RAGWAY_ADDR, RAGWAY_DATA_DIR and RAGWAY_REDIS_PASSWORD.
func (c *Config) overlayEnv(getenv func(string) string) error {
	if getenv == nil {
		return nil
	}
	if v := getenv("RAGWAY_ADDR"); v != "" {
		c.Server.Addr = v
	}
	if v := getenv("RAGWAY_DATA_DIR"); v != "" {
		c.DataDir = v
	}
	if v := getenv("RAGWAY_REDIS_PASSWORD"); v != "" {
		c.Limits.Redis.Password = llm.Secret(v)
	}
	var errs []error
	secret := func(owner, env string, dst *llm.Secret) {
		if env == "" {
			return
		}
		v := getenv(env)
		if v == "" {
			errs = append(errs, fmt.Errorf("%s: environment variable %s is empty or unset", owner, env))
		}
		*dst = llm.Secret(v)
	}
	secret("auth.keys.postgres", c.Auth.Keys.Postgres.DSNEnv, &c.Auth.Keys.Postgres.DSN)
	secret("ingest", c.Ingest.PostgresDSNEnv, &c.Ingest.PostgresDSN)
	secret("ingest.embedder", c.Ingest.Embedder.APIKeyEnv, &c.Ingest.Embedder.APIKey)
	secret("ingest.retrieval.pgvector", c.Ingest.Retrieval.Pgvector.DSNEnv, &c.Ingest.Retrieval.Pgvector.DSN)
	secret("ingest.retrieval.weaviate", c.Ingest.Retrieval.Weaviate.APIKeyEnv, &c.Ingest.Retrieval.Weaviate.APIKey)
	secret("ingest.retrieval.milvus", c.Ingest.Retrieval.Milvus.PasswordEnv, &c.Ingest.Retrieval.Milvus.Password)
	secret("ingest.retrieval.milvus", c.Ingest.Retrieval.Milvus.TokenEnv, &c.Ingest.Retrieval.Milvus.Token)
	secret("ingest.redis", c.Ingest.Redis.PasswordEnv, &c.Ingest.Redis.Password)
	secret("auth.keys", c.Auth.Keys.PepperEnv, &c.Auth.Keys.Pepper)
	for i := range c.Auth.JWT.Issuers {
		is := &c.Auth.JWT.Issuers[i]
		secret(fmt.Sprintf("auth.jwt issuer %q", is.Issuer), is.HMACSecretEnv, &is.HMACSecret)
	}
	for i := range c.Backends {
		b := &c.Backends[i]
		if b.APIKeyEnv == "" {
			continue
		}
		v := getenv(b.APIKeyEnv)
		if v == "" {
			errs = append(errs, fmt.Errorf("backend %q: environment variable %s is empty or unset", b.Name, b.APIKeyEnv))
		}
		b.APIKey = llm.Secret(v)
	}
	return errors.Join(errs...)
}

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Server.Addr); err != nil {
		errs = append(errs, fmt.Errorf("server.addr %q: %w", c.Server.Addr, err))
	}
	if c.Server.MaxBodyBytes < 1024 {
		errs = append(errs, errors.New("server.max_body_bytes must be at least 1024"))
	}
	if c.Server.ShutdownTimeout < 0 || c.Server.ReadHeaderTimeout < 0 || c.Server.ShadowTimeout < 0 {
		errs = append(errs, errors.New("server timeouts must not be negative"))
	}
	if !sysmon.Valid(c.Server.RuntimeMonitor) {
		errs = append(errs, fmt.Errorf("server.runtime_monitor %q: want %s, %s, %s or %s", c.Server.RuntimeMonitor,
			sysmon.Auto, sysmon.Normal, sysmon.Low, sysmon.Idle))
	}
	if c.Server.GCMinHeapBytes < -1 {
		errs = append(errs, errors.New("server.gc_min_heap_bytes must be -1 (off) or a size in bytes"))
	}
	if c.Server.ShadowConcurrency < 0 {
		errs = append(errs, errors.New("server.shadow_concurrency must not be negative"))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level must be debug, info, warn or error, not %q", c.Log.Level))
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		errs = append(errs, fmt.Errorf("log.format must be json or text, not %q", c.Log.Format))
	}
	if r := c.Telemetry.SampleRatio; r < 0 || r > 1 {
		errs = append(errs, errors.New("telemetry.sample_ratio must be in [0, 1]"))
	}
	if c.Discovery.Interval < time.Second || c.Discovery.Timeout <= 0 {
		errs = append(errs, errors.New("discovery.interval must be at least 1s and discovery.timeout positive"))
	}
	names := make(map[string]bool, len(c.Backends))
	for _, b := range c.Backends {
		if err := b.Validate(); err != nil {
			errs = append(errs, err)
		}
		if names[b.Name] {
			errs = append(errs, fmt.Errorf("backend %q: duplicate name", b.Name))
		}
		names[b.Name] = true
	}
	if err := routing.Validate(c.Routes, names); err != nil {
		errs = append(errs, err)
	}
	switch c.Server.Role {
	case RoleAll, RoleGateway, RoleWorker:
	default:
		errs = append(errs, fmt.Errorf("server.role must be all, gateway or worker, not %q", c.Server.Role))
	}
	if err := c.Ingest.Validate(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.validateAccess()...)
	return errors.Join(errs...)
}

func (c *Config) validateAccess() []error {
	var errs []error
	checks := []error{c.Auth.Keys.Validate(), rbac.Validate(c.Roles), c.Limits.Validate()}
	if len(c.Auth.JWT.Issuers) > 0 {
		checks = append(checks, c.Auth.JWT.Validate())
	}
	for _, err := range checks {
		if err != nil {
			errs = append(errs, err)
		}
	}
	known := map[string]bool{}
	for _, r := range c.Roles {
		known[r.Name] = true
	}
	if a := c.Auth.Anonymous; a.Enabled {
		for _, r := range a.Roles {
			if !known[r] {
				errs = append(errs, fmt.Errorf("auth.anonymous: unknown role %q", r))
			}
		}
	}
	if c.Usage.FlushInterval < 100*time.Millisecond {
		errs = append(errs, errors.New("usage.flush_interval must be at least 100ms"))
	}
	return errs
}
