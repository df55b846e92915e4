package bpe

// The pre-tokenizers split text into pieces exactly as the encodings'
// patterns do under regexp2 (leftmost-first alternation with backtracking):
//
//	cl100k_base: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//	             ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//	o200k_base:  [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|
//	             [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|
//	             \p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// Every rune matches some alternative, so pieces cover the text. The input
// is valid UTF-8 (invalid bytes are replaced before splitting). Under (?i),
// regexp2 compares unicode.ToLower of the input; the only non-ASCII runes
// that lower to ASCII are U+0130 and U+212A (to 'i' and 'k'), neither in a
// contraction, so contractions are ASCII case-insensitive ('ſ' does not
// match 's').

type splitter struct {
	cls   *classTable
	o200k bool
}

// next returns the end of the piece that starts at s[i], i < len(s).
func (sp splitter) next(s string, i int) int {
	var j int
	if sp.o200k {
		j = sp.nextO200K(s, i)
	} else {
		j = sp.nextCL100K(s, i)
	}
	if j <= i || j > len(s) { // unreachable; keeps the caller's loop finite
		_, w := sp.cls.class(s, i)
		j = i + w
	}
	return j
}

func (sp splitter) nextCL100K(s string, i int) int {
	k, w := sp.cls.class(s, i)
	if s[i] == '\'' {
		if n := contraction(s, i+1); n > 0 {
			return i + 1 + n
		}
	}
	if k&cLetter != 0 {
		return sp.skip(s, i+w, cLetter)
	}
	if k&(cNumber|cNewline) == 0 && i+w < len(s) {
		if k2, w2 := sp.cls.class(s, i+w); k2&cLetter != 0 {
			return sp.skip(s, i+w+w2, cLetter)
		}
	}
	if k&cNumber != 0 {
		return sp.digits(s, i+w)
	}
	if j, ok := sp.punct(s, i, k, w, false); ok {
		return j
	}
	return sp.spaces(s, i)
}

func (sp splitter) nextO200K(s string, i int) int {
	k, w := sp.cls.class(s, i)
	prefix := k&(cLetter|cNumber|cNewline) == 0 && i+w < len(s)
	if prefix {
		if e := sp.lowerTail(s, i+w); e >= 0 {
			return suffix(s, e)
		}
	}
	if e := sp.lowerTail(s, i); e >= 0 {
		return suffix(s, e)
	}
	if prefix {
		if k2, _ := sp.cls.class(s, i+w); k2&cUpper != 0 {
			return suffix(s, sp.skip(s, sp.skip(s, i+w, cUpper), cLower))
		}
	}
	if k&cUpper != 0 {
		return suffix(s, sp.skip(s, sp.skip(s, i, cUpper), cLower))
	}
	if k&cNumber != 0 {
		return sp.digits(s, i+w)
	}
	if j, ok := sp.punct(s, i, k, w, true); ok {
		return j
	}
	return sp.spaces(s, i)
}

// lowerTail matches [upper]*[lower]+ at s[p:] and returns its end, or -1.
// The upper run is greedy; when no lower rune follows it, it gives runes
// back until one it holds is also lower (\p{Lm}, \p{Lo}, \p{M}).
func (sp splitter) lowerTail(s string, p int) int {
	lastLower := -1
	for q := p; q < len(s); {
		k, w := sp.cls.class(s, q)
		if k&cUpper == 0 {
			if k&cLower != 0 {
				return sp.skip(s, q+w, cLower)
			}
			break
		}
		q += w
		if k&cLower != 0 {
			lastLower = q
		}
	}
	return lastLower
}

// suffix extends a match ending at e by an optional contraction.
func suffix(s string, e int) int {
	if e < len(s) && s[e] == '\'' {
		if n := contraction(s, e+1); n > 0 {
			return e + 1 + n
		}
	}
	return e
}

// contraction matches (?i:s|t|re|ve|m|ll|d) at s[j:] and returns its length,
// or 0.
func contraction(s string, j int) int {
	if j >= len(s) {
		return 0
	}
	switch lowerASCII(s[j]) {
	case 's', 't', 'm', 'd':
		return 1
	case 'r', 'v':
		if j+1 < len(s) && lowerASCII(s[j+1]) == 'e' {
			return 2
		}
	case 'l':
		if j+1 < len(s) && lowerASCII(s[j+1]) == 'l' {
			return 2
		}
	}
	return 0
}

func lowerASCII(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// skip returns the end of the run of runes in class mask from s[j].
func (sp splitter) skip(s string, j int, mask uint8) int {
	for j < len(s) {
		k, w := sp.cls.class(s, j)
		if k&mask == 0 {
			break
		}
		j += w
	}
	return j
}

// digits matches the rest of \p{N}{1,3} after one number at s[:j].
func (sp splitter) digits(s string, j int) int {
	for n := 1; n < 3 && j < len(s); n++ {
		k, w := sp.cls.class(s, j)
		if k&cNumber == 0 {
			break
		}
		j += w
	}
	return j
}

// punct matches " ?[^\s\p{L}\p{N}]+[\r\n]*" ("[\r\n/]*" with slash) at s[i].
func (sp splitter) punct(s string, i int, k uint8, w int, slash bool) (int, bool) {
	const word = cLetter | cNumber | cSpace
	j := -1
	if k&word == 0 {
		j = i + w
	} else if s[i] == ' ' && i+1 < len(s) {
		if k2, w2 := sp.cls.class(s, i+1); k2&word == 0 {
			j = i + 1 + w2
		}
	}
	if j < 0 {
		return 0, false
	}
	for j < len(s) {
		k2, w2 := sp.cls.class(s, j)
		if k2&word != 0 {
			break
		}
		j += w2
	}
	for j < len(s) && (s[j] == '\r' || s[j] == '\n' || slash && s[j] == '/') {
		j++
	}
	return j, true
}

// spaces matches "\s*[\r\n]+|\s+(?!\S)|\s+" at s[i], a space.
func (sp splitter) spaces(s string, i int) int {
	j, last, newline := i, i, -1
	for j < len(s) {
		k, w := sp.cls.class(s, j)
		if k&cSpace == 0 {
			break
		}
		if k&cNewline != 0 {
			newline = j + w
		}
		last = j
		j += w
	}
	switch {
	case newline >= 0:
		return newline
	case j == len(s) || last == i:
		return j
	default:
		return last
	}
}
