package lexical

import (
	"iter"
	"unicode"
	"unicode/utf8"
)

// maxTokenBytes bounds one token; longer runs of letters are cut into pieces
// of this size so that no input can grow the scan buffer without bound.
const maxTokenBytes = 64

// scanner splits text into lowercased tokens: maximal runs of letters and
// digits (with any combining marks that follow them). Everything else
// separates tokens. Han, Hiragana and Katakana characters, written without
// spaces, are one token each, so that word bigrams over them become
// character bigrams.
type scanner struct {
	s   string
	i   int
	buf []byte
}

func (sc *scanner) reset(s string) {
	sc.s, sc.i, sc.buf = s, 0, sc.buf[:0]
}

// next returns the next token, valid until the following call.
func (sc *scanner) next() ([]byte, bool) {
	sc.buf = sc.buf[:0]
	for sc.i < len(sc.s) {
		c := sc.s[sc.i]
		if c < utf8.RuneSelf {
			switch {
			case 'a' <= c && c <= 'z' || '0' <= c && c <= '9':
				sc.buf = append(sc.buf, c)
			case 'A' <= c && c <= 'Z':
				sc.buf = append(sc.buf, c+('a'-'A'))
			default:
				sc.i++
				if len(sc.buf) > 0 {
					return sc.buf, true
				}
				continue
			}
			sc.i++
			if len(sc.buf) >= maxTokenBytes {
				return sc.buf, true
			}
			continue
		}
		r, n := utf8.DecodeRuneInString(sc.s[sc.i:])
		switch {
		case isIdeograph(r):
			if len(sc.buf) > 0 {
				return sc.buf, true // the ideograph starts the next token
			}
			sc.i += n
			sc.buf = utf8.AppendRune(sc.buf, r)
			return sc.buf, true
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsNumber(r):
			sc.buf = utf8.AppendRune(sc.buf, unicode.ToLower(r))
		case unicode.IsMark(r) && len(sc.buf) > 0:
			sc.buf = utf8.AppendRune(sc.buf, r)
		default:
			sc.i += n
			if len(sc.buf) > 0 {
				return sc.buf, true
			}
			continue
		}
		sc.i += n
		if len(sc.buf) >= maxTokenBytes {
			return sc.buf, true
		}
	}
	return sc.buf, len(sc.buf) > 0
}

func isIdeograph(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana)
}

// Tokens yields the tokens of text in order: lowercased runs of letters and
// digits, split on everything else, stopwords included. Each Han, Hiragana
// or Katakana character is a token of its own. Tokens longer than 64 bytes
// are cut.
func Tokens(text string) iter.Seq[string] {
	return func(yield func(string) bool) {
		var sc scanner
		sc.reset(text)
		for {
			tok, ok := sc.next()
			if !ok || !yield(string(tok)) {
				return
			}
		}
	}
}

// Terms returns the tokens of text that carry meaning, as the embedder
// weighs them: stopwords dropped, light suffix stripping applied. Callers
// that score text lexically (BM25 over sentences) use it so that they agree
// with the embedder.
func Terms(text string) []string {
	var out []string
	var sc scanner
	sc.reset(text)
	for {
		tok, ok := sc.next()
		if !ok {
			return out
		}
		if isStopword(tok) {
			continue
		}
		out = append(out, string(stem(tok)))
	}
}

// CountTokens returns the number of tokens in text. It stands in for a model
// tokenizer's count in usage reports and token budgets; real subword
// tokenizers count somewhat more.
func CountTokens(text string) int {
	var sc scanner
	var buf [maxTokenBytes + utf8.UTFMax]byte
	sc.buf = buf[:0]
	sc.reset(text)
	n := 0
	for {
		if _, ok := sc.next(); !ok {
			return n
		}
		n++
	}
}
