package retrievaltest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/retrieval"
)

func cmp(op, key string, v any) *retrieval.Filter {
	return &retrieval.Filter{Type: op, Key: key, Value: v}
}

func testFilters(t *testing.T, open Opener) {
	s := fresh(t, open)
	for i := range 10 {
		attrs := map[string]any{"n": float64(i), "name": fmt.Sprintf("doc%d", i), "even": i%2 == 0}
		if i == 9 {
			delete(attrs, "n")
		}
		replace(t, s, "t", "c", fmt.Sprintf("f%d", i), Chunk(fmt.Sprintf("f%d", i), 0, "shared words", Vec(0, float64(i)*0.1), attrs))
	}
	tests := []struct {
		name string
		f    *retrieval.Filter
		want []int
	}{
		{"eq number", cmp("eq", "n", 3.0), []int{3}},
		{"ne number skips missing key", cmp("ne", "n", 3.0), []int{0, 1, 2, 4, 5, 6, 7, 8}},
		{"gt", cmp("gt", "n", 6.0), []int{7, 8}},
		{"gte", cmp("gte", "n", 6.0), []int{6, 7, 8}},
		{"lt", cmp("lt", "n", 2.0), []int{0, 1}},
		{"lte", cmp("lte", "n", 2.0), []int{0, 1, 2}},
		{"eq string", cmp("eq", "name", "doc4"), []int{4}},
		{"lt string", cmp("lt", "name", "doc2"), []int{0, 1}},
		{"eq bool", cmp("eq", "even", true), []int{0, 2, 4, 6, 8}},
		{"missing key", cmp("eq", "nope", 1.0), nil},
		{"kind mismatch", cmp("eq", "n", "3"), nil},
		{"and", &retrieval.Filter{Type: "and", Filters: []*retrieval.Filter{cmp("gte", "n", 2.0), cmp("eq", "even", false)}}, []int{3, 5, 7}},
		{"or", &retrieval.Filter{Type: "or", Filters: []*retrieval.Filter{cmp("eq", "n", 1.0), cmp("eq", "name", "doc9")}}, []int{1, 9}},
		{"nested", &retrieval.Filter{Type: "and", Filters: []*retrieval.Filter{
			cmp("eq", "even", true),
			{Type: "or", Filters: []*retrieval.Filter{cmp("lt", "n", 1.0), cmp("gt", "n", 7.0)}},
		}}, []int{0, 8}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, mode := range []retrieval.Mode{retrieval.ModeVector, retrieval.ModeLexical, retrieval.ModeHybrid} {
				res := Search(t, s, retrieval.Query{Tenant: "t", Collection: "c", Text: "shared", Vector: Vec(0, 0), K: 20, Mode: mode, Filter: tc.f})
				got := make([]int, 0, len(res))
				for _, r := range res {
					var i int
					_, err := fmt.Sscanf(r.FileID, "f%d", &i)
					require.NoError(t, err)
					got = append(got, i)
				}
				require.ElementsMatch(t, tc.want, got, "mode %s", mode)
			}
		})
	}
}

func testSelectiveFilter(t *testing.T, open Opener) {
	s := fresh(t, open)
	// Many chunks near the query; the few that match the filter are far.
	const n, rare = 6000, 12
	chunks := make([]retrieval.Chunk, 0, n)
	for i := range n {
		tag := "common"
		v := Vec(0, float64(i%100)*0.001)
		if i%(n/rare) == 0 {
			tag, v = "rare", Vec(4, float64(i)*0.0001)
		}
		chunks = append(chunks, Chunk("f", i, "needle haystack "+tag, v, map[string]any{"tag": tag, "i": float64(i)}))
	}
	for start := 0; start < n; start += 500 {
		replace(t, s, "t", "c", fmt.Sprintf("f%d", start), chunks[start:start+500]...)
	}
	f := cmp("eq", "tag", "rare")
	for _, mode := range []retrieval.Mode{retrieval.ModeVector, retrieval.ModeLexical, retrieval.ModeHybrid} {
		res := Search(t, s, retrieval.Query{Tenant: "t", Collection: "c", Text: "needle", Vector: Vec(0, 0), K: 10, Mode: mode, Filter: f})
		require.Len(t, res, 10, "mode %s", mode)
		for _, r := range res {
			require.Equal(t, "rare", r.Attributes["tag"])
		}
	}
	// A broad filter (half the chunks) still fills K with matches.
	half := cmp("lt", "i", float64(n/2))
	res := Search(t, s, retrieval.Query{Tenant: "t", Collection: "c", Vector: Vec(0, 0), K: 50, Mode: retrieval.ModeVector, Filter: half})
	require.Len(t, res, 50)
	for _, r := range res {
		require.Less(t, r.Attributes["i"], float64(n/2))
	}
}

func testIsolation(t *testing.T, open Opener) {
	s := fresh(t, open)
	replace(t, s, "alice", "docs", "f", Chunk("f", 0, "secret plans alice", Vec(0, 0), nil))
	replace(t, s, "bob", "docs", "f", Chunk("f", 0, "secret plans bob", Vec(0, 0), nil))
	replace(t, s, "alice", "other", "f", Chunk("f", 0, "secret plans other", Vec(0, 0), nil))
	for _, mode := range []retrieval.Mode{retrieval.ModeVector, retrieval.ModeLexical, retrieval.ModeHybrid} {
		res := Search(t, s, retrieval.Query{Tenant: "alice", Collection: "docs", Text: "secret plans", Vector: Vec(0, 0), K: 10, Mode: mode})
		require.Len(t, res, 1, "mode %s", mode)
		require.Equal(t, "secret plans alice", res[0].Text)
		require.Equal(t, "alice", res[0].Tenant)
	}
	require.Empty(t, Search(t, s, retrieval.Query{Tenant: "carol", Collection: "docs", Text: "secret", Vector: Vec(0, 0), K: 10}))
	// The same file id in another tenant is another file.
	replace(t, s, "bob", "docs", "f")
	require.Len(t, Search(t, s, retrieval.Query{Tenant: "alice", Collection: "docs", Text: "secret", K: 10, Mode: retrieval.ModeLexical}), 1)
	require.NoError(t, s.DeleteCollection(context.Background(), "bob", "other"))
	require.Len(t, Search(t, s, retrieval.Query{Tenant: "alice", Collection: "other", Text: "secret", K: 10, Mode: retrieval.ModeLexical}), 1)
}

func testPersistence(t *testing.T, open Opener) {
	dir := t.TempDir()
	s := open(t, dir)
	ctx := context.Background()
	replace(t, s, "t", "c", "f1", Chunk("f1", 0, "persisted apple", Vec(0, 0), map[string]any{"k": "v", "n": 2.5, "b": true}))
	replace(t, s, "t", "c", "f2", Chunk("f2", 0, "replaced", Vec(1, 0), nil))
	replace(t, s, "t", "c", "f2", Chunk("f2", 0, "persisted banana", Vec(1, 0), nil))
	replace(t, s, "t", "c", "f3", Chunk("f3", 0, "deleted", Vec(2, 0), nil))
	replace(t, s, "t", "c", "f3")
	replace(t, s, "t", "gone", "f1", Chunk("f1", 0, "persisted gone", Vec(0, 0), nil))
	require.NoError(t, s.DeleteCollection(ctx, "t", "gone"))
	require.NoError(t, s.Close())

	s = open(t, dir)
	defer s.Close()
	res := Search(t, s, retrieval.Query{Tenant: "t", Collection: "c", Text: "persisted replaced deleted", Vector: Vec(0, 0), K: 10})
	require.ElementsMatch(t, []string{"f1-0-persisted apple", "f2-0-persisted banana"}, IDs(res))
	for _, r := range res {
		if r.FileID == "f1" {
			require.Equal(t, map[string]any{"k": "v", "n": 2.5, "b": true}, r.Attributes)
		}
	}
	require.Empty(t, Search(t, s, retrieval.Query{Tenant: "t", Collection: "gone", Text: "persisted", K: 10}))
	res = Search(t, s, retrieval.Query{Tenant: "t", Collection: "c", Vector: Vec(1, 0), K: 1, Mode: retrieval.ModeVector})
	require.Equal(t, []string{"f2-0-persisted banana"}, IDs(res))
}

func testInvalid(t *testing.T, open Opener) {
	s := fresh(t, open)
	replace(t, s, "t", "c", "f", Chunk("f", 0, "text", Vec(0, 0), nil))
	ok := retrieval.Query{Tenant: "t", Collection: "c", Text: "text", Vector: Vec(0, 0), K: 5}
	tests := []struct {
		name string
		edit func(q *retrieval.Query)
	}{
		{"k zero", func(q *retrieval.Query) { q.K = 0 }},
		{"k too large", func(q *retrieval.Query) { q.K = 1001 }},
		{"wrong vector size", func(q *retrieval.Query) { q.Vector = []float32{1, 2, 3} }},
		{"unknown mode", func(q *retrieval.Query) { q.Mode = "psychic" }},
		{"vector mode without vector", func(q *retrieval.Query) { q.Vector, q.Mode = nil, retrieval.ModeVector }},
		{"unknown filter", func(q *retrieval.Query) { q.Filter = &retrieval.Filter{Type: "like", Key: "a", Value: "b"} }},
		{"filter without key", func(q *retrieval.Query) { q.Filter = cmp("eq", "", "b") }},
		{"filter bad value", func(q *retrieval.Query) { q.Filter = cmp("eq", "a", []any{1}) }},
		{"empty and", func(q *retrieval.Query) { q.Filter = &retrieval.Filter{Type: "and"} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := ok
			tc.edit(&q)
			_, err := s.Search(context.Background(), q)
			require.ErrorIs(t, err, retrieval.ErrInvalidQuery)
		})
	}
	_, err := s.Search(context.Background(), ok)
	require.NoError(t, err)
	// Chunks whose vectors do not fit the collection are refused whole.
	err = s.ReplaceFile(context.Background(), "t", "c", "g", []retrieval.Chunk{Chunk("g", 0, "bad", []float32{1, 2}, nil)})
	require.ErrorIs(t, err, retrieval.ErrInvalidQuery)
	require.Empty(t, Search(t, s, retrieval.Query{Tenant: "t", Collection: "c", Text: "bad", K: 5, Mode: retrieval.ModeLexical}))
}

// testAtomicReplace replaces a file over and over while readers check that
// every search sees exactly one version of it.
func testAtomicReplace(t *testing.T, open Opener) { replaceUnderSearch(t, open, true) }

// testOverlappingReplace is the promise of stores without transactions: a
// search during a replace sees the new chunks, the old ones or both, never
// a file with no chunks, and once the replace returns only the new ones.
func testOverlappingReplace(t *testing.T, open Opener) { replaceUnderSearch(t, open, false) }

func replaceUnderSearch(t *testing.T, open Opener, atomic bool) {
	s := fresh(t, open)
	const chunksPerFile = 5
	version := func(v int) []retrieval.Chunk {
		out := make([]retrieval.Chunk, chunksPerFile)
		for i := range out {
			out[i] = Chunk("f", i, fmt.Sprintf("swap v%d", v), Vec(0, float64(i)*0.01), map[string]any{"v": float64(v)})
		}
		return out
	}
	replace(t, s, "t", "c", "other", Chunk("other", 0, "swap unrelated", Vec(6, 0), nil))
	replace(t, s, "t", "c", "f", version(0)...)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := range 3 {
		mode := []retrieval.Mode{retrieval.ModeVector, retrieval.ModeLexical, retrieval.ModeHybrid}[r]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				res, err := s.Search(context.Background(), retrieval.Query{Tenant: "t", Collection: "c", Text: "swap", Vector: Vec(0, 0), K: 20, Mode: mode})
				if err != nil {
					errs <- err
					return
				}
				seen := map[float64]int{}
				for _, x := range res {
					if x.FileID == "f" {
						seen[x.Attributes["v"].(float64)]++
					}
				}
				if len(seen) == 0 || atomic && len(seen) != 1 {
					errs <- fmt.Errorf("mode %s saw versions %v", mode, seen)
					return
				}
				for _, n := range seen {
					if atomic && n != chunksPerFile {
						errs <- fmt.Errorf("mode %s saw %d chunks of one version", mode, n)
						return
					}
				}
			}
		}()
	}
	for v := 1; v <= 60; v++ {
		require.NoError(t, s.ReplaceFile(context.Background(), "t", "c", "f", version(v)))
		if !atomic && v%10 == 0 {
			res := Search(t, s, retrieval.Query{Tenant: "t", Collection: "c", Text: "swap", Vector: Vec(0, 0), K: 20, Mode: retrieval.ModeLexical})
			n := 0
			for _, x := range res {
				if x.FileID == "f" {
					require.InDelta(t, float64(v), x.Attributes["v"], 0, "only the new version once the replace returned")
					n++
				}
			}
			require.Equal(t, chunksPerFile, n)
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// testConcurrent runs writers on several files and collections with
// readers alongside, then checks the final state.
func testConcurrent(t *testing.T, open Opener) {
	s := fresh(t, open)
	ctx := context.Background()
	const writers, rounds = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*2)
	for w := range writers {
		wg.Add(2)
		coll := fmt.Sprintf("c%d", w%2)
		go func() {
			defer wg.Done()
			for r := range rounds {
				file := fmt.Sprintf("w%d-f%d", w, r%5)
				ch := Chunk(file, 0, fmt.Sprintf("writer %d round %d", w, r), Vec(w, float64(r)*0.01), map[string]any{"w": float64(w)})
				if err := s.ReplaceFile(ctx, "t", coll, file, []retrieval.Chunk{ch}); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range rounds {
				_, err := s.Search(ctx, retrieval.Query{Tenant: "t", Collection: coll, Text: "writer round", Vector: Vec(w, 0), K: 10, Filter: cmp("eq", "w", float64(w))})
				if err != nil && !errors.Is(err, retrieval.ErrNotFound) {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for w := range writers {
		res := Search(t, s, retrieval.Query{Tenant: "t", Collection: fmt.Sprintf("c%d", w%2), Text: "writer", K: 100, Mode: retrieval.ModeLexical, Filter: cmp("eq", "w", float64(w))})
		require.Len(t, res, 5, "writer %d keeps one chunk per file", w)
		for _, r := range res {
			var round, file int
			_, err := fmt.Sscanf(r.Text, fmt.Sprintf("writer %d round %%d", w), &round)
			require.NoError(t, err)
			_, err = fmt.Sscanf(r.FileID, fmt.Sprintf("w%d-f%%d", w), &file)
			require.NoError(t, err)
			require.GreaterOrEqual(t, round, rounds-5, "the last write of each file wins")
			require.Equal(t, round%5, file)
		}
	}
}
