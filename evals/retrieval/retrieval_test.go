package retrieval

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/retrievaltest"
)

// writeSet writes a tiny BEIR data set: each query is answered by one
// document that shares its rare words.
func writeSet(t *testing.T) string {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "qrels"), 0o700))
	write := func(name, body string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
	}
	write("corpus.jsonl", `{"_id":"d1","title":"Aspirin","text":"Aspirin lowers the risk of heart attacks in adults."}
{"_id":"d2","title":"Volcanoes","text":"Lava flows from erupting volcanoes cool into basalt."}
{"_id":"d3","title":"Tea","text":"Green tea contains catechins and caffeine."}
{"_id":"d4","title":"Glaciers","text":"Glaciers retreat as the climate warms."}
{"_id":"d5","title":"Bees","text":"Honey bees pollinate crops and make honey."}

{"_id":"d6","title":"Noise","text":"Unrelated filler about nothing in particular."}
`)
	write("queries.jsonl", `{"_id":"q1","text":"does aspirin prevent heart attacks"}
{"_id":"q2","text":"erupting volcano lava"}
{"_id":"q3","text":"catechins in green tea"}
{"_id":"q4","text":"unjudged query"}
`)
	write("qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td3\t2\n")
	write("qrels/train.tsv", "query-id\tcorpus-id\tscore\nq1\td5\t1\n")
	return dir
}

func TestLoadBEIR(t *testing.T) {
	dir := writeSet(t)
	d, err := LoadBEIR(dir, "")
	require.NoError(t, err)
	require.Len(t, d.Docs, 6)
	require.Equal(t, "Aspirin\nAspirin lowers the risk of heart attacks in adults.", d.Docs[0])
	require.Equal(t, []string{"q1", "q2", "q3"}, d.QueryIDs)
	require.Equal(t, 2, d.Qrels["q3"]["d3"])
	_, err = LoadBEIR(dir, "../x")
	require.Error(t, err)
	_, err = LoadBEIR(dir, "dev")
	require.Error(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "corpus.jsonl"), []byte("{not json\n"), 0o600))
	_, err = LoadBEIR(dir, "test")
	require.ErrorContains(t, err, "corpus.jsonl line 1")
}

func TestParseQrels(t *testing.T) {
	got, err := ParseQrels(strings.NewReader("query-id\tcorpus-id\tscore\n\nq\td\t1\nq\te\t0\n"))
	require.NoError(t, err)
	require.Equal(t, map[string]map[string]int{"q": {"d": 1, "e": 0}}, got)
	_, err = ParseQrels(strings.NewReader("q\td\n"))
	require.Error(t, err)
	_, err = ParseQrels(strings.NewReader("h\th\th\nq\td\tx\n"))
	require.Error(t, err)
}

func FuzzParseQrels(f *testing.F) {
	f.Add("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
	f.Add("q\td\t-3\n\n")
	f.Add("\t\t\n")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseQrels(strings.NewReader(s))
		if err == nil {
			require.NotNil(t, got)
		}
	})
}

func TestMetrics(t *testing.T) {
	rels := map[string]int{"a": 2, "b": 1, "z": 0}
	require.InDelta(t, 1.0, NDCG([]string{"a", "b", "c"}, rels, 10), 1e-12)
	require.Less(t, NDCG([]string{"b", "a"}, rels, 10), 1.0)
	require.Greater(t, NDCG([]string{"b", "a"}, rels, 10), NDCG([]string{"c", "b", "a"}, rels, 10))
	require.InDelta(t, 0.0, NDCG([]string{"c"}, rels, 10), 1e-12)
	require.InDelta(t, 0.0, NDCG([]string{"a"}, map[string]int{}, 10), 1e-12)
	require.InDelta(t, 0.5, Recall([]string{"a", "c"}, rels, 100), 1e-12)
	require.InDelta(t, 0.5, Recall([]string{"c", "b", "a"}, rels, 2), 1e-12)
	require.InDelta(t, 0.0, Recall([]string{"a"}, map[string]int{"z": 0}, 10), 1e-12)
}

func TestSciFact(t *testing.T) {
	dir := writeSet(t)
	rep, err := MeasureSciFact(context.Background(), dir, SciFactOptions{})
	require.NoError(t, err)
	require.Equal(t, 6, rep.Documents)
	require.Equal(t, 3, rep.Queries)
	require.Len(t, rep.Scores, 3)
	for _, s := range rep.Scores {
		require.InDelta(t, 1.0, s.Recall100, 1e-9, "mode %s finds every judged document", s.Mode)
		require.Greater(t, s.NDCG10, 0.8, "mode %s", s.Mode)
	}
	// Judging the wrong document lowers the score.
	rep, err = MeasureSciFact(context.Background(), dir, SciFactOptions{Split: "train"})
	require.NoError(t, err)
	require.Less(t, rep.Scores[0].NDCG10, 0.7)

	var out bytes.Buffer
	require.NoError(t, RunSciFact(context.Background(), dir, SciFactOptions{}, &out))
	require.Contains(t, out.String(), "nDCG@10")
	require.Contains(t, out.String(), "hybrid")
	require.Error(t, RunSciFact(context.Background(), t.TempDir(), SciFactOptions{}, &out))
}

func TestVectorBench(t *testing.T) {
	opts := VectorOptions{Vectors: 3000, Dimensions: 32, Clusters: 30, Queries: 50, EfSearch: []int{8, 64}}
	res, err := MeasureVectors(context.Background(), opts)
	require.NoError(t, err)
	require.Len(t, res.Stores, 1)
	rep := res.Stores[0]
	require.Len(t, rep.Rows, 2)
	require.Greater(t, rep.Rows[1].Recall, 0.9)
	require.GreaterOrEqual(t, rep.Rows[1].Recall, rep.Rows[0].Recall-0.05)
	require.Greater(t, rep.HeapBytes, int64(3000*32*4), "the vectors alone take this much")
	for _, r := range rep.Rows {
		require.Greater(t, r.QueriesPerSec, 0.0)
		require.LessOrEqual(t, r.Recall, 1.0)
	}
	var out bytes.Buffer
	require.NoError(t, RunVectorBench(context.Background(), VectorOptions{Vectors: 500, Dimensions: 16, Clusters: 5, Queries: 10, EfSearch: []int{16}}, &out))
	require.Contains(t, out.String(), "recall@10")
}

// testEnv is the environment of the test services, under the names
// NewBenchStore is told to read.
var testEnv = BenchEnv{PostgresDSN: "RAGWAY_TEST_POSTGRES_DSN", WeaviateURL: "RAGWAY_TEST_WEAVIATE_URL", WeaviateGRPC: "RAGWAY_TEST_WEAVIATE_GRPC"}

func TestVectorBenchOtherStores(t *testing.T) {
	dsn := retrievaltest.PostgresDSN(t)
	for _, kind := range []string{"pgvector", "weaviate"} {
		t.Run(kind, func(t *testing.T) {
			if kind == "weaviate" && os.Getenv(testEnv.WeaviateURL) == "" {
				if os.Getenv("RAGWAY_TEST_NO_SERVICES") == "1" {
					t.Skip("RAGWAY_TEST_WEAVIATE_URL is unset and RAGWAY_TEST_NO_SERVICES=1")
				}
				t.Fatal(`RAGWAY_TEST_WEAVIATE_URL is unset: run eval "$(deploy/dev/services.sh up)"`)
			}
			bs, err := NewBenchStore(kind, testEnv, os.Getenv)
			require.NoError(t, err)
			opts := VectorOptions{Vectors: 2000, Dimensions: 16, Clusters: 20, Queries: 40, EfSearch: []int{40}}
			opts.Stores = []VectorStore{EmbeddedVectorStore(opts), {Name: kind, Open: func(ctx context.Context, _ string) (retrieval.Store, error) {
				return bs.Open(ctx)
			}}}
			var out bytes.Buffer
			require.NoError(t, RunVectorBench(context.Background(), opts, &out))
			require.Regexp(t, `(?m)^\s*embedded\s+40\s+(0\.9\d+|1\.0000)\s+\d+\s+\d+\s+1\.00x`, out.String())
			require.Regexp(t, `(?m)^\s*`+kind+`\s+40\s+(0\.9\d+|1\.0000)\s+\d+\s+-\s+\d+\.\d\dx`, out.String())
			require.Contains(t, out.String(), kind+": build")

			// Cleanup leaves nothing behind.
			require.NoError(t, bs.Cleanup(context.Background()))
			if kind == "pgvector" {
				conn, err := pgx.Connect(context.Background(), dsn)
				require.NoError(t, err)
				defer conn.Close(context.Background())
				var n int
				require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, bs.Config.Pgvector.Schema).Scan(&n))
				require.Zero(t, n)
				return
			}
			s, err := bs.Open(context.Background())
			require.NoError(t, err)
			defer s.Close()
			colls, err := s.Collections(context.Background())
			require.NoError(t, err)
			require.Empty(t, colls)
		})
	}
}

func TestNewBenchStoreErrors(t *testing.T) {
	none := func(string) string { return "" }
	_, err := NewBenchStore("pgvector", testEnv, none)
	require.ErrorContains(t, err, "$RAGWAY_TEST_POSTGRES_DSN")
	_, err = NewBenchStore("weaviate", testEnv, none)
	require.ErrorContains(t, err, "$RAGWAY_TEST_WEAVIATE_URL")
	_, err = NewBenchStore("elastic", testEnv, none)
	require.ErrorContains(t, err, "unknown store")
}

func TestExact(t *testing.T) {
	data := [][]float32{{1, 0}, {0, 1}, {1, 1}, {-1, 0}}
	got := exact(data, [][]float32{{1, 0.1}}, 2)
	require.Equal(t, map[string]bool{"0": true, "2": true}, got[0])
}
