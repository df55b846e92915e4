package analysis

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestTerms(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
	}{
		{"empty", "", nil},
		{"stopwords only", "The and of it", nil},
		{"lowercased and stemmed", "Generalizations of Running CATS", []string{"gener", "run", "cat"}},
		{"plurals agree with stems", "studies study studied", []string{"studi", "studi", "studi"}},
		{"repeats kept", "cell cells cell", []string{"cell", "cell", "cell"}},
		{"punctuation separates", "beta-amyloid, (p<0.05)", []string{"beta", "amyloid", "p", "0", "05"}},
		{"digits unstemmed", "covid19 IL-6s", []string{"covid19", "il", "6s"}},
		{"non-ascii kept", "Naïve Größe", []string{"naïve", "größe"}},
		{"ideographs one each", "日本語", []string{"日", "本", "語"}},
		{"query syntax is words", `alpha"} AND NOT \u0000`, []string{"alpha", "u0000"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Terms(tc.text))
		})
	}
}

func TestTermsLongRun(t *testing.T) {
	ts := Terms(strings.Repeat("a", 1000))
	require.NotEmpty(t, ts)
	for _, term := range ts {
		require.LessOrEqual(t, len(term), 65)
	}
}

// FuzzTerms checks the promises a search engine relies on when it indexes
// the terms joined by spaces and splits them on whitespace.
func FuzzTerms(f *testing.F) {
	for _, s := range []string{"", "The cats sat", "beta-amyloid p<0.05", "Naïve\u00a0Größe\u2003x", "日本語 text", "\xff\xfe bad utf8", "a\u0301 combining", strings.Repeat("z", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts := Terms(s)
		require.LessOrEqual(t, len(ts), len(s), "at most one term per input byte")
		for _, term := range ts {
			require.NotEmpty(t, term)
			require.True(t, utf8.ValidString(term), "term %q is not UTF-8", term)
			require.False(t, strings.ContainsFunc(term, unicode.IsSpace), "term %q holds whitespace", term)
			require.Equal(t, strings.ToLower(term), term, "term %q is not lowercase", term)
		}
		require.Equal(t, ts, Terms(s), "deterministic")
		split := strings.Fields(strings.Join(ts, " "))
		if len(ts) == 0 {
			require.Empty(t, split)
		} else {
			require.Equal(t, ts, split, "joined terms split back")
		}
	})
}
