package ingestion

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/retrieval/retrievaltest"
	"github.com/ragway/ragway/retrieval/stores"
)

func testDocs() []Doc {
	var docs []Doc
	for i := 0; i < 30; i++ {
		docs = append(docs, Doc{ID: fmt.Sprint("d", i), Title: fmt.Sprint("Title ", i),
			Text: strings.Repeat(fmt.Sprintf("Sentence %d about topic %d. ", i, i%7), 20)})
	}
	// One long document makes several chunks.
	docs = append(docs, Doc{ID: "long", Title: "Long", Text: strings.Repeat("A long sentence about many things and more things. ", 400)})
	return docs
}

func TestRunIngestsEveryDocument(t *testing.T) {
	rep, err := Run(context.Background(), testDocs(), t.TempDir(), Options{Concurrency: 4, BatchSize: 7})
	require.NoError(t, err)
	require.Equal(t, 31, rep.Documents)
	require.Equal(t, 31, rep.Completed)
	require.Zero(t, rep.Failed)
	require.Positive(t, rep.Total)
	require.Equal(t, "embedded", rep.Store)
	require.Greater(t, rep.Chunks, 31, "the long document is split")
	var out bytes.Buffer
	rep.Print(&out)
	require.Contains(t, out.String(), "31 completed")
	require.Contains(t, out.String(), fmt.Sprintf("(%d chunks)", rep.Chunks))
}

func TestRunIntoServerStores(t *testing.T) {
	ctx := context.Background()
	embedded, err := Run(ctx, testDocs(), t.TempDir(), Options{Concurrency: 4})
	require.NoError(t, err)
	dsn := retrievaltest.PostgresDSN(t)
	url, grpc := retrievaltest.Weaviate(t)
	prefix := fmt.Sprintf("Rgingest%d", time.Now().UnixNano()%1e9)
	for _, cfg := range []stores.Config{
		{Store: stores.Pgvector, Pgvector: stores.PgvectorConfig{DSN: llm.Secret(dsn), Schema: retrievaltest.PostgresSchema(t, dsn, "rgingest", t.TempDir())}},
		{Store: stores.Weaviate, Weaviate: stores.WeaviateConfig{URL: url, GRPC: grpc, ClassPrefix: prefix}},
	} {
		t.Run(cfg.Store, func(t *testing.T) {
			rep, err := Run(ctx, testDocs(), t.TempDir(), Options{Concurrency: 4, Store: cfg})
			require.NoError(t, err)
			require.Equal(t, 31, rep.Completed)
			require.Equal(t, cfg.Store, rep.Store)
			require.Equal(t, embedded.Chunks, rep.Chunks, "every store holds the same chunks")
			if cfg.Store != stores.Weaviate {
				return
			}
			s, err := stores.OpenKind(ctx, cfg, cfg.Store, t.TempDir())
			require.NoError(t, err)
			defer s.Close()
			colls, err := s.Collections(ctx)
			require.NoError(t, err)
			for _, c := range colls {
				require.NoError(t, s.DeleteCollection(ctx, c.Tenant, c.Collection))
			}
		})
	}
}

func TestLoadCorpus(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "corpus.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(`{"_id":"1","title":"A","text":"x"}`+"\n"+`{"_id":"2","title":"B","text":"y"}`+"\n"), 0o600))
	docs, err := LoadCorpus(path, 0)
	require.NoError(t, err)
	require.Equal(t, []Doc{{"1", "A", "x"}, {"2", "B", "y"}}, docs)
	docs, err = LoadCorpus(path, 1)
	require.NoError(t, err)
	require.Len(t, docs, 1)
	require.NoError(t, os.WriteFile(path, []byte("{broken\n"), 0o600))
	_, err = LoadCorpus(path, 0)
	require.Error(t, err)
}
