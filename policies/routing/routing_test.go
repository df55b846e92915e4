package routing

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func split(weights ...int) Route {
	r := Route{Model: "chat"}
	for i, w := range weights {
		r.Targets = append(r.Targets, Target{Backend: "b", Model: fmt.Sprintf("m%d", i), Weight: w})
	}
	return r
}

func TestWeightedSplitWithinBounds(t *testing.T) {
	tbl := NewTable([]Route{split(90, 9, 1)})
	const n = 200000
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		tg, found, err := tbl.Pick("chat", Caller{}, "")
		require.NoError(t, err)
		require.True(t, found)
		counts[tg.Model]++
	}
	for i, w := range []float64{0.90, 0.09, 0.01} {
		got := float64(counts[fmt.Sprintf("m%d", i)]) / n
		// Five standard deviations of a binomial proportion.
		bound := 5 * math.Sqrt(w*(1-w)/n)
		require.InDelta(t, w, got, bound, "target m%d", i)
	}
}

func TestZeroWeightNeverPicked(t *testing.T) {
	tbl := NewTable([]Route{split(1, 0)})
	for i := 0; i < 10000; i++ {
		tg, _, _ := tbl.Pick("chat", Caller{}, "")
		require.Equal(t, "m0", tg.Model)
	}
}

func TestStickyCallersStayOnTheirTarget(t *testing.T) {
	for _, by := range []Sticky{{By: StickyUser}, {By: StickyKey}, {By: StickyHeader, Header: "X-Tenant"}} {
		t.Run(by.By, func(t *testing.T) {
			r := split(50, 50)
			r.Sticky = by
			tbl := NewTable([]Route{r})
			seen := map[string]int{}
			for u := 0; u < 200; u++ {
				id := fmt.Sprintf("caller-%d", u)
				c := Caller{User: id, Key: id, Header: func(string) string { return id }}
				first, _, err := tbl.Pick("chat", c, "")
				require.NoError(t, err)
				for i := 0; i < 20; i++ {
					again, _, _ := tbl.Pick("chat", c, "")
					require.Equal(t, first, again, "caller %s moved", id)
				}
				seen[first.Model]++
			}
			// Hashing must still spread callers over both targets.
			require.Greater(t, seen["m0"], 60)
			require.Greater(t, seen["m1"], 60)
		})
	}
}

func TestForcedTarget(t *testing.T) {
	tbl := NewTable([]Route{split(100, 0)})
	tg, found, err := tbl.Pick("chat", Caller{}, "b/m1")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, "m1", tg.Model)
	_, _, err = tbl.Pick("chat", Caller{}, "b/nope")
	require.ErrorIs(t, err, ErrUnknownTarget)
	_, found, _ = tbl.Pick("other", Caller{}, "")
	require.False(t, found)
}

func TestChainFollowsFallbacksOnce(t *testing.T) {
	a := split(1)
	a.Model, a.Fallbacks = "a", []string{"b", "c"}
	b := split(1)
	b.Model, b.Fallbacks = "b", []string{"a", "d"}
	c, d := split(1), split(1)
	c.Model, d.Model = "c", "d"
	tbl := NewTable([]Route{a, b, c, d})
	require.Equal(t, []string{"a", "b", "d", "c"}, tbl.Chain("a"))
	require.Empty(t, tbl.Chain("missing"))
}

func TestShadowSampleRate(t *testing.T) {
	r := split(1)
	r.Shadow = &Shadow{Backend: "b", Model: "shadow", Sample: 0.25}
	tbl := NewTable([]Route{r})
	hits := 0
	const n = 40000
	for i := 0; i < n; i++ {
		if tg, ok := tbl.Shadow("chat"); ok {
			require.Equal(t, "shadow", tg.Model)
			hits++
		}
	}
	require.InDelta(t, 0.25, float64(hits)/n, 5*math.Sqrt(0.25*0.75/n))
	_, ok := NewTable([]Route{split(1)}).Shadow("chat")
	require.False(t, ok)
}

func TestValidate(t *testing.T) {
	known := map[string]bool{"b": true}
	cases := []struct {
		name   string
		routes []Route
		want   []string
	}{
		{"ok", []Route{split(90, 10)}, nil},
		{"missing model", []Route{{Targets: []Target{{Backend: "b", Model: "m"}}}}, []string{"model is required"}},
		{"no targets", []Route{{Model: "x"}}, []string{"at least one target"}},
		{"unknown backend", []Route{{Model: "x", Targets: []Target{{Backend: "zz", Model: "m"}}}}, []string{`unknown backend "zz"`}},
		{"negative weight and zero total", []Route{{Model: "x", Targets: []Target{{Backend: "b", Model: "m", Weight: -1}, {Backend: "b", Model: "n", Weight: 1}}}},
			[]string{"weight must not be negative"}},
		{"duplicate", []Route{split(1), split(1)}, []string{"duplicate route"}},
		{"bad sticky", []Route{{Model: "x", Targets: []Target{{Backend: "b", Model: "m"}}, Sticky: Sticky{By: "ip"}}}, []string{"sticky.by"}},
		{"header sticky needs header", []Route{{Model: "x", Targets: []Target{{Backend: "b", Model: "m"}}, Sticky: Sticky{By: "header"}}}, []string{"sticky.header"}},
		{"shadow sample", []Route{{Model: "x", Targets: []Target{{Backend: "b", Model: "m"}}, Shadow: &Shadow{Backend: "b", Model: "s", Sample: 2}}}, []string{"shadow.sample"}},
		{"fallbacks", []Route{{Model: "x", Targets: []Target{{Backend: "b", Model: "m"}}, Fallbacks: []string{"x", "nope"}}},
			[]string{"falls back to itself", `fallback "nope" is not a route`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.routes, known)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}
