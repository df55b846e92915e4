package tokens

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"
	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/wire"
)

func TestEncodingFor(t *testing.T) {
	for model, want := range map[string]string{
		"gpt-4o":                 O200K,
		"gpt-4o-mini-2024-07-18": O200K,
		"openai/gpt-4.1":         O200K,
		"o3-mini":                O200K,
		"gpt-4":                  CL100K,
		"gpt-3.5-turbo-0125":     CL100K,
		"llama3.1:8b":            CL100K,
		"text-embedding-3-small": CL100K,
		"":                       CL100K,
	} {
		require.Equal(t, want, EncodingFor(model), model)
	}
}

// Counts checked against Python tiktoken.
func TestText(t *testing.T) {
	var c Counter
	tests := []struct {
		model, text string
		want        int
	}{
		{"gpt-4", "hello world!你好，世界！", 10},
		{"gpt-4", "hallo world!", 4},
		{"gpt-4o", "hallo world!", 4},
		{"gpt-4", "你好世界！", 6},
		{"gpt-4o", "你好世界！", 3},
		{"gpt-4", "안녕하세요 세계!", 10},
		{"gpt-4o", "안녕하세요 세계!", 4},
		{"gpt-4", "Hej världen!", 7},
		{"gpt-4o", "Hej världen!", 3},
		{"gpt-4", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.model+"/"+tt.text, func(t *testing.T) {
			n, err := c.Text(tt.model, tt.text)
			require.NoError(t, err)
			require.Equal(t, tt.want, n)
		})
	}
}

// The example from OpenAI's "How to count tokens with tiktoken": 129 prompt
// tokens for cl100k models, 124 for gpt-4o, as the API reports.
var cookbookMessages = []wire.Message{
	{Role: "system", Content: jsonString("You are a helpful, pattern-following assistant that translates corporate jargon into plain English.")},
	{Role: "system", Name: "example_user", Content: jsonString("New synergies will help drive top-line growth.")},
	{Role: "system", Name: "example_assistant", Content: jsonString("Things working well together will increase revenue.")},
	{Role: "system", Name: "example_user", Content: jsonString("Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.")},
	{Role: "system", Name: "example_assistant", Content: jsonString("Let's talk later when we're less busy about how to do better.")},
	{Role: "user", Content: jsonString("This late pivot means we don't have time to boil the ocean for the client deliverable.")},
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

func TestChatCookbook(t *testing.T) {
	var c Counter
	for model, want := range map[string]int{"gpt-3.5-turbo-0125": 129, "gpt-4-0613": 129, "gpt-4o": 124, "gpt-4o-mini": 124} {
		n, err := c.Chat(model, cookbookMessages, nil)
		require.NoError(t, err)
		require.Equal(t, want, n, model)
	}
}

func TestChatParts(t *testing.T) {
	var c Counter
	text, err := c.Chat("gpt-4", []wire.Message{{Role: "user", Content: jsonString("hallo world!")}}, nil)
	require.NoError(t, err)
	require.Equal(t, ReplyPriming+TokensPerMessage+1+4, text) // role "user" is 1 token

	parts := json.RawMessage(`[{"type":"text","text":"hallo world!"},{"type":"image_url","image_url":{"url":"data:","detail":"low"}},{"type":"image_url","image_url":{"url":"x"}}]`)
	n, err := c.Chat("gpt-4", []wire.Message{{Role: "user", Content: parts}}, nil)
	require.NoError(t, err)
	require.Equal(t, text+ImageLowDetailTokens+ImageHighDetailTokens, n)

	withTools, err := c.Chat("gpt-4", []wire.Message{{Role: "user", Content: jsonString("hallo world!")}},
		[]wire.Tool{{Type: "function", Function: wire.Function{Name: "get_weather", Description: "Weather", Parameters: json.RawMessage(`{"type":"object"}`)}}})
	require.NoError(t, err)
	require.Greater(t, withTools, text+toolBlockOverhead+toolFunctionOverhead)

	calls, err := c.Chat("gpt-4", []wire.Message{{Role: "assistant", ToolCalls: []wire.ToolCall{{ID: "1", Function: wire.FunctionCall{Name: "f", Arguments: `{"a":1}`}}}}, {Role: "tool", ToolCallID: "1", Content: jsonString("ok")}}, nil)
	require.NoError(t, err)
	require.Greater(t, calls, ReplyPriming+2*TokensPerMessage+2)
}

func TestRequestAndPrompt(t *testing.T) {
	var c Counter
	msgs, err := json.Marshal(cookbookMessages)
	require.NoError(t, err)
	n, err := c.Request(&llm.Request{Endpoint: llm.ChatCompletions, Model: "gpt-4o", Fields: map[string]json.RawMessage{"messages": msgs}})
	require.NoError(t, err)
	require.Equal(t, 124, n)

	_, err = c.Request(&llm.Request{Endpoint: llm.ChatCompletions, Model: "gpt-4o", Fields: map[string]json.RawMessage{"messages": json.RawMessage(`{}`)}})
	require.Error(t, err)

	for prompt, want := range map[string]int{
		`"hallo world!"`:                  4,
		`["hallo world!","Hej världen!"]`: 11,
		`[1,2,3]`:                         3,
		`[[1,2],[3]]`:                     3,
		`null`:                            0,
	} {
		n, err := c.Request(&llm.Request{Endpoint: llm.Completions, Model: "gpt-3.5-turbo-instruct", Fields: map[string]json.RawMessage{"prompt": json.RawMessage(prompt)}})
		require.NoError(t, err, prompt)
		require.Equal(t, want, n, prompt)
	}
	_, err = c.Prompt("gpt-4", json.RawMessage(`{"a":1}`))
	require.Error(t, err)
}

func TestSpecialTokenTextIsOrdinary(t *testing.T) {
	var c Counter
	n, err := c.Text("gpt-4", "<|endoftext|>")
	require.NoError(t, err)
	require.Greater(t, n, 1)
}

func TestEmbedding(t *testing.T) {
	var c Counter
	n, err := c.Embedding("text-embedding-3-small", []string{"hallo world!", "你好世界！"})
	require.NoError(t, err)
	require.Equal(t, 10, n)
}

func TestDefaultEncodingOverride(t *testing.T) {
	c := Counter{Default: O200K}
	n, err := c.Text("gpt-4", "你好世界！")
	require.NoError(t, err)
	require.Equal(t, 3, n)
	_, err = (&Counter{Default: "nope"}).Text("x", "a")
	require.Error(t, err)
}

func TestLongTextIsBounded(t *testing.T) {
	var c Counter
	text := strings.Repeat("hello ", MaxTextBytes/6+1000)
	n, err := c.Text("gpt-4", text)
	require.NoError(t, err)
	words := len(text) / 6
	require.InDelta(t, words, n, float64(words)/100)
}

// TestLoadCost measures, in a fresh process, what loading both encodings
// costs. It asserts the load succeeds and is bounded; the figures are logged.
func TestLoadCost(t *testing.T) {
	if os.Getenv("RAGWAY_TOKENS_LOAD_CHILD") == "1" {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		require.NoError(t, Preload(CL100K, O200K))
		elapsed := time.Since(start)
		runtime.GC()
		runtime.ReadMemStats(&after)
		tables := 0
		for _, name := range []string{CL100K, O200K} {
			e, err := encoding(name)
			require.NoError(t, err)
			tables += e.tk.TableBytes()
		}
		fmt.Printf("LOADCOST %v %d %d\n", elapsed, int64(after.HeapAlloc)-int64(before.HeapAlloc), tables)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadCost$", "-test.count=1")
	cmd.Env = append(os.Environ(), "RAGWAY_TOKENS_LOAD_CHILD=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	var elapsed string
	var heap, tables int64
	i := strings.Index(string(out), "LOADCOST ")
	require.GreaterOrEqual(t, i, 0, string(out))
	_, err = fmt.Sscanf(string(out[i:]), "LOADCOST %s %d %d", &elapsed, &heap, &tables)
	require.NoError(t, err)
	t.Logf("loading cl100k_base and o200k_base: %s, live heap %+d KiB, tables %.1f MiB", elapsed, heap>>10,
		float64(tables)/(1<<20))
	require.Greater(t, tables, int64(4<<20), "both encodings' tables")
	if runtime.GOOS != "windows" {
		// On Unix the tables are mapped outside the heap: loading them
		// must leave the live heap, which sets the collector's goal,
		// about where it was.
		require.Less(t, heap, int64(1<<20))
	} else {
		require.Less(t, heap, 2*tables)
	}
}

// BenchmarkChat counts the cookbook conversation: "cached" as a repeated
// conversation is, "uncached" with every message new.
func BenchmarkChat(b *testing.B) {
	var c Counter
	require.NoError(b, Preload())
	for _, model := range []string{"gpt-4", "gpt-4o"} {
		b.Run(model+"/cached", func(b *testing.B) {
			for b.Loop() {
				if _, err := c.Chat(model, cookbookMessages, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(model+"/uncached", func(b *testing.B) {
			msgs := slices.Clone(cookbookMessages)
			i := 0
			for b.Loop() {
				i++
				for j := range msgs {
					msgs[j].Content = jsonString(fmt.Sprintf("%d %s", i, cookbookMessages[j].Content))
				}
				if _, err := c.Chat(model, msgs, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestCacheGivesSameCounts(t *testing.T) {
	var c Counter
	text := strings.Repeat("The cache must not change a count. ", 10)
	first, err := c.Text("gpt-4", text)
	require.NoError(t, err)
	for range 3 {
		n, err := c.Text("gpt-4", text)
		require.NoError(t, err)
		require.Equal(t, first, n)
	}
	other, err := c.Text("gpt-4o", text) // cached per encoding
	require.NoError(t, err)
	require.Equal(t, len(encodeO200K(t, text)), other)
}

// encodeO200K encodes with the reference implementation, tiktoken-go.
func encodeO200K(t *testing.T, text string) []int {
	tiktoken.SetBpeLoader(tiktoken_loader.NewOfflineLoader())
	tk, err := tiktoken.GetEncoding(O200K)
	require.NoError(t, err)
	return tk.EncodeOrdinary(text)
}

func FuzzText(f *testing.F) {
	for _, s := range []string{"", "hello", "你好世界！", "<|endoftext|>", "\xff\xfe", strings.Repeat("a", 1000), "  \n\t ", "'s'll'd"} {
		f.Add(s)
	}
	var c Counter
	f.Fuzz(func(t *testing.T, s string) {
		for _, model := range []string{"gpt-4", "gpt-4o"} {
			n, err := c.Text(model, s)
			require.NoError(t, err)
			require.GreaterOrEqual(t, n, 0)
			require.LessOrEqual(t, n, len(s))
			if len(s) > 0 {
				require.Positive(t, n)
			}
		}
		_, _ = c.Prompt("gpt-4", json.RawMessage(s))
	})
}

func TestMaxTokens(t *testing.T) {
	for fields, want := range map[string]int{
		`{}`:                 0,
		`{"max_tokens":100}`: 100,
		`{"max_completion_tokens":50,"max_tokens":100}`:   50,
		`{"max_completion_tokens":null,"max_tokens":100}`: 100,
		`{"max_tokens":"many"}`:                           0,
		`{"max_tokens":-3}`:                               0,
		`{"max_tokens":1e400}`:                            0,
	} {
		var f map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(fields), &f))
		require.Equal(t, want, MaxTokens(&llm.Request{Fields: f}), fields)
	}
}

func TestPlainString(t *testing.T) {
	for _, tt := range []struct {
		raw  string
		want string
		ok   bool
	}{
		{raw: `"hello there"`, want: "hello there", ok: true},
		{raw: `""`, want: "", ok: true},
		{raw: `"héllo, 世界"`, want: "héllo, 世界", ok: true},
		{raw: `"say \"hi\""`},      // escaped quotes need decoding
		{raw: `"line\nbreak"`},     // so does any escape
		{raw: `"\u00e9"`},          // and unicode escapes
		{raw: "\"raw\nnewline\""},  // invalid JSON: left to json.Unmarshal
		{raw: "\"bad \xff utf8\""}, // json.Unmarshal replaces it with U+FFFD
		{raw: `"unterminated`},     // not a string
		{raw: `[{"type":"text"}]`}, // content parts
		{raw: `"`},                 // a lone quote
		{raw: `"a" "b"`},           // a quote inside
		{raw: `null`},
	} {
		got, ok := plainString([]byte(tt.raw))
		require.Equal(t, tt.ok, ok, "%q", tt.raw)
		require.Equal(t, tt.want, got, "%q", tt.raw)
	}
}

// FuzzPlainString checks the fast path against encoding/json: whatever
// plainString accepts, json.Unmarshal decodes to the same text.
func FuzzPlainString(f *testing.F) {
	for _, s := range []string{`"hello"`, `""`, `"a\"b"`, "\"\xff\"", `"é"`, `"a" "b"`, `[1]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, ok := plainString(raw)
		if !ok {
			return
		}
		var want string
		require.NoError(t, json.Unmarshal(raw, &want), "%q", raw)
		require.Equal(t, want, got, "%q", raw)
	})
}
