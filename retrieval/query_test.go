package retrieval

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestQueryCheck(t *testing.T) {
	vec := []float32{1, 0}
	tests := []struct {
		name string
		q    Query
		mode Mode
		err  string
	}{
		{"default mode is hybrid", Query{K: 1, Text: "x"}, ModeHybrid, ""},
		{"vector", Query{K: 5, Mode: ModeVector, Vector: vec}, ModeVector, ""},
		{"lexical", Query{K: MaxK, Mode: ModeLexical, Text: "x"}, ModeLexical, ""},
		{"k zero", Query{K: 0}, "", "k must be"},
		{"k too large", Query{K: MaxK + 1}, "", "k must be"},
		{"unknown mode", Query{K: 1, Mode: "fuzzy"}, "", "unknown mode"},
		{"vector mode without vector", Query{K: 1, Mode: ModeVector}, "", "needs a vector"},
		{"vector too large", Query{K: 1, Vector: []float32{1, 2, 3}}, "", "too large"},
		{"bad filter", Query{K: 1, Filter: &Filter{Type: "like"}}, "", "unknown filter type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mode, err := tc.q.Check(2)
			if tc.err != "" {
				require.ErrorIs(t, err, ErrInvalidQuery)
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.mode, mode)
		})
	}
}
