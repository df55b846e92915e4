package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ragway/ragway/cmd/ragway/cli"
	"github.com/ragway/ragway/evals/ingestion"
	"github.com/ragway/ragway/evals/retrieval"
	rstore "github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/stores"
)

// benchStoreFlags are the flags that choose and locate the store a
// benchmark writes into.
type benchStoreFlags struct {
	kind *string
	env  retrieval.BenchEnv
}

func addBenchStoreFlags(fs *flag.FlagSet, what string) *benchStoreFlags {
	b := &benchStoreFlags{env: retrieval.DefaultBenchEnv}
	b.kind = fs.String("store", "embedded", what+": embedded, pgvector or weaviate")
	fs.StringVar(&b.env.PostgresDSN, "dsn-env", b.env.PostgresDSN, "environment variable holding the PostgreSQL DSN (pgvector)")
	fs.StringVar(&b.env.WeaviateURL, "weaviate-url-env", b.env.WeaviateURL, "environment variable holding the Weaviate URL")
	fs.StringVar(&b.env.WeaviateGRPC, "weaviate-grpc-env", b.env.WeaviateGRPC, "environment variable holding the Weaviate gRPC host:port")
	return b
}

// open prepares the store; the returned cleanup removes what the run wrote.
func (b *benchStoreFlags) open(cmd string, stderr io.Writer) (*retrieval.BenchStore, func(), error) {
	bs, err := retrieval.NewBenchStore(*b.kind, b.env, os.Getenv)
	if err != nil {
		return nil, nil, usageError{fmt.Sprintf("%s: %v", cmd, err)}
	}
	return bs, func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := bs.Cleanup(ctx); err != nil {
			fmt.Fprintf(stderr, "%s: clean up the %s store: %v\n", cmd, bs.Kind, err)
		}
	}, nil
}

// benchRetrieval runs `ragway-bench retrieval --data DIR`: SciFact quality
// of a store in lexical, vector and hybrid modes.
func benchRetrieval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench retrieval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "BEIR data folder (corpus.jsonl, queries.jsonl, qrels/) (required)")
	split := fs.String("split", "test", "qrels split")
	dims := fs.Int("dimensions", 0, "lexical embedder dimensions (default 384)")
	sf := addBenchStoreFlags(fs, "store measured")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *data == "" {
		return usageError{"usage: ragway-bench retrieval --data DIR [--store embedded|pgvector|weaviate]"}
	}
	if _, err := os.Stat(*data); err != nil {
		return fmt.Errorf("bench retrieval: %w", err)
	}
	opts := retrieval.SciFactOptions{Split: *split, Dimensions: *dims}
	if *sf.kind != stores.Embedded {
		bs, cleanup, err := sf.open("bench retrieval", stderr)
		if err != nil {
			return err
		}
		defer cleanup()
		opts.OpenStore = func(ctx context.Context) (rstore.Store, error) { return bs.Open(ctx) }
	}
	return retrieval.RunSciFact(ctx, *data, opts, stdout)
}

// benchVectors runs `ragway-bench vectors`: recall and speed of the
// embedded store's vector index on generated clustered vectors, and of
// another store's beside it with --store.
func benchVectors(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench vectors", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o retrieval.VectorOptions
	fs.IntVar(&o.Vectors, "vectors", 100000, "vectors indexed")
	fs.IntVar(&o.Dimensions, "dimensions", 384, "dimensions")
	fs.IntVar(&o.Clusters, "clusters", 1000, "gaussian clusters")
	fs.IntVar(&o.Queries, "queries", 1000, "queries")
	dir := fs.String("dir", "", "embedded index folder (default: a temporary one)")
	sf := addBenchStoreFlags(fs, "store measured beside the embedded one")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	o.Dir = *dir
	o.Stores = []retrieval.VectorStore{retrieval.EmbeddedVectorStore(o)}
	if *sf.kind != stores.Embedded {
		bs, cleanup, err := sf.open("bench vectors", stderr)
		if err != nil {
			return err
		}
		defer cleanup()
		o.Stores = append(o.Stores, retrieval.VectorStore{Name: bs.Kind, Open: func(ctx context.Context, _ string) (rstore.Store, error) {
			return bs.Open(ctx)
		}})
	}
	return retrieval.RunVectorBench(ctx, o, stdout)
}

// benchIngest runs `ragway-bench ingest --data DIR`: a BEIR corpus through
// the HTTP API into a store.
func benchIngest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "BEIR data folder with corpus.jsonl (required)")
	var o ingestion.Options
	fs.IntVar(&o.Limit, "limit", 0, "documents (0: all)")
	fs.IntVar(&o.Concurrency, "concurrency", 8, "parallel uploads")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to `FILE`")
	sf := addBenchStoreFlags(fs, "store indexed into")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *data == "" {
		return usageError{"usage: ragway-bench ingest --data DIR [--store embedded|pgvector|weaviate]"}
	}
	bs, cleanup, err := sf.open("bench ingest", stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	o.Store = bs.Config
	if *cpuProfile != "" {
		stop, err := cli.StartCPUProfile(*cpuProfile, stderr)
		if err != nil {
			return err
		}
		defer stop()
	}
	return ingestion.RunSciFact(ctx, *data, o, stdout)
}
