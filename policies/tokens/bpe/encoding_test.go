package bpe

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"
	"github.com/stretchr/testify/require"
)

// corpus is text the encoders must agree on, id for id.
var corpus = map[string]string{
	"empty":          "",
	"prose":          "The quick brown fox jumps over the lazy dog. It's 9:41 a.m., and we'll see; they'd said \"no\" — twice!",
	"prose long":     strings.Repeat("Rate limits reserve tokens before a request is sent, so counting must be exact and fast. ", 12),
	"code go":        "func (c *Counter) Text(model, text string) (int, error) {\n\ttk, err := c.encoderFor(model)\n\tif err != nil {\n\t\treturn 0, err\n\t}\n\treturn countText(tk, text), nil\n}\n",
	"code python":    "def f(x):\n    # comment\n    return [i**2 for i in range(x) if i % 3 == 0]  \n\n\nclass A(B):\n    pass\n",
	"json":           `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":1024,"temperature":0.7,"nested":{"a":[1,2,3],"b":null}}`,
	"url path":       "see https://example.com/a/b/c?d=1&e=2#frag and /usr/local/bin// and a//b///c",
	"numbers":        "1 12 123 1234 12345 123456789012345678901234567890 3.14159 -42 1e10 0x1F 1,000,000 ²³ ½ Ⅻ ١٢٣٤ ४५६",
	"digit runs":     strings.Repeat("9876543210", 13),
	"spaces":         "a  b   c    d\te\t\tf \t g\u00a0h\u3000i\u2003j\u200bk\u2028l\u2029m\u0085n\u000bo\u000cp \u00a0 q",
	"newlines":       "a\nb\n\nc\r\nd\r\n\r\ne\n \n f \n\n  g\r\r\nh  \n  \n\t\ni\n",
	"trailing":       "end with spaces   ",
	"trailing nl":    "end with newline \n",
	"only spaces":    "     ",
	"only newlines":  "\n\n\n",
	"space runs":     "x \n  \t \n y   \t z\t\t\t\n",
	"cjk":            "你好，世界！日本語のテキストです。한국어 텍스트입니다. 漢字かなカナ交じり文",
	"arabic":         "مرحبا بالعالم، هذه جملة عربية مع أرقام ١٢٣ وتشكيل: كَتَبَ",
	"hebrew":         "שלום עולם, זה משפט בעברית",
	"devanagari":     "नमस्ते दुनिया, यह हिंदी में एक वाक्य है। क्षत्रिय",
	"thai":           "สวัสดีชาวโลก ภาษาไทยไม่มีช่องว่างระหว่างคำ",
	"emoji":          "hi 👋🏽 family 👨‍👩‍👧‍👦 flag 🇫🇷 heart ❤️ keycap 1️⃣ 🙂🙂🙂",
	"combining":      "e\u0301 a\u0300\u0316 Z\u0351\u0352\u0353 n\u0303o \u0301alone \u20dd",
	"contractions":   "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'Re 'rE 'VE 'Ve 'M 'LL 'Ll 'lL 'D it's IT'S They'RE we'Ve I'M you'LL he'D ''s 'x 'sup don't",
	"contr o200k":    "HELLO'S Hello's hello'S ABC'll ÉCOLE'Ve école'D",
	"long s":         "'ſ it'ſ ſtop 'ſt Iſ",
	"kelvin":         "\u212a 'K 'k 5\u212a it'\u212a",
	"turkish":        "İstanbul ıi İI 'İ 'ı DİYARBAKIR",
	"greek":          "ΣΊΣΥΦΟΣ σίσυφος ς Ωmega ǅemal ǈ ǋ",
	"titlecase":      "ǅǅǅ ǅa aǅ Aǅ ᾈᾈ",
	"modifier":       "ʰʰʰ Aʰ aʰB ʰA AʰBBB ʰ'S",
	"mixed case":     "CamelCaseWordsAndHTTPServerXMLParser iPhone eBay McDONALD",
	"invalid utf8":   "a\xffb\xfe\xfd \xc3\x28 \xe2\x82 \xf0\x9f\x98 \xed\xa0\x80 \x80\x80 end\xff",
	"replacement":    "\ufffd \ufffd\ufffd a\ufffdb",
	"nul":            "a\x00b \x00\x00 \x00",
	"controls":       "\x01\x02\x1b[31mred\x1b[0m\x7f",
	"special text":   "<|endoftext|> <|fim_prefix|><|fim_middle|><|fim_suffix|><|endofprompt|>",
	"punct runs":     "!!! ??? ... --- === *** ### $$$ %%% \"\"\" ''' ``` ((( ))) ]]] >>> /// \\\\ |||",
	"punct newline":  "a.\n\nb!\r\n\r\nc?/\n/ d//\n",
	"long punct":     strings.Repeat("=", 300) + "\n" + strings.Repeat("-~", 150),
	"long letters":   strings.Repeat("a", 1000),
	"long word":      strings.Repeat("Pneumonoultramicroscopicsilicovolcanoconiosis", 8),
	"long base64":    "QmFzZTY0IGVuY29kZWQgZGF0YSBsb29rcyBsaWtlIHRoaXMgYW5kIGl0IGtlZXBzIGdvaW5nIGZvciBhIHdoaWxlIHdpdGhvdXQgc3BhY2VzIG9yIHB1bmN0dWF0aW9uIGF0IGFsbCBzbyB0aGUgcGllY2VzIGdldCBsb25n",
	"long cjk":       strings.Repeat("長", 100),
	"long spaces":    strings.Repeat(" ", 200) + "x" + strings.Repeat("\t", 150) + strings.Repeat("\n", 140),
	"symbols":        "© ® ™ € £ ¥ ° ± × ÷ → ⇒ ∀ ∃ ∑ √ ∞ ≈ ≠ ≤ ≥ ♠ ♣ ♥ ♦",
	"math":           "∫₀^∞ e^{-x²} dx = √π/2, αβγ ∂f/∂x",
	"fullwidth":      "ＡＢＣ ａｂｃ １２３ ！？",
	"supplementary":  "𝐀𝐁𝐂 𝒶𝒷𝒸 𠀀𠀁 𝟙𝟚𝟛 \U000e0041\U000e0042",
	"private use":    "\ue000\uf8ff \U000f0000",
	"markdown":       "# Title\n\n- item 1\n- item 2\n\n```go\nx := 1\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
	"html":           "<div class=\"x\"><p>Hello&nbsp;world</p><br/></div>",
	"apostrophe mix": "'' '''s ' s 'ss x'  'll'll 'dd 'rr 're're",
	"slashes":        "a/b /c d/ / // ///x ?/\n!/\r\n",
	"mark prefix":    "\u0301abc \u0301ABC \u0301\u0301 x\u0301Y \u0903a",
	"prefix space":   " hello \thello \u00a0hello \u3000hello \nhello",
}

func TestMatchesTiktoken(t *testing.T) {
	for _, name := range encodingNames {
		l := load(t, name)
		for label, text := range corpus {
			t.Run(name+"/"+label, func(t *testing.T) {
				requireSame(t, l, text)
			})
		}
	}
}

// TestRuneByRune checks every rune of the BMP and SMP, and a sample of
// the planes above, in context, so every class boundary is exercised.
func TestRuneByRune(t *testing.T) {
	for _, name := range encodingNames {
		l := load(t, name)
		var b strings.Builder
		for r := rune(0); r < tableRunes; r++ {
			if r >= 0xd800 && r < 0xe000 {
				continue
			}
			b.WriteRune(r)
			if r%7 == 0 {
				b.WriteString("a ")
			}
			if r%512 == 511 {
				requireSame(t, l, b.String())
				b.Reset()
			}
		}
		requireSame(t, l, b.String())
		b.Reset()
		for r := rune(tableRunes); r <= unicode.MaxRune; r += 61 {
			b.WriteRune(r)
			if r%3 == 0 {
				b.WriteString("a ")
			}
			if b.Len() > 4096 {
				requireSame(t, l, b.String())
				b.Reset()
			}
		}
		requireSame(t, l, b.String())
	}
}

func TestClassTable(t *testing.T) {
	cls := classes()
	for r := rune(0); r < tableRunes; r++ {
		want := classOfRune(r)
		if r == '\r' || r == '\n' {
			want |= cNewline
		}
		require.Equal(t, want, cls[r], "%U", r)
		require.Equal(t, unicode.IsSpace(r), cls[r]&cSpace != 0, "%U", r)
	}
}

// TestMergeLargeMatchesSmall checks that both merge strategies agree.
func TestMergeLargeMatchesSmall(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabets := []string{"ab", "abcdefgh ", "the quick brown", "=-_~", "0123456789", "\xe4\xbd\xa0\xe5\xa5\xbd"}
	for _, name := range encodingNames {
		e := load(t, name).ours
		var toks [smallPiece]uint32
		for range 2000 {
			alpha := alphabets[rng.IntN(len(alphabets))]
			n := 2 + rng.IntN(smallPiece-1)
			p := make([]byte, n)
			for i := range p {
				p[i] = alpha[rng.IntN(len(alpha))]
			}
			m := e.ranks.mergeSmall(string(p), &toks)
			small := make([]int, m)
			for i, r := range toks[:m] {
				small[i] = int(r)
			}
			require.Equal(t, small, e.ranks.appendLarge(nil, string(p)), "%q", p)
			require.Equal(t, m, e.ranks.countLarge(string(p)))
		}
	}
}

func TestLoadUnknown(t *testing.T) {
	_, err := Load("p50k_base")
	require.True(t, errors.Is(err, ErrUnknownEncoding))
}

func TestParseRanksRejects(t *testing.T) {
	many := func(extra string) string {
		var b strings.Builder
		for i := range 256 {
			b.WriteString(b64([]byte{byte(i)}))
			b.WriteString(" ")
			b.WriteString(itoa(i))
			b.WriteString("\n")
		}
		return b.String() + extra
	}
	tests := []struct{ name, text string }{
		{"empty", ""},
		{"too few", "YQ== 0\n"},
		{"no rank", many("YWI=\n")},
		{"gap", many("YWI= 300\n")},
		{"bad base64", many("!!!! 256\n")},
		{"duplicate", many("YQ== 256\n")},
		{"not a number", many("YWI= 2x6\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseRanks(strings.NewReader(tt.text), len(tt.text))
			require.Error(t, err)
		})
	}
	r, err := parseRanks(strings.NewReader(many("YWI= 256")), 0)
	require.NoError(t, err)
	require.Equal(t, uint32(256), r.rank("ab"))
	runtime.KeepAlive(r) // its tables are freed once r is collected
}

// TestLoadHeap reports, each in a fresh process, the live heap an encoding
// holds once loaded, next to what the reference holds, and bounds ours.
func TestLoadHeap(t *testing.T) {
	if which := os.Getenv("RAGWAY_BPE_HEAP_CHILD"); which != "" {
		impl, name, _ := strings.Cut(which, ":")
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		var v any
		var err error
		if impl == "ours" {
			v, err = Load(name)
		} else {
			tiktoken.SetBpeLoader(tiktoken_loader.NewOfflineLoader())
			v, err = tiktoken.GetEncoding(name)
		}
		elapsed := time.Since(start)
		require.NoError(t, err)
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(v)
		tables := 0
		if e, ok := v.(*Encoding); ok {
			tables = e.TableBytes()
		}
		fmt.Printf("HEAP %d %d %d\n", int64(after.HeapAlloc)-int64(before.HeapAlloc), elapsed.Microseconds(), tables)
		return
	}
	if testing.Short() {
		t.Skip("loads the reference encodings")
	}
	for _, name := range encodingNames {
		for _, impl := range []string{"ours", "reference"} {
			cmd := exec.Command(os.Args[0], "-test.run=^TestLoadHeap$", "-test.count=1")
			cmd.Env = append(os.Environ(), "RAGWAY_BPE_HEAP_CHILD="+impl+":"+name)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, string(out))
			i := strings.Index(string(out), "HEAP ")
			require.GreaterOrEqual(t, i, 0, string(out))
			var heap, micros, tables int64
			_, err = fmt.Sscanf(string(out[i:]), "HEAP %d %d %d", &heap, &micros, &tables)
			require.NoError(t, err)
			t.Logf("%s %s: load %.1f ms, live heap %.1f MiB, tables outside it %.1f MiB", name, impl,
				float64(micros)/1000, float64(heap)/(1<<20), float64(tables)/(1<<20))
			if impl == "ours" {
				require.Positive(t, tables)
				if !mapsTables {
					require.Less(t, heap, 2*tables)
				} else {
					require.Less(t, heap, int64(256<<10), "the tables are mapped outside the heap")
				}
			}
		}
	}
}

// TestLongPieces checks pieces far longer than the reference can merge in
// reasonable time against the scan merge's result where it can, and bounds
// the time of a piece of MaxTextBytes-like size.
func TestLongPieces(t *testing.T) {
	e := load(t, CL100K).ours
	for _, n := range []int{129, 1000, 1 << 20} {
		s := strings.Repeat("ab", n/2+1)[:n]
		start := time.Now()
		ids := e.Encode(s)
		t.Logf("%d bytes of one piece: %d tokens in %v", n, len(ids), time.Since(start))
		require.Equal(t, len(ids), e.Count(s))
		require.Equal(t, s, decode(e, ids))
	}
}

func decode(e *Encoding, ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		b.Write(e.ranks.token(uint32(id)))
	}
	return b.String()
}

// TestConcurrentUse encodes from many goroutines at once (run with -race).
func TestConcurrentUse(t *testing.T) {
	e := load(t, O200K).ours
	want := map[string][]int{}
	for _, s := range corpus {
		want[s] = e.Encode(s)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Go(func() {
			for s, ids := range want {
				if got := e.Encode(s); !slices.Equal(got, ids) || e.Count(s) != len(ids) {
					errs <- s
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for s := range errs {
		t.Errorf("concurrent encode of %q differs", s)
	}
}
