package ollama

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ollama/ollama/api"
	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm"
)

func chatResponse(t *testing.T, js string) *api.ChatResponse {
	t.Helper()
	var r api.ChatResponse
	require.NoError(t, json.Unmarshal([]byte(js), &r))
	return &r
}

// stable blanks the generated id and time of an OpenAI object.
func stable(t *testing.T, data []byte) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	m["id"], m["created"] = "ID", 0
	if choices, ok := m["choices"].([]any); ok {
		for _, c := range choices {
			for _, key := range []string{"message", "delta"} {
				msg, _ := c.(map[string]any)[key].(map[string]any)
				calls, _ := msg["tool_calls"].([]any)
				for _, call := range calls {
					id, _ := call.(map[string]any)["id"].(string)
					require.True(t, strings.HasPrefix(id, "call_"), "tool call id %q", id)
					call.(map[string]any)["id"] = "CALL"
				}
			}
		}
	}
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return string(out)
}

func TestChatCompletionMapping(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{
			name: "text",
			in:   `{"model":"llama3","message":{"role":"assistant","content":"hello"},"done":true,"done_reason":"stop","prompt_eval_count":5,"eval_count":2}`,
			want: `{"id":"ID","object":"chat.completion","created":0,"model":"llama3","choices":[{"index":0,
				"message":{"role":"assistant","content":"hello","refusal":null},"logprobs":null,"finish_reason":"stop"}],
				"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}`,
		},
		{
			name: "length",
			in:   `{"model":"llama3","message":{"role":"assistant","content":"hel"},"done":true,"done_reason":"length","prompt_eval_count":1,"eval_count":1}`,
			want: `{"id":"ID","object":"chat.completion","created":0,"model":"llama3","choices":[{"index":0,
				"message":{"role":"assistant","content":"hel","refusal":null},"logprobs":null,"finish_reason":"length"}],
				"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`,
		},
		{
			name: "tool calls without ids",
			in: `{"model":"llama3","message":{"role":"assistant","content":"","tool_calls":[{"function":{"index":0,"name":"f","arguments":{"b":1,"a":"x"}}}]},
				"done":true,"done_reason":"stop","prompt_eval_count":3,"eval_count":4}`,
			want: `{"id":"ID","object":"chat.completion","created":0,"model":"llama3","choices":[{"index":0,
				"message":{"role":"assistant","content":null,"refusal":null,"tool_calls":[{"id":"CALL","type":"function","function":{"name":"f","arguments":"{\"b\":1,\"a\":\"x\"}"}}]},
				"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`,
		},
		{
			name: "logprobs",
			in: `{"model":"llama3","message":{"role":"assistant","content":"a"},"done":true,"done_reason":"stop",
				"logprobs":[{"token":"a","logprob":-0.5,"top_logprobs":[{"token":"a","logprob":-0.5},{"token":"b","logprob":-1}]}]}`,
			want: `{"id":"ID","object":"chat.completion","created":0,"model":"llama3","choices":[{"index":0,
				"message":{"role":"assistant","content":"a","refusal":null},
				"logprobs":{"content":[{"token":"a","logprob":-0.5,"bytes":null,"top_logprobs":[{"token":"a","logprob":-0.5,"bytes":null,"top_logprobs":null},{"token":"b","logprob":-1,"bytes":null,"top_logprobs":null}]}],"refusal":null},
				"finish_reason":"stop"}],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := chatCompletion(chatResponse(t, tt.in), "requested")
			require.NoError(t, err)
			require.JSONEq(t, tt.want, stable(t, resp.Body))
			require.Equal(t, "llama3", resp.Model)
		})
	}
}

func TestChatChunkMapping(t *testing.T) {
	c := newConverter("chatcmpl", "requested")
	lines := []string{
		`{"model":"llama3","message":{"role":"assistant","content":"Hel"},"done":false}`,
		`{"model":"llama3","message":{"role":"assistant","content":"","thinking":"hmm"},"done":false}`,
		`{"model":"llama3","message":{"role":"assistant","content":"lo"},"done":false}`,
		`{"model":"llama3","message":{"role":"assistant","content":"","tool_calls":[{"id":"call_x","function":{"index":0,"name":"f","arguments":{}}},{"function":{"index":1,"name":"g","arguments":{"k":[1]}}}]},"done":false}`,
		`{"model":"llama3","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":4,"eval_count":6}`,
	}
	var got []string
	var chunks []llm.Chunk
	for _, l := range lines {
		cs, err := c.chatChunks(chatResponse(t, l))
		require.NoError(t, err)
		for _, ch := range cs {
			got = append(got, stable(t, ch.Data))
		}
		chunks = append(chunks, cs...)
	}
	head := `"id":"ID","object":"chat.completion.chunk","created":0,"model":"llama3"`
	want := []string{
		`{` + head + `,"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"logprobs":null,"finish_reason":null}]}`,
		`{` + head + `,"choices":[{"index":0,"delta":{"content":"lo"},"logprobs":null,"finish_reason":null}]}`,
		`{` + head + `,"choices":[{"index":0,"delta":{"tool_calls":[
			{"index":0,"id":"CALL","type":"function","function":{"name":"f","arguments":"{}"}},
			{"index":1,"id":"CALL","type":"function","function":{"name":"g","arguments":"{\"k\":[1]}"}}]},"logprobs":null,"finish_reason":null}]}`,
		`{` + head + `,"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}`,
		`{` + head + `,"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":6,"total_tokens":10}}`,
	}
	require.Len(t, got, len(want))
	for i := range want {
		require.JSONEq(t, want[i], got[i], "chunk %d", i)
	}
	last := chunks[len(chunks)-1]
	require.True(t, last.UsageOnly)
	require.Equal(t, &llm.Usage{PromptTokens: 4, CompletionTokens: 6, TotalTokens: 10}, last.Usage)
	for _, ch := range chunks[:len(chunks)-1] {
		require.False(t, ch.UsageOnly)
		require.Nil(t, ch.Usage)
	}
}

func TestTextChunkMapping(t *testing.T) {
	c := newConverter("cmpl", "requested")
	var got []string
	for _, l := range []string{
		`{"model":"m","response":"Hi","done":false}`,
		`{"model":"m","response":"","done":true,"done_reason":"length","prompt_eval_count":2,"eval_count":1,"context":[1]}`,
	} {
		var r api.GenerateResponse
		require.NoError(t, json.Unmarshal([]byte(l), &r))
		cs, err := c.textChunks(&r)
		require.NoError(t, err)
		for _, ch := range cs {
			got = append(got, stable(t, ch.Data))
		}
	}
	head := `"id":"ID","object":"text_completion","created":0,"model":"m"`
	want := []string{
		`{` + head + `,"choices":[{"index":0,"text":"Hi","logprobs":null,"finish_reason":null}]}`,
		`{` + head + `,"choices":[{"index":0,"text":"","logprobs":null,"finish_reason":"length"}]}`,
		`{` + head + `,"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}}`,
	}
	require.Len(t, got, len(want))
	for i := range want {
		require.JSONEq(t, want[i], got[i])
	}
}
