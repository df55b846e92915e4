package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/embedded"
	"github.com/ragway/ragway/retrieval/retrievaltest"
	"github.com/ragway/ragway/retrieval/stores"
)

func TestCollectionsMigrate(t *testing.T) {
	dsn := retrievaltest.PostgresDSN(t)
	ctx := context.Background()
	root := t.TempDir()
	dataDir := filepath.Join(root, "data")
	schema := retrievaltest.PostgresSchema(t, dsn, "rgcli", root)
	cfgPath := filepath.Join(root, "ragway.yaml")
	writeCfg := func(rules string) {
		require.NoError(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(`data_dir: %s
ingest:
  retrieval:
    pgvector:
      dsn_env: TEST_PG_DSN
      schema: %s
%s`, dataDir, schema, rules)), 0o600))
	}
	writeCfg("")
	getenv := func(k string) string {
		if k == "TEST_PG_DSN" {
			return dsn
		}
		return ""
	}
	run := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := Main(ctx, append(append([]string{"collections"}, args...), "--config", cfgPath), &out, &errOut, getenv)
		return out.String(), err
	}

	emb, err := embedded.Open(ctx, filepath.Join(dataDir, "retrieval"), embedded.Options{})
	require.NoError(t, err)
	for c, n := range map[string]int{"vs_a": 12, "vs_b": 3} {
		for i := range n {
			id := fmt.Sprintf("file-%02d", i)
			require.NoError(t, emb.ReplaceFile(ctx, "acme", c, id, []retrieval.Chunk{
				retrievaltest.Chunk(id, 0, "alpha beta", retrievaltest.Vec(i, 0), nil),
				retrievaltest.Chunk(id, 1, "gamma", retrievaltest.Vec(i, 0.2), nil)}))
		}
	}
	require.NoError(t, emb.ReplaceFile(ctx, "globex", "vs_g", "f", []retrieval.Chunk{retrievaltest.Chunk("f", 0, "x", retrievaltest.Vec(0, 0), nil)}))
	require.NoError(t, emb.Close())

	out, err := run("list", "--json")
	require.NoError(t, err)
	var rows []collectionRow
	require.NoError(t, json.Unmarshal([]byte(out), &rows))
	require.Equal(t, []collectionRow{
		{"acme", "vs_a", "embedded", 12, 24}, {"acme", "vs_b", "embedded", 3, 6}, {"globex", "vs_g", "embedded", 1, 1},
	}, rows)

	for _, bad := range [][]string{{"migrate", "--from", "embedded"}, {"migrate", "--from", "embedded", "--to", "embedded"},
		{"migrate", "--from", "embedded", "--to", "pgvector", "--collection", "vs_a"}, {"rename"}, {"list", "extra"}} {
		_, err := run(bad...)
		require.Error(t, err, "%v", bad)
		require.Equal(t, 2, ExitCode(err), "%v", bad)
	}
	_, err = run("migrate", "--from", "embedded", "--to", "weaviate2")
	require.ErrorContains(t, err, "unknown store")

	out, err = run("migrate", "--from", "embedded", "--to", "pgvector", "--tenant", "acme", "--quiet")
	require.NoError(t, err, out)
	require.Contains(t, out, "acme/vs_a: 12 files, 24 chunks verified in pgvector (copied 12, resumed 0, removed 0)")
	require.Contains(t, out, "acme/vs_b: 3 files, 6 chunks verified")
	require.NotContains(t, out, "globex")

	out, err = run("list", "--store", "pgvector")
	require.NoError(t, err)
	require.Contains(t, out, "vs_a")
	require.NotContains(t, out, "vs_g")

	// Routing vs_a to pgvector is a config change.
	writeCfg("    collections:\n      - {tenant: acme, collection: vs_a, store: pgvector}\n")
	out, err = run("list", "--json")
	require.NoError(t, err)
	rows = nil
	require.NoError(t, json.Unmarshal([]byte(out), &rows))
	require.Equal(t, []collectionRow{
		{"acme", "vs_a", "pgvector", 12, 24}, {"acme", "vs_b", "embedded", 3, 6}, {"globex", "vs_g", "embedded", 1, 1},
	}, rows)

	// Copying again is safe: it rewrites and verifies.
	out, err = run("migrate", "--from", "embedded", "--to", "pgvector", "--tenant", "acme", "--collection", "vs_a", "--quiet")
	require.NoError(t, err, out)
	require.Contains(t, out, "copied 12, resumed 0")
}

func TestCollectionsReindex(t *testing.T) {
	ctx := context.Background()
	url, grpc := retrievaltest.Weaviate(t)
	root := t.TempDir()
	prefix := fmt.Sprintf("Rgcli%d", time.Now().UnixNano()%1e9)
	cfgPath := filepath.Join(root, "ragway.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(`data_dir: %s
ingest:
  retrieval:
    weaviate: {url: %q, grpc: %q, class_prefix: %s}
`, filepath.Join(root, "data"), url, grpc, prefix)), 0o600))
	run := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := Main(ctx, append(append([]string{"collections"}, args...), "--config", cfgPath), &out, &errOut, func(string) string { return "" })
		return out.String(), err
	}
	_, err := run("reindex")
	require.Equal(t, 2, ExitCode(err))
	out, err := run("reindex", "--store", "embedded")
	require.NoError(t, err)
	require.Contains(t, out, "the embedded store needs no reindexing")

	cfg, err := loadConfig(cfgPath, func(string) string { return "" })
	require.NoError(t, err)
	wv, err := stores.OpenKind(ctx, cfg.Ingest.Retrieval, stores.Weaviate, root)
	require.NoError(t, err)
	defer func() {
		for _, c := range []string{"vs_a", "vs_b"} {
			require.NoError(t, wv.DeleteCollection(ctx, "acme", c))
		}
		require.NoError(t, wv.Close())
	}()
	for _, c := range []string{"vs_a", "vs_b"} {
		require.NoError(t, wv.ReplaceFile(ctx, "acme", c, "f", []retrieval.Chunk{retrievaltest.Chunk("f", 0, "running shoes", retrievaltest.Vec(0, 0), nil)}))
	}
	out, err = run("reindex", "--store", "weaviate", "--tenant", "acme")
	require.NoError(t, err, out)
	require.Contains(t, out, "acme/vs_a: reindexed")
	require.Contains(t, out, "acme/vs_b: reindexed")
	require.Contains(t, out, "done: 2 collections")
	// Still searchable, stemmed: "run" matches "running".
	res := retrievaltest.Search(t, wv, retrieval.Query{Tenant: "acme", Collection: "vs_a", Text: "run", K: 3, Mode: retrieval.ModeLexical})
	require.Len(t, res, 1)
}
