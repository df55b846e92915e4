package weaviate_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/retrievaltest"
	"github.com/ragway/ragway/retrieval/weaviate"
)

// testServer returns the test server's URL and gRPC address, failing when
// they are not configured unless RAGWAY_TEST_NO_SERVICES=1.
func testServer(t *testing.T) (string, string) {
	t.Helper()
	u := os.Getenv("RAGWAY_TEST_WEAVIATE_URL")
	if u == "" {
		if os.Getenv("RAGWAY_TEST_NO_SERVICES") == "1" {
			t.Skip("RAGWAY_TEST_WEAVIATE_URL is unset and RAGWAY_TEST_NO_SERVICES=1")
		}
		t.Fatal(`RAGWAY_TEST_WEAVIATE_URL is unset: run eval "$(deploy/dev/services.sh up)"`)
	}
	return u, os.Getenv("RAGWAY_TEST_WEAVIATE_GRPC")
}

// prefixFor names a class prefix after dir, so reopening the same dir
// finds the same data and tests never share classes; the prefix's classes
// are dropped when the test ends.
func prefixFor(t *testing.T, dir string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(dir))
	prefix := "Rgtest" + hex.EncodeToString(sum[:8])
	t.Cleanup(func() { dropPrefix(t, prefix) })
	return prefix
}

// dropPrefix deletes every class of a prefix: those the store lists, and
// those it created without chunks.
func dropPrefix(t *testing.T, prefix string) {
	u, grpcAddr := testServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := weaviate.Open(ctx, weaviate.Options{URL: u, GRPCAddress: grpcAddr, ClassPrefix: prefix})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.DropAll(ctx))
}

func open(t *testing.T, dir string, opts weaviate.Options) *weaviate.Store {
	t.Helper()
	u, grpcAddr := testServer(t)
	opts.URL, opts.GRPCAddress = u, grpcAddr
	if opts.ClassPrefix == "" {
		opts.ClassPrefix = prefixFor(t, dir)
	}
	s, err := weaviate.Open(context.Background(), opts)
	require.NoError(t, err)
	return s
}

func TestConformance(t *testing.T) {
	retrievaltest.RunCaps(t, func(t *testing.T, dir string) retrieval.Store {
		return open(t, dir, weaviate.Options{})
	}, retrievaltest.Caps{NonAtomicReplace: true})
}

// TestFilterInjection stores attributes whose keys and values carry
// GraphQL, JSON and filter syntax and checks they match as plain data.
func TestFilterInjection(t *testing.T) {
	s := open(t, t.TempDir(), weaviate.Options{})
	defer s.Close()
	ctx := context.Background()
	evilKey := `k"} operator: Or operands: [{path: ["_id"]`
	evilValue := `" } ) { Get { Other { text } } } #`
	chunks := []retrieval.Chunk{
		retrievaltest.Chunk("f", 0, "alpha", retrievaltest.Vec(0, 0), map[string]any{evilKey: evilValue, `a"b`: 1.0, " spaced ": " x "}),
		retrievaltest.Chunk("f", 1, "alpha", retrievaltest.Vec(0, 0.1), map[string]any{evilKey: "plain", "_id": "x", " spaced ": "x"}),
	}
	require.NoError(t, s.ReplaceFile(ctx, "t", "c", "f", chunks))
	tests := []struct {
		name string
		f    *retrieval.Filter
		want []int
	}{
		{"quoted key and value", &retrieval.Filter{Type: "eq", Key: evilKey, Value: evilValue}, []int{0}},
		{"value that would widen the filter", &retrieval.Filter{Type: "eq", Key: evilKey, Value: `plain" operator: Or`}, nil},
		{"double quote key", &retrieval.Filter{Type: "gte", Key: `a"b`, Value: 1.0}, []int{0}},
		{"internal property name as key", &retrieval.Filter{Type: "eq", Key: "_id", Value: "x"}, []int{1}},
		{"chunk property name as key", &retrieval.Filter{Type: "eq", Key: "text", Value: "alpha"}, nil},
		{"whitespace is kept", &retrieval.Filter{Type: "eq", Key: " spaced ", Value: "x"}, []int{1}},
		{"ne with whitespace", &retrieval.Filter{Type: "ne", Key: " spaced ", Value: "x"}, []int{0}},
		{"operator in key", &retrieval.Filter{Type: "eq", Key: "a' ? 'b", Value: "x"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, mode := range []retrieval.Mode{retrieval.ModeVector, retrieval.ModeLexical, retrieval.ModeHybrid} {
				res := retrievaltest.Search(t, s, retrieval.Query{Tenant: "t", Collection: "c", Text: "alpha", Vector: retrievaltest.Vec(0, 0), K: 10, Mode: mode, Filter: tc.f})
				got := []int{}
				for _, r := range res {
					got = append(got, r.Index)
				}
				require.ElementsMatch(t, tc.want, got, "mode %s", mode)
			}
		})
	}
	// Query text with GraphQL and BM25 syntax is words.
	res := retrievaltest.Search(t, s, retrieval.Query{Tenant: "t", Collection: "c", Text: `alpha"} ) { Get { x } } \u0000 AND NOT`, K: 10, Mode: retrieval.ModeLexical})
	require.Len(t, res, 2)
	got, err := s.FileChunks(ctx, "t", "c", "f")
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, chunks[0].Attributes, got[0].Attributes, "attributes round-trip")
}

func TestReplaceLargeFile(t *testing.T) {
	s := open(t, t.TempDir(), weaviate.Options{BatchSize: 300})
	defer s.Close()
	ctx := context.Background()
	const n = 2500 // more than one read page and one delete page
	mk := func(v int) []retrieval.Chunk {
		out := make([]retrieval.Chunk, n)
		for i := range out {
			out[i] = retrievaltest.Chunk("big", i, fmt.Sprintf("v%d chunk %d", v, i), retrievaltest.Vec(i%8, float64(i)*0.001), map[string]any{"v": float64(v)})
		}
		return out
	}
	require.NoError(t, s.ReplaceFile(ctx, "t", "c", "big", mk(1)))
	require.NoError(t, s.ReplaceFile(ctx, "t", "c", "big", mk(2)))
	files, err := s.Files(ctx, "t", "c")
	require.NoError(t, err)
	require.Equal(t, []retrieval.FileInfo{{ID: "big", Chunks: n}}, files)
	got, err := s.FileChunks(ctx, "t", "c", "big")
	require.NoError(t, err)
	require.Len(t, got, n)
	for i, ch := range got {
		require.Equal(t, i, ch.Index)
		require.Equal(t, fmt.Sprintf("v2 chunk %d", i), ch.Text)
	}
	require.NoError(t, s.ReplaceFile(ctx, "t", "c", "big", nil))
	files, err = s.Files(ctx, "t", "c")
	require.NoError(t, err)
	require.Empty(t, files)
}

func TestConcurrencyBound(t *testing.T) {
	s := open(t, t.TempDir(), weaviate.Options{MaxConcurrency: 1, AcquireTimeout: 200 * time.Millisecond})
	defer s.Close()
	ctx := context.Background()
	require.NoError(t, s.ReplaceFile(ctx, "t", "c", "f", []retrieval.Chunk{retrievaltest.Chunk("f", 0, "x", retrievaltest.Vec(0, 0), nil)}))
	release := s.HoldSlot()
	start := time.Now()
	_, err := s.Search(ctx, retrieval.Query{Tenant: "t", Collection: "c", Text: "x", K: 1})
	require.ErrorIs(t, err, retrieval.ErrUnavailable)
	require.Less(t, time.Since(start), 5*time.Second)
	release()
	_, err = s.Search(ctx, retrieval.Query{Tenant: "t", Collection: "c", Text: "x", K: 1})
	require.NoError(t, err)
}

func TestUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := weaviate.Open(ctx, weaviate.Options{URL: "http://127.0.0.1:1", GRPCAddress: "127.0.0.1:1", Timeout: 2 * time.Second})
	require.ErrorIs(t, err, retrieval.ErrUnavailable)
	_, err = weaviate.Open(ctx, weaviate.Options{URL: "ftp://x", APIKey: "secretkey"})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secretkey")
	_, err = weaviate.Open(ctx, weaviate.Options{URL: "http://127.0.0.1:1", ClassPrefix: "bad-prefix"})
	require.Error(t, err)
}

// TestServerErrors points the REST side at a server that answers 503 to
// everything but readiness and checks the errors are ErrUnavailable.
func TestServerErrors(t *testing.T) {
	_, grpcAddr := testServer(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/.well-known/ready" {
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	s, err := weaviate.Open(context.Background(), weaviate.Options{URL: srv.URL, GRPCAddress: grpcAddr})
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	_, err = s.Search(ctx, retrieval.Query{Tenant: "t", Collection: "c", Text: "x", K: 1})
	require.ErrorIs(t, err, retrieval.ErrUnavailable)
	err = s.ReplaceFile(ctx, "t", "c", "f", []retrieval.Chunk{retrievaltest.Chunk("f", 0, "x", retrievaltest.Vec(0, 0), nil)})
	require.ErrorIs(t, err, retrieval.ErrUnavailable)
	_, err = s.Collections(ctx)
	require.ErrorIs(t, err, retrieval.ErrUnavailable)
}

// BenchmarkReplaceFile measures a bulk import of 384-dimensional chunks.
func BenchmarkReplaceFile(b *testing.B) {
	u, grpcAddr := os.Getenv("RAGWAY_TEST_WEAVIATE_URL"), os.Getenv("RAGWAY_TEST_WEAVIATE_GRPC")
	if u == "" {
		b.Skip("RAGWAY_TEST_WEAVIATE_URL is unset")
	}
	ctx := context.Background()
	s, err := weaviate.Open(ctx, weaviate.Options{URL: u, GRPCAddress: grpcAddr, ClassPrefix: "Rgbench"})
	require.NoError(b, err)
	defer s.Close()
	defer func() { require.NoError(b, s.DropAll(ctx)) }()
	const n, dim = 4000, 384
	chunks := make([]retrieval.Chunk, n)
	for i := range chunks {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(math.Sin(float64(i*dim + j)))
		}
		chunks[i] = retrievaltest.Chunk("f", i, fmt.Sprintf("bulk chunk %d of a long file", i), v, map[string]any{"n": float64(i)})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		require.NoError(b, s.ReplaceFile(ctx, "t", "c", fmt.Sprintf("f%d", i), chunks))
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "chunks/s")
}
