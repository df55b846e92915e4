package stores_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/embedded"
	"github.com/ragway/ragway/retrieval/retrievaltest"
	"github.com/ragway/ragway/retrieval/stores"
)

func TestOpenEmbedded(t *testing.T) {
	retrievaltest.Run(t, func(t *testing.T, dir string) retrieval.Store {
		s, err := stores.Open(context.Background(), stores.Config{}, dir)
		require.NoError(t, err)
		require.IsType(t, &embedded.Store{}, s)
		return s
	})
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		ok   bool
	}{
		{"empty", ``, true},
		{"embedded", "store: embedded\nembedded:\n  dir: idx\n  m: 24\n  ef_search: 100\n  bm25_k1: 1.0\n  bm25_b: 0.6\n  fusion: rrf\n", true},
		{"weighted", "embedded:\n  fusion: weighted\n  lexical_weight: 0.8\n", true},
		{"unknown store", "store: pgvector\n", false},
		{"absolute dir", "embedded:\n  dir: /etc\n", false},
		{"escaping dir", "embedded:\n  dir: ../x\n", false},
		{"bad b", "embedded:\n  bm25_b: 2\n", false},
		{"bad fusion", "embedded:\n  fusion: max\n", false},
		{"bad weight", "embedded:\n  lexical_weight: 1\n", false},
		{"bad m", "embedded:\n  m: -1\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var cfg stores.Config
			dec := yaml.NewDecoder(strings.NewReader(tc.yaml))
			dec.KnownFields(true)
			if err := dec.Decode(&cfg); err != nil && tc.yaml != "" {
				require.NoError(t, err)
			}
			err := cfg.Validate()
			if tc.ok {
				require.NoError(t, err)
				s, err := stores.Open(context.Background(), cfg, t.TempDir())
				require.NoError(t, err)
				require.NoError(t, s.Close())
				return
			}
			require.Error(t, err)
			_, err = stores.Open(context.Background(), cfg, t.TempDir())
			require.Error(t, err)
		})
	}
}
