package builtin

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAppendSentences(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"punctuation", "One. Two! Three? Four", []string{"One.", "Two!", "Three?", "Four"}},
		{"lines", "Title\n\n  body  text here\n- item", []string{"Title", "body text here", "- item"}},
		{"quotes and brackets", `He said "stop." Then left. (Really.) Ok`, []string{`He said "stop."`, "Then left.", "(Really.)", "Ok"}},
		{"abbreviations and initials", "Dr. Smith met J. Doe vs. others, etc. in 2020. Done.", []string{"Dr. Smith met J. Doe vs. others, etc. in 2020.", "Done."}},
		{"decimals", "Pi is 3.14 roughly. Yes.", []string{"Pi is 3.14 roughly.", "Yes."}},
		{"empty", " \n\t ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, appendSentences(nil, tt.in))
		})
	}
}

func TestAppendSentencesCutsRunOns(t *testing.T) {
	got := appendSentences(nil, strings.Repeat("word ", 2*maxSentenceWords+5))
	require.Len(t, got, 3)
	require.Len(t, strings.Fields(got[0]), maxSentenceWords)
	require.Len(t, strings.Fields(got[2]), 5)
}

func TestRankRepeatedSentencesCountOnce(t *testing.T) {
	s := []string{"Cats purr.", "Cats purr.", "Dogs bark.", "Cats purr loudly."}
	require.Equal(t, []int{0, 3}, rank([]string{"cat", "purr"}, s))
	require.Nil(t, rank(nil, s))
	require.Nil(t, rank([]string{"zebra"}, s))
}
