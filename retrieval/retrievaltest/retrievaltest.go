// Package retrievaltest is the conformance suite every retrieval.Store
// passes: writes, replaces and deletes, top-k, the three modes, filters,
// tenant and collection isolation, persistence and concurrency.
package retrievaltest

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/retrieval"
)

// Dim is the vector size the suite uses.
const Dim = 8

// Opener opens the store kept in dir; opening the same dir again after
// Close must find the same contents. Stores that keep data elsewhere (a
// database) derive their location from dir.
type Opener func(t *testing.T, dir string) retrieval.Store

// Caps declares what a store cannot promise, so the suite checks the rest.
type Caps struct {
	// NonAtomicReplace: a search during ReplaceFile may briefly see both
	// the old and the new chunks of the file (never neither). Stores
	// without transactions (Weaviate, Milvus) say so and document it.
	NonAtomicReplace bool
}

// Run runs the whole suite against the stores open makes.
func Run(t *testing.T, open Opener) { RunCaps(t, open, Caps{}) }

// RunCaps runs the suite, leaving out the checks caps rules out.
func RunCaps(t *testing.T, open Opener, caps Caps) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"Upsert", testUpsert},
		{"Replace", testReplace},
		{"DeleteFile", testDeleteFile},
		{"DeleteCollection", testDeleteCollection},
		{"TopK", testTopK},
		{"Modes", testModes},
		{"Filters", testFilters},
		{"SelectiveFilter", testSelectiveFilter},
		{"Isolation", testIsolation},
		{"Persistence", testPersistence},
		{"InvalidQueries", testInvalid},
		{"AtomicReplace", testAtomicReplace},
		{"Concurrent", testConcurrent},
		{"Read", testRead},
	}
	for _, tc := range tests {
		if tc.name == "AtomicReplace" && caps.NonAtomicReplace {
			tc.name, tc.fn = "OverlappingReplace", testOverlappingReplace
		}
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// fresh opens a store in a new directory, closed when the test ends.
func fresh(t *testing.T, open Opener) retrieval.Store {
	t.Helper()
	s := open(t, t.TempDir())
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Vec returns a unit vector pointing mostly along axis a, tilted by x
// towards axis a+1, so vectors are ordered by x around each axis.
func Vec(a int, x float64) []float32 {
	v := make([]float32, Dim)
	v[a%Dim] = float32(math.Cos(x))
	v[(a+1)%Dim] = float32(math.Sin(x))
	return v
}

// Chunk builds a chunk of the file with text, a vector and attributes.
func Chunk(fileID string, i int, text string, vec []float32, attrs map[string]any) retrieval.Chunk {
	return retrieval.Chunk{
		ID:         fmt.Sprintf("%s-%d-%s", fileID, i, text),
		FileID:     fileID,
		Filename:   fileID + ".txt",
		Index:      i,
		Text:       text,
		Vector:     vec,
		Title:      "title " + fileID,
		Heading:    "heading",
		Page:       i + 1,
		Attributes: attrs,
	}
}

// Search runs q and fails the test on error.
func Search(t *testing.T, s retrieval.Store, q retrieval.Query) []retrieval.Result {
	t.Helper()
	res, err := s.Search(context.Background(), q)
	require.NoError(t, err)
	require.LessOrEqual(t, len(res), q.K)
	for i := 1; i < len(res); i++ {
		require.GreaterOrEqual(t, res[i-1].Score, res[i].Score, "results best first")
	}
	return res
}

// IDs returns the ids of results in order.
func IDs(res []retrieval.Result) []string {
	out := make([]string, len(res))
	for i, r := range res {
		out[i] = r.ID
	}
	return out
}

// FileIDs returns the distinct file ids of results.
func FileIDs(res []retrieval.Result) map[string]int {
	out := map[string]int{}
	for _, r := range res {
		out[r.FileID]++
	}
	return out
}

func replace(t *testing.T, s retrieval.Store, tenant, coll, fileID string, chunks ...retrieval.Chunk) {
	t.Helper()
	require.NoError(t, s.ReplaceFile(context.Background(), tenant, coll, fileID, chunks))
}

func testUpsert(t *testing.T, open Opener) {
	s := fresh(t, open)
	attrs := map[string]any{"lang": "en", "year": 2024.0, "draft": false}
	replace(t, s, "t1", "docs", "f1",
		Chunk("f1", 0, "the quick brown fox", Vec(0, 0), attrs),
		Chunk("f1", 1, "jumps over the lazy dog", Vec(2, 0), attrs))
	res := Search(t, s, retrieval.Query{Tenant: "t1", Collection: "docs", Text: "fox", Vector: Vec(0, 0.1), K: 5, Mode: retrieval.ModeHybrid})
	require.NotEmpty(t, res)
	got := res[0]
	require.Equal(t, "f1-0-the quick brown fox", got.ID)
	require.Equal(t, "t1", got.Tenant)
	require.Equal(t, "docs", got.Collection)
	require.Equal(t, "f1", got.FileID)
	require.Equal(t, "f1.txt", got.Filename)
	require.Equal(t, 0, got.Index)
	require.Equal(t, "the quick brown fox", got.Text)
	require.Equal(t, "title f1", got.Title)
	require.Equal(t, "heading", got.Heading)
	require.Equal(t, 1, got.Page)
	require.Equal(t, "en", got.Attributes["lang"])
	require.InDelta(t, 2024.0, got.Attributes["year"], 0)
	require.Equal(t, false, got.Attributes["draft"])

	// The same file again is idempotent.
	replace(t, s, "t1", "docs", "f1",
		Chunk("f1", 0, "the quick brown fox", Vec(0, 0), attrs),
		Chunk("f1", 1, "jumps over the lazy dog", Vec(2, 0), attrs))
	res = Search(t, s, retrieval.Query{Tenant: "t1", Collection: "docs", Vector: Vec(0, 0), K: 10, Mode: retrieval.ModeVector})
	require.Len(t, res, 2)
}

func testReplace(t *testing.T, open Opener) {
	s := fresh(t, open)
	replace(t, s, "t", "c", "f1", Chunk("f1", 0, "old apple text", Vec(0, 0), nil), Chunk("f1", 1, "old apple more", Vec(0, 0.1), nil))
	replace(t, s, "t", "c", "f2", Chunk("f2", 0, "other banana", Vec(1, 0), nil))
	replace(t, s, "t", "c", "f1", Chunk("f1", 0, "new cherry text", Vec(0, 0.2), nil))
	for _, mode := range []retrieval.Mode{retrieval.ModeVector, retrieval.ModeLexical, retrieval.ModeHybrid} {
		res := Search(t, s, retrieval.Query{Tenant: "t", Collection: "c", Text: "apple cherry banana text", Vector: Vec(0, 0), K: 10, Mode: mode})
		require.ElementsMatch(t, []string{"f1-0-new cherry text", "f2-0-other banana"}, IDs(res), "mode %s", mode)
	}
}

func testDeleteFile(t *testing.T, open Opener) {
	s := fresh(t, open)
	replace(t, s, "t", "c", "f1", Chunk("f1", 0, "alpha", Vec(0, 0), nil))
	replace(t, s, "t", "c", "f2", Chunk("f2", 0, "alpha beta", Vec(0, 0.1), nil))
	replace(t, s, "t", "c", "f1")
	res := Search(t, s, retrieval.Query{Tenant: "t", Collection: "c", Text: "alpha", Vector: Vec(0, 0), K: 10})
	require.Equal(t, []string{"f2-0-alpha beta"}, IDs(res))
	// Deleting a file that does not exist is not an error.
	replace(t, s, "t", "c", "missing")
	replace(t, s, "t", "c", "f2")
	require.Empty(t, Search(t, s, retrieval.Query{Tenant: "t", Collection: "c", Text: "alpha", K: 10, Mode: retrieval.ModeLexical}))
}

func testDeleteCollection(t *testing.T, open Opener) {
	s := fresh(t, open)
	ctx := context.Background()
	replace(t, s, "t", "a", "f1", Chunk("f1", 0, "kept words", Vec(0, 0), nil))
	replace(t, s, "t", "b", "f1", Chunk("f1", 0, "gone words", Vec(0, 0), nil))
	require.NoError(t, s.DeleteCollection(ctx, "t", "b"))
	require.Empty(t, Search(t, s, retrieval.Query{Tenant: "t", Collection: "b", Text: "words", Vector: Vec(0, 0), K: 5}))
	require.Len(t, Search(t, s, retrieval.Query{Tenant: "t", Collection: "a", Text: "words", Vector: Vec(0, 0), K: 5}), 1)
	require.NoError(t, s.DeleteCollection(ctx, "t", "never-existed"))
	// The name can be used again, even with another vector size.
	v := append(Vec(0, 0), 0, 0)
	replace(t, s, "t", "b", "f9", Chunk("f9", 0, "reborn", v, nil))
	require.Len(t, Search(t, s, retrieval.Query{Tenant: "t", Collection: "b", Vector: v, K: 5, Mode: retrieval.ModeVector}), 1)
}

func testTopK(t *testing.T, open Opener) {
	s := fresh(t, open)
	var chunks []retrieval.Chunk
	for i := range 30 {
		chunks = append(chunks, Chunk("f", i, "common "+strconv.Itoa(i), Vec(0, float64(i)*0.05), nil))
	}
	replace(t, s, "t", "c", "f", chunks...)
	for _, k := range []int{1, 5, 30, 100} {
		res := Search(t, s, retrieval.Query{Tenant: "t", Collection: "c", Vector: Vec(0, 0), K: k, Mode: retrieval.ModeVector})
		require.Len(t, res, min(k, 30))
		for i, r := range res {
			require.Equal(t, i, r.Index, "nearest first")
		}
	}
	res := Search(t, s, retrieval.Query{Tenant: "t", Collection: "c", Text: "common", K: 7, Mode: retrieval.ModeLexical})
	require.Len(t, res, 7)
	res = Search(t, s, retrieval.Query{Tenant: "t", Collection: "c", Text: "common", Vector: Vec(0, 0), K: 12})
	require.Len(t, res, 12)
}

func testModes(t *testing.T, open Opener) {
	s := fresh(t, open)
	// The lexical match and the vector match are different chunks.
	replace(t, s, "t", "c", "f",
		Chunk("f", 0, "zebra stripes savannah", Vec(3, 0), nil),
		Chunk("f", 1, "unrelated words here", Vec(0, 0), nil),
		Chunk("f", 2, "more filler text", Vec(5, 0), nil))
	q := retrieval.Query{Tenant: "t", Collection: "c", Text: "zebra stripes", Vector: Vec(0, 0.01), K: 3}
	q.Mode = retrieval.ModeLexical
	res := Search(t, s, q)
	require.Len(t, res, 1, "lexical search returns only chunks sharing a term")
	require.Equal(t, 0, res[0].Index)
	q.Mode = retrieval.ModeVector
	res = Search(t, s, q)
	require.Equal(t, 1, res[0].Index)
	require.InDelta(t, 1.0, res[0].Score, 0.01, "vector score is cosine similarity")
	q.Mode = retrieval.ModeHybrid
	res = Search(t, s, q)
	require.Len(t, res, 3)
	top2 := map[int]bool{res[0].Index: true, res[1].Index: true}
	require.Equal(t, map[int]bool{0: true, 1: true}, top2, "hybrid ranks both lists' best first")
	// Hybrid without a vector is lexical; without text it is vector.
	res = Search(t, s, retrieval.Query{Tenant: "t", Collection: "c", Text: "zebra", K: 3, Mode: retrieval.ModeHybrid})
	require.Equal(t, []int{0}, indexes(res))
	res = Search(t, s, retrieval.Query{Tenant: "t", Collection: "c", Vector: Vec(5, 0), K: 1, Mode: retrieval.ModeHybrid})
	require.Equal(t, []int{2}, indexes(res))
}

func indexes(res []retrieval.Result) []int {
	out := make([]int, len(res))
	for i, r := range res {
		out[i] = r.Index
	}
	return out
}
