package stores_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/embedded"
	"github.com/ragway/ragway/retrieval/pgvector"
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
		{"unknown store", "store: weaviate2\n", false},
		{"weaviate without url", "store: weaviate\n", false},
		{"milvus without address", "store: milvus\n", false},
		{"milvus bad consistency", "store: milvus\nmilvus:\n  address: 127.0.0.1:19530\n  consistency: sometimes\n", false},
		{"weaviate bad alpha", "store: weaviate\nweaviate:\n  url: http://127.0.0.1:1\n  alpha: 2\n", false},
		{"pgvector without dsn", "store: pgvector\n", false},
		{"pgvector bad m", "store: pgvector\npgvector:\n  dsn_env: X\n  m: 500\n", false},
		{"pgvector bad fusion", "store: pgvector\npgvector:\n  dsn_env: X\n  fusion: max\n", false},
		{"absolute dir", "embedded:\n  dir: /etc\n", false},
		{"escaping dir", "embedded:\n  dir: ../x\n", false},
		{"bad b", "embedded:\n  bm25_b: 2\n", false},
		{"bad fusion", "embedded:\n  fusion: max\n", false},
		{"bad weight", "embedded:\n  lexical_weight: 1\n", false},
		{"bad m", "embedded:\n  m: -1\n", false},
		{"rule", "collections:\n  - {tenant: 'acme*', collection: 'vs_*', store: embedded}\n", true},
		{"rule unknown store", "collections:\n  - {collection: 'vs_*', store: elastic}\n", false},
		{"rule no collection", "collections:\n  - {store: embedded}\n", false},
		{"rule bad glob", "collections:\n  - {collection: 'vs_[', store: embedded}\n", false},
		{"rule pgvector without dsn", "collections:\n  - {collection: 'x', store: pgvector}\n", false},
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

func testDSN(t *testing.T) string { return retrievaltest.PostgresDSN(t) }

func schemaFor(t *testing.T, dsn, dir string) string {
	return retrievaltest.PostgresSchema(t, dsn, "rgstores", dir)
}

func TestOpenPgvector(t *testing.T) {
	dsn := testDSN(t)
	var cfg stores.Config
	dec := yaml.NewDecoder(strings.NewReader("store: pgvector\npgvector:\n  dsn_env: RAGWAY_TEST_POSTGRES_DSN\n  m: 12\n  ef_search: 50\n  max_conns: 4\n  acquire_timeout: 2s\n"))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&cfg))
	require.Equal(t, 2*time.Second, cfg.Pgvector.AcquireTimeout)
	_, err := stores.Open(context.Background(), cfg, t.TempDir())
	require.ErrorContains(t, err, "dsn is empty", "the loader resolves dsn_env, not the store")
	cfg.Pgvector.DSN = llm.Secret(dsn)
	retrievaltest.Run(t, func(t *testing.T, dir string) retrieval.Store {
		c := cfg
		c.Pgvector.Schema = schemaFor(t, dsn, dir)
		s, err := stores.Open(context.Background(), c, dir)
		require.NoError(t, err)
		require.IsType(t, &pgvector.Store{}, s)
		return s
	})
}
