package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ragway/ragway/evals/ingestion"
	"github.com/ragway/ragway/evals/retrieval"
	"github.com/ragway/ragway/llm"
	rstore "github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/pgvector"
	"github.com/ragway/ragway/retrieval/stores"
)

// dropSchema removes a benchmark's schema, leaving the database as it was.
func dropSchema(dsn, schema string, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err == nil {
		_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		_ = conn.Close(ctx)
	}
	if err != nil {
		fmt.Fprintf(stderr, "drop schema %s: %v\n", schema, err)
	}
}

// benchRetrieval runs `ragway bench retrieval --data DIR`: SciFact quality
// of the embedded store in lexical, vector and hybrid modes.
func benchRetrieval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench retrieval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "BEIR data folder (corpus.jsonl, queries.jsonl, qrels/) (required)")
	split := fs.String("split", "test", "qrels split")
	dims := fs.Int("dimensions", 0, "lexical embedder dimensions (default 384)")
	store := fs.String("store", "embedded", "store measured: embedded or pgvector")
	dsnEnv := fs.String("dsn-env", "RAGWAY_POSTGRES_DSN", "environment variable holding the PostgreSQL DSN (--store pgvector)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *data == "" {
		return usageError{"usage: ragway bench retrieval --data DIR [--store embedded|pgvector]"}
	}
	if _, err := os.Stat(*data); err != nil {
		return fmt.Errorf("bench retrieval: %w", err)
	}
	opts := retrieval.SciFactOptions{Split: *split, Dimensions: *dims}
	switch *store {
	case "embedded":
	case "pgvector":
		dsn := os.Getenv(*dsnEnv)
		if dsn == "" {
			return usageError{fmt.Sprintf("bench retrieval: --store pgvector needs the DSN in $%s", *dsnEnv)}
		}
		opts.OpenStore = func(ctx context.Context) (rstore.Store, error) {
			return retrieval.OpenPgvector(ctx, dsn, pgvector.Options{})
		}
	default:
		return usageError{fmt.Sprintf("bench retrieval: unknown store %q (want embedded or pgvector)", *store)}
	}
	return retrieval.RunSciFact(ctx, *data, opts, stdout)
}

// benchVectors runs `ragway bench vectors`: recall and speed of the
// embedded store's vector index on generated clustered vectors, and of
// pgvector's beside it with --store pgvector.
func benchVectors(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench vectors", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o retrieval.VectorOptions
	fs.IntVar(&o.Vectors, "vectors", 100000, "vectors indexed")
	fs.IntVar(&o.Dimensions, "dimensions", 384, "dimensions")
	fs.IntVar(&o.Clusters, "clusters", 1000, "gaussian clusters")
	fs.IntVar(&o.Queries, "queries", 1000, "queries")
	dir := fs.String("dir", "", "embedded index folder (default: a temporary one)")
	store := fs.String("store", "embedded", "also measure this store beside the embedded one: embedded or pgvector")
	dsnEnv := fs.String("dsn-env", "RAGWAY_POSTGRES_DSN", "environment variable holding the PostgreSQL DSN (--store pgvector)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	o.Dir = *dir
	o.Stores = []retrieval.VectorStore{retrieval.EmbeddedVectorStore(o)}
	switch *store {
	case "embedded":
	case "pgvector":
		dsn := os.Getenv(*dsnEnv)
		if dsn == "" {
			return usageError{fmt.Sprintf("bench vectors: --store pgvector needs the DSN in $%s", *dsnEnv)}
		}
		o.Stores = append(o.Stores, retrieval.VectorStore{Name: "pgvector", Open: func(ctx context.Context, _ string) (rstore.Store, error) {
			return retrieval.OpenPgvector(ctx, dsn, pgvector.Options{})
		}})
	default:
		return usageError{fmt.Sprintf("bench vectors: unknown store %q (want embedded or pgvector)", *store)}
	}
	return retrieval.RunVectorBench(ctx, o, stdout)
}

// benchIngest runs `ragway bench ingest --data DIR`: a BEIR corpus through
// the HTTP API into the embedded store.
func benchIngest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "BEIR data folder with corpus.jsonl (required)")
	var o ingestion.Options
	fs.IntVar(&o.Limit, "limit", 0, "documents (0: all)")
	fs.IntVar(&o.Concurrency, "concurrency", 8, "parallel uploads")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to `FILE`")
	store := fs.String("store", "embedded", "store indexed into: embedded or pgvector")
	dsnEnv := fs.String("dsn-env", "RAGWAY_POSTGRES_DSN", "environment variable holding the PostgreSQL DSN (--store pgvector)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *data == "" {
		return usageError{"usage: ragway bench ingest --data DIR [--store embedded|pgvector]"}
	}
	switch *store {
	case "embedded":
	case "pgvector":
		dsn := os.Getenv(*dsnEnv)
		if dsn == "" {
			return usageError{fmt.Sprintf("bench ingest: --store pgvector needs the DSN in $%s", *dsnEnv)}
		}
		o.Store = stores.Config{Store: stores.Pgvector, Pgvector: stores.PgvectorConfig{DSN: llm.Secret(dsn), Schema: fmt.Sprintf("ragway_bench_ingest_%d", os.Getpid())}}
		defer dropSchema(dsn, o.Store.Pgvector.Schema, stderr)
	default:
		return usageError{fmt.Sprintf("bench ingest: unknown store %q (want embedded or pgvector)", *store)}
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile, stderr)
		if err != nil {
			return err
		}
		defer stop()
	}
	return ingestion.RunSciFact(ctx, *data, o, stdout)
}
