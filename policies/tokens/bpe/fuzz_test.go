package bpe

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// maxFuzzBytes bounds fuzz inputs; the reference merges in O(n^2).
const maxFuzzBytes = 4 << 10

// alphabet holds one or more runes of every class the patterns tell apart,
// and the bytes around them that matter: contraction letters in both cases,
// every kind of space and newline, numbers of each category, letters of each
// category (in and out of the class table), marks, symbols, invalid bytes.
var alphabet = []string{
	"a", "B", "s", "S", "t", "T", "r", "R", "e", "E", "v", "V", "m", "M", "l", "L", "d", "D", "'", "'",
	" ", " ", "\t", "\n", "\r", "\v", "\f", "\u00a0", "\u0085", "\u2028", "\u3000", "\u200b",
	"0", "7", "²", "½", "Ⅻ", "١", "𝟙",
	"ǅ", "ʰ", "ا", "中", "ß", "Σ", "ς", "𝐀", "𝒶", "𠀀", "ſ", "\u212a", "İ", "ı",
	"\u0301", "\u0903", "\u20dd", "\U000e0100",
	"/", ".", "!", "-", "<", "|", "\\", "\"", "\x00", "😀", "\U0001f3fd", "\u200d", "\ufe0f", "\U000e0041",
	"\xff", "\xe4\xbd", "\xed\xa0\x80", "\ufffd",
}

// spell maps each byte of b to an alphabet entry.
func spell(b string) string {
	var s strings.Builder
	for i := range len(b) {
		s.WriteString(alphabet[int(b[i])%len(alphabet)])
	}
	return s.String()
}

func FuzzMatchesTiktoken(f *testing.F) {
	for _, s := range corpus {
		if len(s) <= maxFuzzBytes {
			f.Add(s)
		}
	}
	for _, s := range []string{"'S", " 'll", "\u0301'd", "ʰ'S", "A\u0301b", "\r\n\r", " \n ", "a/\n", "\xff'", "1'2"} {
		f.Add(s)
	}
	cl, o2 := load(f, CL100K), load(f, O200K)
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > maxFuzzBytes {
			s = strings.Clone(s[:maxFuzzBytes])
		}
		requireSame(t, cl, s)
		requireSame(t, o2, s)
		if len(s) <= maxFuzzBytes/4 {
			spelled := spell(s)
			requireSame(t, cl, spelled)
			requireSame(t, o2, spelled)
		}
	})
}

// TestRandomMix compares random strings over the alphabet, a cheap,
// deterministic complement to the fuzz target.
func TestRandomMix(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cl, o2 := load(t, CL100K), load(t, O200K)
	b := make([]byte, 64)
	for range 3000 {
		n := 1 + rng.IntN(len(b))
		for i := range n {
			b[i] = byte(rng.IntN(256))
		}
		s := spell(string(b[:n]))
		requireSame(t, cl, s)
		requireSame(t, o2, s)
	}
}
