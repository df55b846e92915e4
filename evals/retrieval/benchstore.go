package retrieval

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/retrieval/stores"
)

// BenchStore is a store kind set up for a benchmark in a namespace of its
// own (a schema, a class prefix, a folder), which Cleanup removes, so a
// run leaves the server as it found it.
type BenchStore struct {
	Kind   string
	Config stores.Config
	// Dir is the data dir the store's files go under (the embedded one).
	Dir     string
	cleanup func(context.Context) error
}

// BenchEnv names the environment variables that locate the servers.
type BenchEnv struct {
	PostgresDSN, WeaviateURL, WeaviateGRPC string
}

// DefaultBenchEnv is what `ragway bench` reads unless told otherwise.
var DefaultBenchEnv = BenchEnv{PostgresDSN: "RAGWAY_POSTGRES_DSN", WeaviateURL: "RAGWAY_WEAVIATE_URL", WeaviateGRPC: "RAGWAY_WEAVIATE_GRPC"}

// NewBenchStore prepares kind with its server found through env.
func NewBenchStore(kind string, env BenchEnv, getenv func(string) string) (*BenchStore, error) {
	b := &BenchStore{Kind: kind, Config: stores.Config{Store: kind}}
	tag := fmt.Sprintf("%d%d", os.Getpid(), time.Now().UnixNano()%1e9)
	switch kind {
	case stores.Embedded:
	case stores.Pgvector:
		dsn := getenv(env.PostgresDSN)
		if dsn == "" {
			return nil, fmt.Errorf("the pgvector store needs the DSN in $%s", env.PostgresDSN)
		}
		b.Config.Pgvector = stores.PgvectorConfig{DSN: llm.Secret(dsn), Schema: "ragway_bench_" + tag}
		b.cleanup = func(ctx context.Context) error { return dropSchema(ctx, dsn, b.Config.Pgvector.Schema) }
	case stores.Weaviate:
		url := getenv(env.WeaviateURL)
		if url == "" {
			return nil, fmt.Errorf("the weaviate store needs its URL in $%s", env.WeaviateURL)
		}
		b.Config.Weaviate = stores.WeaviateConfig{URL: url, GRPC: getenv(env.WeaviateGRPC), ClassPrefix: "Ragwaybench" + tag}
		b.cleanup = b.deleteCollections
	default:
		return nil, fmt.Errorf("unknown store %q (want one of %v)", kind, stores.Kinds)
	}
	var err error
	if b.Dir, err = os.MkdirTemp("", "ragway-bench-"); err != nil {
		return nil, err
	}
	return b, nil
}

// Open opens the store.
func (b *BenchStore) Open(ctx context.Context) (stores.Store, error) {
	return stores.OpenKind(ctx, b.Config, b.Kind, b.Dir)
}

// Cleanup removes what the benchmark wrote.
func (b *BenchStore) Cleanup(ctx context.Context) error {
	var err error
	if b.cleanup != nil {
		err = b.cleanup(ctx)
	}
	return errors.Join(err, os.RemoveAll(b.Dir))
}

func (b *BenchStore) deleteCollections(ctx context.Context) error {
	s, err := b.Open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	refs, err := s.Collections(ctx)
	if err != nil {
		return err
	}
	for _, r := range refs {
		if err := s.DeleteCollection(ctx, r.Tenant, r.Collection); err != nil {
			return err
		}
	}
	return nil
}

func dropSchema(ctx context.Context, dsn, schema string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	return err
}
