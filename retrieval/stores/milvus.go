//go:build milvus

package stores

import (
	"context"
	"fmt"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/retrieval/milvus"
)

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
