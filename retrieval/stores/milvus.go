package stores

import (
	"context"
	"fmt"
	"time"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/retrieval/milvus"
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

func (m MilvusConfig) options() milvus.Options {
	return milvus.Options{
		Address: m.Address, Username: m.Username, Password: m.Password, Token: m.Token, TLS: m.TLS,
		Database: m.Database, Prefix: m.Prefix, M: m.M, EfConstruction: m.EfConstruction, Ef: m.Ef,
		Analyzer: m.Analyzer, Consistency: m.Consistency, Fusion: m.Fusion, LexicalWeight: m.LexicalWeight,
		RequestTimeout: m.RequestTimeout, MaxConcurrency: m.MaxConcurrency, AcquireTimeout: m.AcquireTimeout,
		ServerVersion: m.ServerVersion,
	}
}

func (m MilvusConfig) validate() []error {
	if err := m.options().Validate(); err != nil {
		return []error{fmt.Errorf("retrieval.milvus: %w", err)}
	}
	return nil
}

func openMilvus(ctx context.Context, m MilvusConfig) (Store, error) {
	for env, v := range map[string]llm.Secret{m.PasswordEnv: m.Password, m.TokenEnv: m.Token} {
		if env != "" && v == "" {
			return nil, fmt.Errorf("retrieval.milvus: %s is empty or unset", env)
		}
	}
	return milvus.Open(ctx, m.options())
}
