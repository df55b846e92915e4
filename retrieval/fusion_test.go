package retrieval_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/retrieval"
)

func results(ids ...string) []retrieval.Result {
	out := make([]retrieval.Result, len(ids))
	for i, id := range ids {
		out[i] = retrieval.Result{Chunk: retrieval.Chunk{ID: id, Text: "text " + id}, Score: float64(100 - i)}
	}
	return out
}

func ids(res []retrieval.Result) []string {
	out := make([]string, len(res))
	for i, r := range res {
		out[i] = r.ID
	}
	return out
}

func TestFuseRRF(t *testing.T) {
	tests := []struct {
		name  string
		k     int
		limit int
		lists [][]retrieval.Result
		want  []string
	}{
		{"empty", 60, 10, nil, []string{}},
		{"one list keeps order", 60, 10, [][]retrieval.Result{results("a", "b", "c")}, []string{"a", "b", "c"}},
		{"shared chunk rises", 60, 10, [][]retrieval.Result{results("a", "b", "c"), results("c", "d")}, []string{"c", "a", "b", "d"}},
		{"ties keep first appearance", 60, 10, [][]retrieval.Result{results("a", "b"), results("b", "a")}, []string{"a", "b"}},
		{"tie across lists", 60, 10, [][]retrieval.Result{results("x"), results("y")}, []string{"x", "y"}},
		{"limit", 60, 2, [][]retrieval.Result{results("a", "b", "c")}, []string{"a", "b"}},
		{"no limit", 60, 0, [][]retrieval.Result{results("a", "b", "c")}, []string{"a", "b", "c"}},
		{"default k", 0, 10, [][]retrieval.Result{results("a", "b"), results("b")}, []string{"b", "a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := retrieval.FuseRRF(tc.k, tc.limit, tc.lists...)
			require.Equal(t, tc.want, ids(got))
		})
	}
}

func TestFuseRRFScores(t *testing.T) {
	got := retrieval.FuseRRF(60, 10, results("a", "b"), results("b"))
	require.Len(t, got, 2)
	require.InDelta(t, 1.0/62+1.0/61, got[0].Score, 1e-12)
	require.Equal(t, "b", got[0].ID)
	require.Equal(t, "text b", got[0].Text, "the chunk is carried over")
	require.InDelta(t, 1.0/61, got[1].Score, 1e-12)
	got = retrieval.FuseRRF(-5, 10, results("a"))
	require.InDelta(t, 1.0/float64(retrieval.RRFK+1), got[0].Score, 1e-12, "k <= 0 means RRFK")
}

func TestFuseWeighted(t *testing.T) {
	lex := []retrieval.Result{{Chunk: retrieval.Chunk{ID: "a"}, Score: 10}, {Chunk: retrieval.Chunk{ID: "b"}, Score: 5}}
	vec := []retrieval.Result{{Chunk: retrieval.Chunk{ID: "b"}, Score: 0.9}, {Chunk: retrieval.Chunk{ID: "c"}, Score: 0.45}}
	got := retrieval.FuseWeighted(3, 0.75, lex, vec)
	require.Len(t, got, 3)
	// a: 0.75*1; b: 0.75*0.5 + 0.25*1; c: 0.25*0.5.
	require.Equal(t, []string{"a", "b", "c"}, []string{got[0].ID, got[1].ID, got[2].ID})
	require.InDelta(t, 0.75, got[0].Score, 1e-9)
	require.InDelta(t, 0.625, got[1].Score, 1e-9)
	require.InDelta(t, 0.125, got[2].Score, 1e-9)
	require.Len(t, retrieval.FuseWeighted(1, 0.75, lex, vec), 1)
	require.Empty(t, retrieval.FuseWeighted(5, 0.5, nil, nil))
}
