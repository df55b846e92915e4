package stores_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/migrate"
	"github.com/ragway/ragway/retrieval/retrievaltest"
	"github.com/ragway/ragway/retrieval/stores"
)

// routed keeps tenant t2 and every collection named "a" in pgvector, the
// rest in the embedded store.
func routed(t *testing.T, dir string) stores.Config {
	dsn := testDSN(t)
	return stores.Config{
		Pgvector: stores.PgvectorConfig{DSN: llm.Secret(dsn), Schema: schemaFor(t, dsn, dir)},
		Collections: []stores.CollectionRule{
			{Tenant: "t2", Collection: "*", Store: stores.Pgvector},
			{Collection: "a", Store: stores.Pgvector},
		},
	}
}

func TestRouterConformance(t *testing.T) {
	retrievaltest.Run(t, func(t *testing.T, dir string) retrieval.Store {
		s, err := stores.Open(context.Background(), routed(t, dir), dir)
		require.NoError(t, err)
		require.IsType(t, &stores.Router{}, s)
		return s
	})
}

func TestRouterPlacesCollections(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := routed(t, dir)
	s, err := stores.Open(ctx, cfg, dir)
	require.NoError(t, err)
	r := s.(*stores.Router)
	require.Equal(t, stores.Pgvector, r.KindFor("t2", "anything"))
	require.Equal(t, stores.Pgvector, r.KindFor("t1", "a"))
	require.Equal(t, stores.Embedded, r.KindFor("t1", "b"))

	write := func(s retrieval.Store, tenant, coll, text string) {
		require.NoError(t, s.ReplaceFile(ctx, tenant, coll, "f", []retrieval.Chunk{
			retrievaltest.Chunk("f", 0, text, retrievaltest.Vec(0, 0), nil)}))
	}
	write(s, "t1", "a", "routed to postgres")
	write(s, "t1", "b", "kept embedded")
	write(s, "t2", "b", "tenant to postgres")
	require.NoError(t, s.Close())

	pg, err := stores.OpenKind(ctx, cfg, stores.Pgvector, dir)
	require.NoError(t, err)
	colls, err := pg.Collections(ctx)
	require.NoError(t, err)
	require.Equal(t, []retrieval.CollectionRef{{Tenant: "t1", Collection: "a"}, {Tenant: "t2", Collection: "b"}}, colls)
	// A copy left behind in the store a rule moved away from is not listed.
	write(pg, "t1", "b", "stale copy")
	require.NoError(t, pg.Close())

	emb, err := stores.OpenKind(ctx, cfg, stores.Embedded, dir)
	require.NoError(t, err)
	colls, err = emb.Collections(ctx)
	require.NoError(t, err)
	require.Equal(t, []retrieval.CollectionRef{{Tenant: "t1", Collection: "b"}}, colls)
	require.NoError(t, emb.Close())

	s, err = stores.Open(ctx, cfg, dir)
	require.NoError(t, err)
	defer s.Close()
	colls, err = s.(*stores.Router).Collections(ctx)
	require.NoError(t, err)
	require.Equal(t, []retrieval.CollectionRef{{Tenant: "t1", Collection: "a"}, {Tenant: "t1", Collection: "b"}, {Tenant: "t2", Collection: "b"}}, colls)
	res, err := s.Search(ctx, retrieval.Query{Tenant: "t1", Collection: "b", Text: "copy kept", K: 5, Mode: retrieval.ModeLexical})
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.Equal(t, "kept embedded", res[0].Text)
}

func TestOpenWeaviate(t *testing.T) {
	url := os.Getenv("RAGWAY_TEST_WEAVIATE_URL")
	if url == "" {
		if os.Getenv("RAGWAY_TEST_NO_SERVICES") == "1" {
			t.Skip("RAGWAY_TEST_WEAVIATE_URL is unset and RAGWAY_TEST_NO_SERVICES=1")
		}
		t.Fatal(`RAGWAY_TEST_WEAVIATE_URL is unset: run eval "$(deploy/dev/services.sh up)"`)
	}
	var cfg stores.Config
	dec := yaml.NewDecoder(strings.NewReader(fmt.Sprintf("store: weaviate\nweaviate:\n  url: %s\n  grpc: %s\n  alpha: 0.05\n  batch_size: 50\n  max_concurrency: 4\n", url, os.Getenv("RAGWAY_TEST_WEAVIATE_GRPC"))))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&cfg))
	ctx := context.Background()
	// A collection rule puts one collection in Weaviate, beside the
	// embedded default, and a migration moves another there.
	dir := t.TempDir()
	cfg.Store = stores.Embedded
	cfg.Weaviate.ClassPrefix = "Rgstores" + strconv.FormatInt(time.Now().UnixNano()%1e9, 10)
	cfg.Collections = []stores.CollectionRule{{Collection: "wv-*", Store: stores.Weaviate}}
	s, err := stores.Open(ctx, cfg, dir)
	require.NoError(t, err)
	chunk := retrievaltest.Chunk("f", 0, "routed words", retrievaltest.Vec(0, 0), map[string]any{"k": "v"})
	require.NoError(t, s.ReplaceFile(ctx, "t", "wv-1", "f", []retrieval.Chunk{chunk}))
	require.NoError(t, s.ReplaceFile(ctx, "t", "local", "f", []retrieval.Chunk{chunk}))
	require.NoError(t, s.Close())

	wv, err := stores.OpenKind(ctx, cfg, stores.Weaviate, dir)
	require.NoError(t, err)
	defer func() {
		for _, c := range []string{"wv-1", "local"} {
			require.NoError(t, wv.DeleteCollection(ctx, "t", c))
		}
		require.NoError(t, wv.Close())
	}()
	colls, err := wv.Collections(ctx)
	require.NoError(t, err)
	require.Contains(t, colls, retrieval.CollectionRef{Tenant: "t", Collection: "wv-1"})
	require.NotContains(t, colls, retrieval.CollectionRef{Tenant: "t", Collection: "local"})
	res := retrievaltest.Search(t, wv, retrieval.Query{Tenant: "t", Collection: "wv-1", Text: "routed", Vector: retrievaltest.Vec(0, 0), K: 3})
	require.Equal(t, []string{chunk.ID}, retrievaltest.IDs(res))

	emb, err := stores.OpenKind(ctx, cfg, stores.Embedded, dir)
	require.NoError(t, err)
	defer emb.Close()
	rep, err := migrate.Collection(ctx, emb, wv, retrieval.CollectionRef{Tenant: "t", Collection: "local"}, migrate.Options{})
	require.NoError(t, err)
	require.Equal(t, 1, rep.Chunks)
	res = retrievaltest.Search(t, wv, retrieval.Query{Tenant: "t", Collection: "local", Text: "routed", K: 3, Mode: retrieval.ModeLexical})
	require.Len(t, res, 1)
	require.Equal(t, "v", res[0].Attributes["k"])
}
