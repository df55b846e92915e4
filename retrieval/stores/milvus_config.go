package stores

import (
	"time"

	"github.com/ragway/ragway/llm"
)

// MilvusConfig connects and tunes the Milvus store; zero values are its
// defaults. Secrets come from the environment variables it names.
type MilvusConfig struct {
	// Address is host:port (default port 19530) or an http(s):// URL.
	Address     string     `yaml:"address"`
	Username    string     `yaml:"username"`
	PasswordEnv string     `yaml:"password_env"`
	Password    llm.Secret `yaml:"-"`
	// TokenEnv names the variable holding an API key (or user:password).
	TokenEnv       string        `yaml:"token_env"`
	Token          llm.Secret    `yaml:"-"`
	TLS            bool          `yaml:"tls"`
	Database       string        `yaml:"database"`
	Prefix         string        `yaml:"prefix"`
	M              int           `yaml:"m"`
	EfConstruction int           `yaml:"ef_construction"`
	Ef             int           `yaml:"ef"`
	Analyzer       string        `yaml:"analyzer"`
	Consistency    string        `yaml:"consistency"`
	Fusion         string        `yaml:"fusion"`
	LexicalWeight  float64       `yaml:"lexical_weight"`
	RequestTimeout time.Duration `yaml:"request_timeout"`
	MaxConcurrency int           `yaml:"max_concurrency"`
	AcquireTimeout time.Duration `yaml:"acquire_timeout"`
	// ServerVersion skips the version probe (e.g. "2.5.4").
	ServerVersion string `yaml:"server_version"`
}
