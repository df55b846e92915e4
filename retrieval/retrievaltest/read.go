package retrievaltest

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/retrieval"
)

// reader returns the store as a retrieval.Reader, failing the test when it
// is not one: every store must be readable for migration.
func reader(t *testing.T, s retrieval.Store) retrieval.Reader {
	t.Helper()
	r, ok := s.(retrieval.Reader)
	require.True(t, ok, "%T does not implement retrieval.Reader", s)
	return r
}

func testRead(t *testing.T, open Opener) {
	s := fresh(t, open)
	r := reader(t, s)
	ctx := context.Background()

	colls, err := r.Collections(ctx)
	require.NoError(t, err)
	require.Empty(t, colls, "a new store holds no collection")

	attrs := map[string]any{"lang": "en", "n": 3.5, "ok": true}
	replace(t, s, "t2", "b", "z", Chunk("z", 0, "zulu", Vec(4, 0), nil))
	replace(t, s, "t1", "a", "f2",
		Chunk("f2", 1, "second of two", Vec(1, 0.3), attrs),
		Chunk("f2", 0, "first of two", Vec(1, 0.2), attrs))
	replace(t, s, "t1", "a", "f1", Chunk("f1", 0, "only one", Vec(0, 0.1), nil))
	replace(t, s, "t1", "gone", "g", Chunk("g", 0, "deleted later", Vec(0, 0), nil))
	replace(t, s, "t1", "emptied", "e", Chunk("e", 0, "removed file", Vec(0, 0), nil))
	replace(t, s, "t1", "emptied", "e")
	require.NoError(t, s.DeleteCollection(ctx, "t1", "gone"))

	colls, err = r.Collections(ctx)
	require.NoError(t, err)
	require.Equal(t, []retrieval.CollectionRef{{Tenant: "t1", Collection: "a"}, {Tenant: "t2", Collection: "b"}}, colls)

	files, err := r.Files(ctx, "t1", "a")
	require.NoError(t, err)
	require.Equal(t, []retrieval.FileInfo{{ID: "f1", Chunks: 1}, {ID: "f2", Chunks: 2}}, files)
	nf, nc, err := retrieval.Count(ctx, r, "t1", "a")
	require.NoError(t, err)
	require.Equal(t, [2]int{2, 3}, [2]int{nf, nc})

	for _, missing := range [][2]string{{"t1", "nope"}, {"t2", "a"}, {"t1", "gone"}} {
		none, err := r.Files(ctx, missing[0], missing[1])
		require.NoError(t, err)
		require.Empty(t, none, "%v", missing)
	}

	got, err := r.FileChunks(ctx, "t1", "a", "f2")
	require.NoError(t, err)
	require.Len(t, got, 2)
	want := []retrieval.Chunk{
		Chunk("f2", 0, "first of two", Vec(1, 0.2), attrs),
		Chunk("f2", 1, "second of two", Vec(1, 0.3), attrs),
	}
	for i := range want {
		w, g := want[i], got[i]
		require.Equal(t, w.ID, g.ID)
		require.Equal(t, "t1", g.Tenant)
		require.Equal(t, "a", g.Collection)
		require.Equal(t, w.FileID, g.FileID)
		require.Equal(t, w.Filename, g.Filename)
		require.Equal(t, w.Index, g.Index)
		require.Equal(t, w.Text, g.Text)
		require.Equal(t, w.Title, g.Title)
		require.Equal(t, w.Heading, g.Heading)
		require.Equal(t, w.Page, g.Page)
		require.Equal(t, w.Attributes, g.Attributes)
		require.InDelta(t, 1, cosine(w.Vector, g.Vector), 1e-5, "chunk %d keeps its vector", i)
	}

	// A copy of what was read, written to a fresh store, searches alike.
	dst := fresh(t, open)
	for _, f := range files {
		chunks, err := r.FileChunks(ctx, "t1", "a", f.ID)
		require.NoError(t, err)
		require.NoError(t, dst.ReplaceFile(ctx, "t1", "a", f.ID, chunks))
	}
	q := retrieval.Query{Tenant: "t1", Collection: "a", Text: "second", Vector: Vec(1, 0.22), K: 3}
	require.Equal(t, IDs(Search(t, s, q)), IDs(Search(t, dst, q)))

	got, err = r.FileChunks(ctx, "t1", "a", "missing")
	require.NoError(t, err)
	require.Empty(t, got)
	got, err = r.FileChunks(ctx, "t1", "emptied", "e")
	require.NoError(t, err)
	require.Empty(t, got)
}

func cosine(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.NaN()
	}
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}
