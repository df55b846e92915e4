package bpe

import (
	"sync"
	"testing"

	"github.com/dlclark/regexp2"
	"github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"
	"github.com/stretchr/testify/require"
)

// The reference is github.com/pkoukk/tiktoken-go with its offline loader.

var encodingNames = []string{CL100K, O200K}

// patterns are the split patterns of tiktoken-go (encoding.go), compiled the
// way it compiles them, to compare pieces as well as ids.
var patterns = map[string]string{
	CL100K: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
	O200K: `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|` +
		`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|` +
		`\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
}

type loaded struct {
	once sync.Once
	ours *Encoding
	ref  *tiktoken.Tiktoken
	re   *regexp2.Regexp
	err  error
}

var (
	loaderOnce sync.Once
	fixtures   = map[string]*loaded{CL100K: {}, O200K: {}}
)

func load(t testing.TB, name string) *loaded {
	t.Helper()
	loaderOnce.Do(func() { tiktoken.SetBpeLoader(tiktoken_loader.NewOfflineLoader()) })
	l := fixtures[name]
	l.once.Do(func() {
		if l.ours, l.err = Load(name); l.err != nil {
			return
		}
		if l.ref, l.err = tiktoken.GetEncoding(name); l.err != nil {
			return
		}
		l.re, l.err = regexp2.Compile(patterns[name], regexp2.None)
	})
	require.NoError(t, l.err)
	return l
}

// refPieces splits text with the reference pattern, as tiktoken-go does:
// over runes, so invalid bytes read as U+FFFD.
func (l *loaded) refPieces(t testing.TB, text string) []string {
	runes := []rune(text)
	var out []string
	m, err := l.re.FindRunesMatch(runes)
	for ; m != nil && err == nil; m, err = l.re.FindNextMatch(m) {
		out = append(out, string(runes[m.Index:m.Index+m.Length]))
	}
	require.NoError(t, err)
	return out
}

func (l *loaded) ourPieces(text string) []string {
	text = validUTF8(text)
	var out []string
	for i := 0; i < len(text); {
		j := l.ours.split.next(text, i)
		out = append(out, text[i:j])
		i = j
	}
	return out
}

// requireSame checks pieces, ids and count against the reference.
func requireSame(t testing.TB, l *loaded, text string) {
	t.Helper()
	require.Equal(t, l.refPieces(t, text), l.ourPieces(text), "pieces of %q", text)
	want := l.ref.EncodeOrdinary(text)
	got := l.ours.Encode(text)
	if len(want) == 0 {
		want = nil
	}
	if len(got) == 0 {
		got = nil
	}
	require.Equal(t, want, got, "ids of %q", text)
	require.Equal(t, len(want), l.ours.Count(text), "count of %q", text)
}
