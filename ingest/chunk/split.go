package chunk

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tmc/langchaingo/textsplitter"

	"github.com/ragway/ragway/ingest"
	"github.com/ragway/ragway/policies/tokens"
)

// Piece is one chunk of a document, with where it came from.
type Piece struct {
	// Index is the piece's position in the document, from 0.
	Index int    `json:"index"`
	Text  string `json:"text"`
	// Title is the document's title.
	Title string `json:"title,omitempty"`
	// Heading is the heading path above the text ("Guide > Install").
	Heading string `json:"heading,omitempty"`
	// Page is the 1-based page of paged formats, else 0.
	Page int `json:"page,omitempty"`
	// Tokens is the length of Text as the splitter measures it.
	Tokens int `json:"tokens"`
}

// Splitter splits documents. The zero value measures tokens with the
// cl100k_base encoding.
type Splitter struct {
	// LenFunc measures text in tokens; nil counts cl100k_base tokens.
	LenFunc func(string) int
}

// Split splits doc with s, measuring cl100k_base tokens.
func Split(doc *ingest.Document, s Strategy) ([]Piece, error) {
	return (&Splitter{}).Split(doc, s)
}

// ID is the id of the piece at index with text of the file whose content
// hashes to fileContentHash: the hex SHA-256 of the three, so the same file
// always yields the same ids.
func ID(fileContentHash string, index int, text string) string {
	h := sha256.New()
	h.Write([]byte(fileContentHash))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(index)))
	h.Write([]byte{0})
	h.Write([]byte(text))
	return hex.EncodeToString(h.Sum(nil))
}

// Split splits doc into pieces of at most the strategy's size. Sections
// are split one by one; neighbouring sections are merged only when they
// share page and heading, so every piece keeps its page and heading. With
// auto, Markdown is split by its structure, anything else recursively by
// paragraphs, lines and words.
func (sp *Splitter) Split(doc *ingest.Document, s Strategy) ([]Piece, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if doc == nil {
		return nil, nil
	}
	lenFn, err := sp.lenFunc()
	if err != nil {
		return nil, err
	}
	size, overlap := s.Sizes()
	markdown := doc.Type == ingest.TypeMarkdown && s.Normalize().Type == TypeAuto
	var pieces []Piece
	for _, g := range groupSections(doc.Sections) {
		texts, err := splitText(g.Text, size, overlap, markdown, lenFn)
		if err != nil {
			return nil, err
		}
		for _, t := range texts {
			pieces = append(pieces, Piece{
				Index: len(pieces), Text: t, Title: doc.Title,
				Heading: g.Heading, Page: g.Page, Tokens: lenFn(t),
			})
		}
	}
	return pieces, nil
}

func (sp *Splitter) lenFunc() (func(string) int, error) {
	if sp.LenFunc != nil {
		return sp.LenFunc, nil
	}
	c := &tokens.Counter{Default: tokens.CL100K}
	if _, err := c.Text("", "x"); err != nil {
		return nil, fmt.Errorf("chunk: %w", err)
	}
	return func(s string) int {
		n, err := c.Text("", s)
		if err != nil {
			return utf8.RuneCountInString(s)
		}
		return n
	}, nil
}

// groupSections joins neighbouring sections of the same page and heading.
func groupSections(secs []ingest.Section) []ingest.Section {
	var out []ingest.Section
	for _, s := range secs {
		t := strings.ToValidUTF8(strings.TrimSpace(s.Text), "\uFFFD")
		if t == "" {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Page == s.Page && out[n-1].Heading == s.Heading {
			out[n-1].Text += "\n\n" + t
			continue
		}
		out = append(out, ingest.Section{Text: t, Heading: s.Heading, Page: s.Page})
	}
	return out
}

// splitText splits one section's text into pieces of at most size tokens,
// each starting with up to overlap tokens of the end of the one before.
// The splitters make pieces of size-overlap tokens without overlap of
// their own (theirs overlaps only whole paragraphs or lines), then the
// overlap is added word by word.
func splitText(text string, size, overlap int, markdown bool, lenFn func(string) int) ([]string, error) {
	// Text that fits in one chunk is one chunk: no splitter, and one count
	// instead of one per candidate piece.
	if t := strings.TrimSpace(text); t == "" || lenFn(t) <= size {
		if t == "" {
			return nil, nil
		}
		return []string{t}, nil
	}
	parts, err := splitFresh(text, size-overlap, markdown, lenFn)
	if err != nil || overlap == 0 {
		return parts, err
	}
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p
		if i == 0 {
			continue
		}
		if tail := tailTokens(parts[i-1], overlap, lenFn); tail != "" {
			if joined := tail + " " + p; lenFn(joined) <= size {
				out[i] = joined
			}
		}
	}
	return out, nil
}

// tailTokens is the longest run of whole words at the end of s that is at
// most n tokens.
func tailTokens(s string, n int, lenFn func(string) int) string {
	words := strings.Fields(s)
	if len(words) > 4*n {
		words = words[len(words)-4*n:]
	}
	lo, hi := 0, len(words)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if lenFn(strings.Join(words[len(words)-mid:], " ")) <= n {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return strings.Join(words[len(words)-lo:], " ")
}

// splitFresh splits text into pieces of at most size tokens, cutting any
// piece the splitter leaves over size.
func splitFresh(text string, size int, markdown bool, lenFn func(string) int) ([]string, error) {
	var parts []string
	if markdown {
		parts = splitMarkdown(text, size, lenFn)
	}
	if parts == nil {
		rc := textsplitter.NewRecursiveCharacter(
			textsplitter.WithChunkSize(size),
			textsplitter.WithChunkOverlap(0),
			textsplitter.WithLenFunc(lenFn),
		)
		var err error
		if parts, err = rc.SplitText(text); err != nil {
			return nil, fmt.Errorf("split text: %w", err)
		}
	}
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if lenFn(p) > size {
			out = append(out, cut(p, size, lenFn)...)
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// splitMarkdown splits by Markdown structure, or returns nil when the
// splitter fails or drops text (it renders only the constructs it knows),
// so the caller falls back to the recursive splitter.
func splitMarkdown(text string, size int, lenFn func(string) int) (parts []string) {
	defer func() {
		if recover() != nil {
			parts = nil
		}
	}()
	md := textsplitter.NewMarkdownTextSplitter(
		textsplitter.WithChunkSize(size),
		textsplitter.WithChunkOverlap(0),
		textsplitter.WithLenFunc(lenFn),
		textsplitter.WithCodeBlocks(true),
		textsplitter.WithJoinTableRows(true),
	)
	parts, err := md.SplitText(text)
	if err != nil || len(parts) == 0 {
		return nil
	}
	if in, out := wordRunes(text), wordRunes(strings.Join(parts, "\n")); out*10 < in*9 {
		return nil
	}
	return parts
}

// wordRunes counts letters and digits.
func wordRunes(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			n++
		}
	}
	return n
}

// cut splits s into consecutive pieces of at most size tokens, at spaces
// where it can, by binary search over the rune count.
func cut(s string, size int, lenFn func(string) int) []string {
	var out []string
	runes := []rune(s)
	for len(runes) > 0 {
		lo, hi := 1, min(len(runes), size*64)
		for lo < hi {
			mid := (lo + hi + 1) / 2
			if lenFn(string(runes[:mid])) <= size {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		n := lo
		if n < len(runes) {
			if i := lastSpace(runes[:n]); i > n/2 {
				n = i
			}
		}
		if p := strings.TrimSpace(string(runes[:n])); p != "" {
			out = append(out, p)
		}
		runes = runes[n:]
	}
	return out
}

func lastSpace(r []rune) int {
	for i := len(r) - 1; i >= 0; i-- {
		if unicode.IsSpace(r[i]) {
			return i
		}
	}
	return -1
}
