package chunk

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/ingest"
	"github.com/ragway/ragway/llm"
)

// words is a fast, deterministic token measure for tests: one token per
// word.
func words(s string) int { return len(strings.Fields(s)) }

func prose(prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s%d ", prefix, i)
		if i%12 == 11 {
			b.WriteString("end.\n")
		}
		if i%60 == 59 {
			b.WriteString("\n")
		}
	}
	return b.String()
}

func TestStrategyValidate(t *testing.T) {
	tests := []struct {
		name  string
		json  string
		param string
	}{
		{"auto", `{"type":"auto"}`, ""},
		{"zero is auto", `{}`, ""},
		{"static", `{"type":"static","static":{"max_chunk_size_tokens":100,"chunk_overlap_tokens":50}}`, ""},
		{"static max", `{"type":"static","static":{"max_chunk_size_tokens":4096,"chunk_overlap_tokens":0}}`, ""},
		{"unknown type", `{"type":"fixed"}`, "chunking_strategy.type"},
		{"static missing", `{"type":"static"}`, "chunking_strategy.static"},
		{"static with auto", `{"type":"auto","static":{"max_chunk_size_tokens":100,"chunk_overlap_tokens":0}}`, "chunking_strategy.static"},
		{"too small", `{"type":"static","static":{"max_chunk_size_tokens":99,"chunk_overlap_tokens":0}}`, paramStaticMax},
		{"too large", `{"type":"static","static":{"max_chunk_size_tokens":4097,"chunk_overlap_tokens":0}}`, paramStaticMax},
		{"overlap over half", `{"type":"static","static":{"max_chunk_size_tokens":100,"chunk_overlap_tokens":51}}`, paramStaticOverlap},
		{"negative overlap", `{"type":"static","static":{"max_chunk_size_tokens":100,"chunk_overlap_tokens":-1}}`, paramStaticOverlap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Strategy
			require.NoError(t, json.Unmarshal([]byte(tt.json), &s))
			err := s.Validate()
			if tt.param == "" {
				require.NoError(t, err)
				return
			}
			var pe *llm.ParamError
			require.ErrorAs(t, err, &pe)
			require.ErrorIs(t, err, llm.ErrInvalidRequest)
			require.Equal(t, tt.param, pe.Param)
			require.Contains(t, pe.Message, tt.param)
		})
	}
}

func TestStrategyJSONAndSizes(t *testing.T) {
	b, err := json.Marshal(NewStatic(300, 20))
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"static","static":{"max_chunk_size_tokens":300,"chunk_overlap_tokens":20}}`, string(b))
	b, err = json.Marshal(Auto())
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"auto"}`, string(b))
	m, o := Auto().Sizes()
	require.Equal(t, []int{800, 400}, []int{m, o})
	m, o = NewStatic(300, 20).Sizes()
	require.Equal(t, []int{300, 20}, []int{m, o})
	require.Equal(t, TypeAuto, Strategy{}.Normalize().Type)
}

func TestSplitSizesOverlapAndMetadata(t *testing.T) {
	doc := &ingest.Document{Type: ingest.TypePDF, Title: "Report", Sections: []ingest.Section{
		{Text: prose("alpha", 700), Heading: "Intro", Page: 1},
		{Text: "short tail of page one", Heading: "Intro", Page: 1},
		{Text: prose("beta", 500), Heading: "Intro", Page: 2},
		{Text: "tiny", Heading: "Results", Page: 2},
	}}
	sp := &Splitter{LenFunc: words}
	pieces, err := sp.Split(doc, NewStatic(100, 30))
	require.NoError(t, err)
	require.Greater(t, len(pieces), 10)
	pages := map[int]bool{}
	for i, p := range pieces {
		require.Equal(t, i, p.Index)
		require.Equal(t, "Report", p.Title)
		require.LessOrEqual(t, words(p.Text), 100, "piece %d too large", i)
		require.Equal(t, words(p.Text), p.Tokens)
		require.NotEmpty(t, strings.TrimSpace(p.Text))
		pages[p.Page] = true
		if strings.Contains(p.Text, "alpha") {
			require.Equal(t, 1, p.Page)
			require.NotContains(t, p.Text, "beta")
		}
		if strings.Contains(p.Text, "beta") {
			require.Equal(t, 2, p.Page)
		}
	}
	require.Equal(t, map[int]bool{1: true, 2: true}, pages)
	last := pieces[len(pieces)-1]
	require.Equal(t, "tiny", last.Text)
	require.Equal(t, "Results", last.Heading)
	// The small section of page 1 joins its neighbour, not page 2.
	var tail Piece
	for _, p := range pieces {
		if strings.Contains(p.Text, "short tail") {
			tail = p
		}
	}
	require.Equal(t, 1, tail.Page)
	require.Contains(t, tail.Text, "alpha")
	// Neighbouring pieces of one section overlap.
	overlapped := 0
	for i := 1; i < len(pieces); i++ {
		if pieces[i].Page != pieces[i-1].Page {
			continue
		}
		prev := strings.Fields(pieces[i-1].Text)
		first := strings.Fields(pieces[i].Text)[0]
		for _, w := range prev[len(prev)/2:] {
			if w == first {
				overlapped++
				break
			}
		}
	}
	require.Greater(t, overlapped, len(pieces)/2)
}

func TestSplitDeterministicAndIDs(t *testing.T) {
	doc := &ingest.Document{Type: ingest.TypeText, Sections: []ingest.Section{{Text: prose("w", 3000)}}}
	a, err := Split(doc, Auto())
	require.NoError(t, err)
	b, err := Split(doc, Auto())
	require.NoError(t, err)
	require.Equal(t, a, b)
	require.Greater(t, len(a), 1)
	for _, p := range a {
		require.LessOrEqual(t, p.Tokens, AutoChunkTokens)
		require.Positive(t, p.Tokens)
	}
	id := ID("hash", 0, a[0].Text)
	require.Len(t, id, 64)
	require.Equal(t, id, ID("hash", 0, a[0].Text))
	require.NotEqual(t, id, ID("hash", 1, a[0].Text))
	require.NotEqual(t, id, ID("other", 0, a[0].Text))
	require.NotEqual(t, id, ID("hash", 0, a[0].Text+" "))
	require.NotEqual(t, ID("a", 0, "bc"), ID("ab", 0, "c"))
}

func TestSplitMarkdownAuto(t *testing.T) {
	md := "Some intro paragraph.\n\n- item one\n- item two\n\n```go\nfunc main() {}\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
	doc := &ingest.Document{Type: ingest.TypeMarkdown, Title: "Guide", Sections: []ingest.Section{{Text: md, Heading: "Guide > Install"}}}
	pieces, err := (&Splitter{LenFunc: words}).Split(doc, Auto())
	require.NoError(t, err)
	require.NotEmpty(t, pieces)
	all := ""
	for _, p := range pieces {
		require.Equal(t, "Guide > Install", p.Heading)
		all += p.Text + "\n"
	}
	for _, want := range []string{"intro paragraph", "item two", "func main()", "1"} {
		require.Contains(t, all, want)
	}
}

func TestSplitCutsOversizedWords(t *testing.T) {
	long := strings.Repeat("x", 5000)
	doc := &ingest.Document{Sections: []ingest.Section{{Text: long}}}
	runes := func(s string) int { return utf8.RuneCountInString(s) }
	pieces, err := (&Splitter{LenFunc: runes}).Split(doc, NewStatic(100, 0))
	require.NoError(t, err)
	total := 0
	for _, p := range pieces {
		require.LessOrEqual(t, runes(p.Text), 100)
		total += runes(p.Text)
	}
	require.Equal(t, 5000, total)
}

func TestSplitInvalidStrategy(t *testing.T) {
	_, err := Split(&ingest.Document{}, NewStatic(10, 0))
	require.True(t, errors.Is(err, llm.ErrInvalidRequest))
}

func FuzzSplit(f *testing.F) {
	f.Add("hello world", false, 100, 10)
	f.Add("# T\n\n- a\n- b\n\n```\ncode\n```\n", true, 120, 60)
	f.Add(strings.Repeat("word ", 500), false, 100, 50)
	f.Add("| a |\n|---|\n| 1 |\n> quote\n\n1. one\n", true, 200, 0)
	f.Fuzz(func(t *testing.T, text string, markdown bool, size, overlap int) {
		if len(text) > 1<<16 {
			return
		}
		size = MinChunkTokens + abs(size)%(MaxChunkTokens-MinChunkTokens+1)
		overlap = abs(overlap) % (size/2 + 1)
		typ := ingest.TypeText
		if markdown {
			typ = ingest.TypeMarkdown
		}
		doc := &ingest.Document{Type: typ, Sections: []ingest.Section{{Text: text, Page: 1}, {Text: text, Heading: "h"}}}
		runes := func(s string) int { return utf8.RuneCountInString(s) }
		for _, s := range []Strategy{Auto(), NewStatic(size, overlap)} {
			pieces, err := (&Splitter{LenFunc: runes}).Split(doc, s)
			require.NoError(t, err)
			max, _ := s.Sizes()
			for i, p := range pieces {
				require.Equal(t, i, p.Index)
				require.NotEmpty(t, p.Text)
				require.LessOrEqual(t, runes(p.Text), max)
			}
			if strings.TrimSpace(text) != "" && !markdown {
				require.NotEmpty(t, pieces)
			}
		}
	})
}

func abs(n int) int {
	if n < 0 {
		if n == -n {
			return 0
		}
		return -n
	}
	return n
}
