// Package bpe encodes text into tiktoken token ids (cl100k_base and
// o200k_base, ordinary encoding: special-token text is plain text) without
// regular expressions. Ids are exactly those of github.com/pkoukk/tiktoken-go,
// including for invalid UTF-8, whose bytes are each read as U+FFFD as Go's
// []rune conversion does. Rank files are the ones compiled into
// github.com/pkoukk/tiktoken-go-loader; nothing is downloaded.
package bpe

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unicode/utf8"

	"github.com/pkoukk/tiktoken-go-loader/assets"
)

// Encoding names.
const (
	CL100K = "cl100k_base"
	O200K  = "o200k_base"
)

// ErrUnknownEncoding is returned by Load for a name it does not know.
var ErrUnknownEncoding = errors.New("unknown encoding")

// Encoding is a loaded encoding. It is immutable and safe for concurrent use.
type Encoding struct {
	name  string
	split splitter
	ranks *ranks
}

// Load reads an encoding's ranks from the compiled-in rank file. It costs a
// few milliseconds and a few MB; callers keep the result.
func Load(name string) (*Encoding, error) {
	var o200k bool
	switch name {
	case CL100K:
	case O200K:
		o200k = true
	default:
		return nil, fmt.Errorf("load %q: %w", name, ErrUnknownEncoding)
	}
	r, err := openRanks(assets.Assets, name+".tiktoken")
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	return &Encoding{name: name, split: splitter{cls: classes(), o200k: o200k}, ranks: r}, nil
}

// Name returns the encoding's name.
func (e *Encoding) Name() string { return e.name }

// Vocabulary returns the number of ordinary tokens.
func (e *Encoding) Vocabulary() int { return len(e.ranks.offs) - 1 }

// Encode returns the token ids of text.
func (e *Encoding) Encode(text string) []int {
	return e.AppendEncode(make([]int, 0, len(text)/4+1), text)
}

// AppendEncode appends the token ids of text to dst.
func (e *Encoding) AppendEncode(dst []int, text string) []int {
	text = validUTF8(text)
	var toks [smallPiece]uint32
	for i := 0; i < len(text); {
		j := e.split.next(text, i)
		piece := text[i:j]
		i = j
		if len(piece) == 1 {
			dst = append(dst, int(e.ranks.single[piece[0]]))
			continue
		}
		if r, ok := e.ranks.lookup(piece); ok {
			dst = append(dst, int(r))
			continue
		}
		if len(piece) > smallPiece {
			dst = e.ranks.appendLarge(dst, piece)
			continue
		}
		n := e.ranks.mergeSmall(piece, &toks)
		for _, r := range toks[:n] {
			dst = append(dst, int(r))
		}
	}
	// The tables are not in the Go heap: e must stay reachable until the
	// last read of them, or a caller holding no other reference (as in
	// Load(name).Encode(text)) could see them unmapped mid-call.
	runtime.KeepAlive(e)
	return dst
}

// Count returns the number of tokens in text, len(Encode(text)), without
// allocating unless text is invalid UTF-8 or has a piece longer than 128
// bytes that is not one token.
func (e *Encoding) Count(text string) int {
	text = validUTF8(text)
	var toks [smallPiece]uint32
	n := 0
	for i := 0; i < len(text); {
		j := e.split.next(text, i)
		piece := text[i:j]
		i = j
		switch {
		case len(piece) == 1:
			n++
		case len(piece) > smallPiece:
			if _, ok := e.ranks.lookup(piece); ok {
				n++
			} else {
				n += e.ranks.countLarge(piece)
			}
		default:
			if _, ok := e.ranks.lookup(piece); ok {
				n++
			} else {
				n += e.ranks.mergeSmall(piece, &toks)
			}
		}
	}
	runtime.KeepAlive(e) // see AppendEncode
	return n
}

// validUTF8 replaces each byte that is not part of valid UTF-8 with U+FFFD.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && w == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+w])
		}
		i += w
	}
	return b.String()
}

// TableBytes is the size of the encoding's rank tables. On Unix they are
// mapped outside the Go heap, so they count in resident memory but not in
// the live heap the garbage collector paces itself by.
func (e *Encoding) TableBytes() int {
	return 8*len(e.ranks.slots) + 4*len(e.ranks.offs) + len(e.ranks.arena)
}
