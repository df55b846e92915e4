package bpe

import (
	"sync"
	"unicode"
	"unicode/utf8"
)

// Character classes of the pre-tokenizer patterns, as regexp2 (the engine
// the patterns were written for, through tiktoken-go) defines them: \p{L},
// \p{N} and \p{M} are Go's unicode category tables and \s is
// unicode.IsSpace.
const (
	cLetter  = 1 << iota // \p{L}
	cNumber              // \p{N}
	cSpace               // \s
	cUpper               // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
	cLower               // [\p{Ll}\p{Lm}\p{Lo}\p{M}]
	cNewline             // [\r\n]
)

// tableRunes is how many runes the class table covers (the BMP and the
// supplementary multilingual plane); rarer runes are classified on demand.
const tableRunes = 0x20000

type classTable [tableRunes]uint8

var classes = sync.OnceValue(buildClasses)

func buildClasses() *classTable {
	t := new(classTable)
	mark := func(tab *unicode.RangeTable, bit uint8) {
		for _, r := range tab.R16 {
			for c := int(r.Lo); c <= int(r.Hi) && c < tableRunes; c += int(r.Stride) {
				t[c] |= bit
			}
		}
		for _, r := range tab.R32 {
			for c := int(r.Lo); c <= int(r.Hi) && c < tableRunes; c += int(r.Stride) {
				t[c] |= bit
			}
		}
	}
	mark(unicode.Letter, cLetter)
	mark(unicode.Number, cNumber)
	for _, tab := range []*unicode.RangeTable{unicode.Lu, unicode.Lt, unicode.Lm, unicode.Lo, unicode.Mark} {
		mark(tab, cUpper)
	}
	for _, tab := range []*unicode.RangeTable{unicode.Ll, unicode.Lm, unicode.Lo, unicode.Mark} {
		mark(tab, cLower)
	}
	mark(unicode.White_Space, cSpace) // unicode.IsSpace, as a table
	t['\r'] |= cNewline
	t['\n'] |= cNewline
	return t
}

// classOfRune classifies a rune outside the table.
func classOfRune(r rune) uint8 {
	var k uint8
	if unicode.Is(unicode.Letter, r) {
		k |= cLetter
	}
	if unicode.Is(unicode.Number, r) {
		k |= cNumber
	}
	if unicode.IsSpace(r) {
		k |= cSpace
	}
	if unicode.In(r, unicode.Lu, unicode.Lt, unicode.Lm, unicode.Lo, unicode.Mark) {
		k |= cUpper
	}
	if unicode.In(r, unicode.Ll, unicode.Lm, unicode.Lo, unicode.Mark) {
		k |= cLower
	}
	return k
}

// class returns the class and width of the rune at s[i]; s is valid UTF-8.
func (t *classTable) class(s string, i int) (uint8, int) {
	if b := s[i]; b < utf8.RuneSelf {
		return t[b], 1
	}
	r, w := utf8.DecodeRuneInString(s[i:])
	if r < tableRunes {
		return t[r], w
	}
	return classOfRune(r), w
}
