package tokens

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm/wire"
)

// requireChatBound checks that ChatBound admits messages and tools and
// bounds Chat's count under both encodings.
func requireChatBound(t *testing.T, messages []wire.Message, tools []wire.Tool) int {
	t.Helper()
	bound, ok := ChatBound(messages, tools)
	require.True(t, ok)
	var c Counter
	for _, model := range []string{"gpt-4", "gpt-4o"} {
		n, err := c.Chat(model, messages, tools)
		require.NoError(t, err)
		require.LessOrEqual(t, n, bound, model)
	}
	return bound
}

func TestChatBound(t *testing.T) {
	bound := requireChatBound(t, cookbookMessages, nil)
	require.Less(t, bound, 8*129, "a bound of English text is a few bytes a token")

	for _, content := range []string{
		`"plain"`, `"line\nbreak \"quoted\" \\ \/ \t"`, `"\u00e9\u4f60\ud83d\ude00"`,
		`"` + strings.Repeat(`\ud800`, 50) + `"`, // each lone surrogate decodes to U+FFFD, 3 bytes
		`"` + strings.Repeat("你好", 100) + `"`, `"🙂🙂🙂"`, `null`, `42`, `{"a":"b"}`, `"unterminated`,
	} {
		requireChatBound(t, []wire.Message{{Role: "user", Name: "ann", Content: json.RawMessage(content)}}, nil)
	}
	requireChatBound(t, []wire.Message{{Role: "user"}}, nil)
	requireChatBound(t,
		[]wire.Message{
			{Role: "assistant", ToolCalls: []wire.ToolCall{{ID: "1", Function: wire.FunctionCall{Name: "get_weather", Arguments: `{"city":"Paris"}`}}}},
			{Role: "tool", ToolCallID: "call_1", Content: jsonString("sunny")},
		},
		[]wire.Tool{{Type: "function", Function: wire.Function{Name: "get_weather", Description: "Weather now",
			Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}}})

	for name, content := range map[string]string{
		"parts":        `[{"type":"image_url","image_url":{"url":"x"}}]`,
		"invalid utf8": "\"\xff\xfe\xfd\"",
	} {
		_, ok := ChatBound([]wire.Message{{Role: "user", Content: json.RawMessage(content)}}, nil)
		require.False(t, ok, name)
	}
	_, ok := ChatBound(make([]wire.Message, maxMessages+1), nil)
	require.False(t, ok, "more messages than Chat counts")
}

func TestPromptAndEmbeddingBound(t *testing.T) {
	var c Counter
	for _, p := range []string{`"Say this is a test"`, `"` + strings.Repeat(`\u0041`, 20) + `"`, `null`, ``} {
		bound, ok := PromptBound(json.RawMessage(p))
		require.True(t, ok, p)
		n, err := c.Prompt("gpt-4", json.RawMessage(p))
		require.NoError(t, err)
		require.LessOrEqual(t, n, bound, p)
	}
	for _, p := range []string{`["a","b"]`, `[1,2,3]`, "\"\xff\""} {
		_, ok := PromptBound(json.RawMessage(p))
		require.False(t, ok, p)
	}
	input := []string{"hello world", "你好", ""}
	n, err := c.Embedding("text-embedding-3-small", input)
	require.NoError(t, err)
	require.LessOrEqual(t, n, EmbeddingBound(input))
	require.Equal(t, len("hello world")+len("你好"), EmbeddingBound(input))
}

// FuzzChatBound: whatever a client sends, a bound that ChatBound reports
// is never below the count.
func FuzzChatBound(f *testing.F) {
	for _, s := range []string{
		`{"messages":[{"role":"user","content":"hi"}]}`,
		`{"messages":[{"role":"user","content":"\ud800\udc00\ud800"}],"tools":[{"type":"function","function":{"name":"f","parameters":{}}}]}`,
		`{"messages":[{"role":"user","name":"x","content":{"k":"<|endoftext|>"}}]}`,
		`{"messages":[{"role":"assistant","tool_calls":[{"id":"1","function":{"name":"f","arguments":"\u00ff"}}]}]}`,
	} {
		f.Add(s)
	}
	var c Counter
	f.Fuzz(func(t *testing.T, body string) {
		var req struct {
			Messages []wire.Message `json:"messages"`
			Tools    []wire.Tool    `json:"tools"`
		}
		if json.Unmarshal([]byte(body), &req) != nil {
			return
		}
		bound, ok := ChatBound(req.Messages, req.Tools)
		if !ok {
			return
		}
		for _, model := range []string{"gpt-4", "gpt-4o"} {
			n, err := c.Chat(model, req.Messages, req.Tools)
			require.NoError(t, err)
			require.LessOrEqual(t, n, bound, model)
		}
	})
}

// FuzzPromptBound is FuzzChatBound for a completions prompt.
func FuzzPromptBound(f *testing.F) {
	for _, s := range []string{`"hi"`, `"\ud800"`, `["a"]`, `null`} {
		f.Add(s)
	}
	var c Counter
	f.Fuzz(func(t *testing.T, prompt string) {
		if !json.Valid([]byte(prompt)) {
			return
		}
		bound, ok := PromptBound(json.RawMessage(prompt))
		if !ok {
			return
		}
		n, err := c.Prompt("gpt-4", json.RawMessage(prompt))
		require.NoError(t, err)
		require.LessOrEqual(t, n, bound)
	})
}
