package weaviate

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/retrieval"
)

func TestClassCache(t *testing.T) {
	c := &class{name: "C", meta: classMeta{Dim: 2}, props: map[string]string{propText: "text"}}
	now := time.Now()

	t.Run("hit returns a copy", func(t *testing.T) {
		cc := newClassCache(time.Minute)
		cc.put("C", c, cc.generation(), now)
		got := cc.get("C")
		require.Equal(t, c, got)
		got.props["x"] = "text"
		require.NotContains(t, cc.get("C").props, "x", "changing a copy leaves the cache alone")
		require.NotContains(t, c.props, "x", "the cache holds its own copy")
	})
	t.Run("expires", func(t *testing.T) {
		cc := newClassCache(time.Minute)
		cc.put("C", c, cc.generation(), now.Add(-time.Minute))
		require.Nil(t, cc.get("C"))
	})
	t.Run("invalidate forgets", func(t *testing.T) {
		cc := newClassCache(time.Minute)
		cc.put("C", c, cc.generation(), now)
		cc.invalidate("C")
		require.Nil(t, cc.get("C"))
	})
	t.Run("read racing a change is not kept", func(t *testing.T) {
		cc := newClassCache(time.Minute)
		gen := cc.generation()
		cc.invalidate("C")
		cc.put("C", c, gen, now)
		require.Nil(t, cc.get("C"))
	})
	t.Run("missing class forgets", func(t *testing.T) {
		cc := newClassCache(time.Minute)
		cc.put("C", c, cc.generation(), now)
		cc.put("C", nil, cc.generation(), now)
		require.Nil(t, cc.get("C"))
	})
	t.Run("disabled", func(t *testing.T) {
		cc := newClassCache(0)
		cc.put("C", c, cc.generation(), now)
		require.Nil(t, cc.get("C"))
	})
	t.Run("bounded", func(t *testing.T) {
		cc := newClassCache(time.Minute)
		for i := range maxCachedClasses + 10 {
			cc.put(className("P", "t", string(rune('a'+i%26))+time.Duration(i).String()), c, cc.generation(), now)
		}
		require.LessOrEqual(t, len(cc.entries), maxCachedClasses)
	})
}

// TestClassChangedElsewhere checks that a search's cached class does not
// hide what another process changed: a dropped collection, one recreated
// for other vectors, a new attribute key.
func TestClassChangedElsewhere(t *testing.T) {
	s := liveStore(t)
	ctx := context.Background()
	other, err := Open(ctx, Options{URL: s.opts.URL, GRPCAddress: s.opts.GRPCAddress, ClassPrefix: s.opts.ClassPrefix})
	require.NoError(t, err)
	defer other.Close()
	search := func(q retrieval.Query) []retrieval.Result {
		t.Helper()
		q.Tenant, q.Collection, q.K = "t", "c", 10
		res, err := s.Search(ctx, q)
		require.NoError(t, err)
		return res
	}
	require.NoError(t, s.ReplaceFile(ctx, "t", "c", "f", []retrieval.Chunk{{ID: "a", Text: "alpha", Vector: []float32{1, 0}}}))
	require.Len(t, search(retrieval.Query{Text: "alpha", Vector: []float32{1, 0}}), 1)
	require.NotNil(t, s.classes.get(className(s.opts.ClassPrefix, "t", "c")), "the search cached the class")

	require.NoError(t, other.DeleteCollection(ctx, "t", "c"))
	require.Empty(t, search(retrieval.Query{Text: "alpha", Vector: []float32{1, 0}}), "dropped elsewhere")

	require.NoError(t, other.ReplaceFile(ctx, "t", "c", "f", []retrieval.Chunk{{ID: "b", Text: "beta", Vector: []float32{1, 0, 0}}}))
	require.Len(t, search(retrieval.Query{Text: "beta"}), 1)
	require.Len(t, search(retrieval.Query{Vector: []float32{0, 1, 0}, Mode: retrieval.ModeVector}), 1, "recreated elsewhere for 3 values")

	require.NoError(t, other.ReplaceFile(ctx, "t", "c", "g", []retrieval.Chunk{{ID: "g", Text: "gamma", Vector: []float32{0, 0, 1}, Attributes: map[string]any{"new": "x"}}}))
	res := search(retrieval.Query{Text: "gamma", Filter: &retrieval.Filter{Type: "eq", Key: "new", Value: "x"}})
	require.Len(t, res, 1, "a key added elsewhere filters")
	require.Equal(t, "g", res[0].FileID)
}
