package pgvector_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/pgvector"
	"github.com/ragway/ragway/retrieval/retrievaltest"
)

func testDSN(t *testing.T) string { return retrievaltest.PostgresDSN(t) }

func schemaFor(t *testing.T, dsn, dir string) string {
	return retrievaltest.PostgresSchema(t, dsn, "rgtest", dir)
}

func open(t *testing.T, dir string, opts pgvector.Options) *pgvector.Store {
	t.Helper()
	dsn := testDSN(t)
	opts.Schema = schemaFor(t, dsn, dir)
	s, err := pgvector.Open(context.Background(), dsn, opts)
	require.NoError(t, err)
	return s
}

func TestConformance(t *testing.T) {
	retrievaltest.Run(t, func(t *testing.T, dir string) retrieval.Store {
		return open(t, dir, pgvector.Options{})
	})
}

func TestConformanceRRF(t *testing.T) {
	retrievaltest.Run(t, func(t *testing.T, dir string) retrieval.Store {
		return open(t, dir, pgvector.Options{Fusion: pgvector.FusionRRF, M: 8, EfConstruction: 32, EfSearch: 20})
	})
}

// TestFilterInjection stores attributes whose keys and values carry SQL
// and checks they match as plain data and break nothing.
func TestFilterInjection(t *testing.T) {
	s := open(t, t.TempDir(), pgvector.Options{})
	defer s.Close()
	ctx := context.Background()
	evilKey := `k'); DROP TABLE chunks; --`
	evilValue := `' OR '1'='1`
	chunks := []retrieval.Chunk{
		retrievaltest.Chunk("f", 0, "alpha", retrievaltest.Vec(0, 0), map[string]any{evilKey: evilValue, `a"b`: 1.0}),
		retrievaltest.Chunk("f", 1, "alpha", retrievaltest.Vec(0, 0.1), map[string]any{evilKey: "plain", "$1": "x"}),
	}
	require.NoError(t, s.ReplaceFile(ctx, "t", "c", "f", chunks))
	tests := []struct {
		name string
		f    *retrieval.Filter
		want []int
	}{
		{"quoted key and value", &retrieval.Filter{Type: "eq", Key: evilKey, Value: evilValue}, []int{0}},
		{"value that would widen the filter", &retrieval.Filter{Type: "eq", Key: evilKey, Value: `plain' OR 'a'='a`}, nil},
		{"double quote key", &retrieval.Filter{Type: "gte", Key: `a"b`, Value: 1.0}, []int{0}},
		{"placeholder key", &retrieval.Filter{Type: "eq", Key: "$1", Value: "x"}, []int{1}},
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
	// Text with tsquery syntax is words, not operators.
	res := retrievaltest.Search(t, s, retrieval.Query{Tenant: "t", Collection: "c", Text: `alpha & !'x' | (:*`, K: 10, Mode: retrieval.ModeLexical})
	require.Len(t, res, 2)
	res = retrievaltest.Search(t, s, retrieval.Query{Tenant: "t", Collection: "c", Vector: retrievaltest.Vec(0, 0), K: 10, Mode: retrieval.ModeVector})
	require.Len(t, res, 2, "the table survived")
}

func TestMigrationsIdempotent(t *testing.T) {
	dir := t.TempDir()
	a := open(t, dir, pgvector.Options{})
	b := open(t, dir, pgvector.Options{})
	require.NoError(t, a.ReplaceFile(context.Background(), "t", "c", "f", []retrieval.Chunk{retrievaltest.Chunk("f", 0, "x", retrievaltest.Vec(0, 0), nil)}))
	res := retrievaltest.Search(t, b, retrieval.Query{Tenant: "t", Collection: "c", Vector: retrievaltest.Vec(0, 0), K: 1, Mode: retrieval.ModeVector})
	require.Len(t, res, 1)
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
}

func TestPoolAcquireTimeout(t *testing.T) {
	s := open(t, t.TempDir(), pgvector.Options{MaxConns: 1, AcquireTimeout: 200 * time.Millisecond})
	defer s.Close()
	ctx := context.Background()
	require.NoError(t, s.ReplaceFile(ctx, "t", "c", "f", []retrieval.Chunk{retrievaltest.Chunk("f", 0, "x", retrievaltest.Vec(0, 0), nil)}))
	conn, err := s.Pool().Acquire(ctx)
	require.NoError(t, err)
	start := time.Now()
	_, err = s.Search(ctx, retrieval.Query{Tenant: "t", Collection: "c", Text: "x", K: 1})
	require.ErrorIs(t, err, retrieval.ErrUnavailable)
	require.Less(t, time.Since(start), 5*time.Second)
	conn.Release()
	_, err = s.Search(ctx, retrieval.Query{Tenant: "t", Collection: "c", Text: "x", K: 1})
	require.NoError(t, err)
}

func TestUnavailable(t *testing.T) {
	_, err := pgvector.Open(context.Background(), "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", pgvector.Options{})
	require.ErrorIs(t, err, retrieval.ErrUnavailable)
	_, err = pgvector.Open(context.Background(), "postgres://u:secretpw@[bad", pgvector.Options{})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secretpw")
}
