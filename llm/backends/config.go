package backends

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/batch"
	"github.com/ragway/ragway/llm/resilience"
)

// Backend types.
const (
	TypeOpenAI  = "openai"  // any OpenAI-compatible server: vLLM, TGI, llama.cpp, OpenAI
	TypeOllama  = "ollama"  // Ollama's native API
	TypeBuiltin = "builtin" // the in-process extractive answerer and lexical embedder
)

// Config is one entry of the config file's "backends" list.
type Config struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`
	// URL is the base URL of a single replica; URLs lists several. For type
	// openai it includes the /v1 prefix (http://host:8000/v1); for ollama it
	// is the server root (http://host:11434).
	URL  string   `yaml:"url"`
	URLs []string `yaml:"urls"`
	// APIKeyEnv names the environment variable holding the API key; the
	// composition root resolves it into APIKey.
	APIKeyEnv string     `yaml:"api_key_env"`
	APIKey    llm.Secret `yaml:"-"`
	// Headers are added to every upstream request.
	Headers map[string]string `yaml:"headers"`
	// Discover exposes every model the backend lists as a route of the same
	// name (unless a configured route already has that name).
	Discover bool `yaml:"discover"`
	// Optional backends may be unreachable at start without failing it.
	Optional bool `yaml:"optional"`

	Timeouts Timeouts           `yaml:"timeouts"`
	Retry    resilience.Retry   `yaml:"retry"`
	Breaker  resilience.Breaker `yaml:"breaker"`
	Batch    batch.Config       `yaml:"batch"`
	// MaxIdleConnsPerReplica bounds idle keep-alive connections per replica.
	MaxIdleConnsPerReplica int `yaml:"max_idle_conns_per_replica"`
}

// Timeouts bound each phase of an upstream call.
type Timeouts struct {
	// Connect bounds establishing a TCP connection.
	Connect time.Duration `yaml:"connect"`
	// Response bounds the wait for the response headers (time to first byte).
	Response time.Duration `yaml:"response"`
	// StreamIdle bounds the gap between two streamed chunks; a stalled stream
	// fails with llm.ErrTimeout.
	StreamIdle time.Duration `yaml:"stream_idle"`
}

// DefaultTimeouts are used for fields left at zero.
var DefaultTimeouts = Timeouts{Connect: 2 * time.Second, Response: 120 * time.Second, StreamIdle: 60 * time.Second}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Timeouts.Connect == 0 {
		c.Timeouts.Connect = DefaultTimeouts.Connect
	}
	if c.Timeouts.Response == 0 {
		c.Timeouts.Response = DefaultTimeouts.Response
	}
	if c.Timeouts.StreamIdle == 0 {
		c.Timeouts.StreamIdle = DefaultTimeouts.StreamIdle
	}
	if c.MaxIdleConnsPerReplica == 0 {
		c.MaxIdleConnsPerReplica = 256
	}
	c.Retry = c.Retry.WithDefaults()
	c.Breaker = c.Breaker.WithDefaults()
	c.Batch = c.Batch.WithDefaults()
	return c
}

// ReplicaURLs returns URL and URLs together.
func (c Config) ReplicaURLs() []string {
	var out []string
	if c.URL != "" {
		out = append(out, c.URL)
	}
	return append(out, c.URLs...)
}

// Validate reports every problem, each prefixed with the backend's name.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("backend %q: "+format, append([]any{c.Name}, args...)...))
	}
	if c.Name == "" {
		add("name is required")
	}
	switch c.Type {
	case TypeOpenAI, TypeOllama:
		urls := c.ReplicaURLs()
		if len(urls) == 0 {
			add("url or urls is required for type %s", c.Type)
		}
		for _, u := range urls {
			p, err := url.Parse(u)
			if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				add("url %q must be an absolute http(s) URL", u)
			}
		}
	case TypeBuiltin:
		if len(c.ReplicaURLs()) > 0 {
			add("type builtin takes no url")
		}
	case "":
		add("type is required (openai, ollama or builtin)")
	default:
		add("unknown type %q (want openai, ollama or builtin)", c.Type)
	}
	if c.Timeouts.Connect < 0 || c.Timeouts.Response < 0 || c.Timeouts.StreamIdle < 0 {
		add("timeouts must not be negative")
	}
	for _, err := range []error{c.Retry.Validate(), c.Breaker.Validate(), c.Batch.Validate()} {
		if err != nil {
			add("%w", err)
		}
	}
	return errors.Join(errs...)
}
