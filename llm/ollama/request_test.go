package ollama

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm"
)

func rawRequest(e llm.Endpoint, stream bool, fields map[string]string) *llm.Request {
	req := &llm.Request{Endpoint: e, Model: "llama3", Stream: stream, Fields: map[string]json.RawMessage{}}
	for k, v := range fields {
		req.Fields[k] = json.RawMessage(v)
	}
	return req
}

func TestChatRequestMapping(t *testing.T) {
	tests := []struct {
		name   string
		fields map[string]string
		want   string
	}{
		{
			name:   "plain",
			fields: map[string]string{"messages": `[{"role":"developer","content":"be nice"},{"role":"user","content":"hi"}]`},
			want:   `{"model":"llama3","stream":false,"options":null,"messages":[{"role":"system","content":"be nice"},{"role":"user","content":"hi"}]}`,
		},
		{
			name: "sampling",
			fields: map[string]string{
				"messages":    `[{"role":"user","content":"hi"}]`,
				"temperature": `0.5`, "top_p": `0.9`, "seed": `7`, "stop": `"END"`,
				"max_tokens": `100`, "max_completion_tokens": `50`,
				"presence_penalty": `0.1`, "frequency_penalty": `0.2`,
				"user": `"u"`, "not_an_openai_param": `{"x":1}`, "parallel_tool_calls": `true`,
			},
			want: `{"model":"llama3","stream":false,"messages":[{"role":"user","content":"hi"}],
				"options":{"temperature":0.5,"top_p":0.9,"seed":7,"stop":["END"],"num_predict":50,"presence_penalty":0.1,"frequency_penalty":0.2}}`,
		},
		{
			name: "parts and images",
			fields: map[string]string{"messages": `[{"role":"user","content":[{"type":"text","text":"what is"},{"type":"text","text":"this"},
				{"type":"image_url","image_url":{"url":"data:image/png;base64,aGVsbG8="}}]}]`, "stop": `["a","b"]`},
			want: `{"model":"llama3","stream":false,"messages":[{"role":"user","content":"what is\nthis","images":["aGVsbG8="]}],"options":{"stop":["a","b"]}}`,
		},
		{
			name: "tool round trip",
			fields: map[string]string{
				"messages": `[{"role":"user","content":"weather?"},
					{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"days\":2}"}}]},
					{"role":"tool","tool_call_id":"call_1","content":"sunny"}]`,
				"tools":       `[{"type":"function","function":{"name":"get_weather","description":"d","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]`,
				"tool_choice": `"auto"`,
			},
			want: `{"model":"llama3","stream":false,"options":null,
				"messages":[{"role":"user","content":"weather?"},
					{"role":"assistant","content":"","tool_calls":[{"id":"call_1","function":{"index":0,"name":"get_weather","arguments":{"city":"Paris","days":2}}}]},
					{"role":"tool","content":"sunny","tool_name":"get_weather","tool_call_id":"call_1"}],
				"tools":[{"type":"function","function":{"name":"get_weather","description":"d","parameters":{"type":"object","required":["city"],"properties":{"city":{"type":"string"}}}}}]}`,
		},
		{
			name: "tool choice none drops tools",
			fields: map[string]string{"messages": `[{"role":"user","content":"hi"}]`, "tool_choice": `"none"`,
				"tools": `[{"type":"function","function":{"name":"f"}}]`},
			want: `{"model":"llama3","stream":false,"options":null,"messages":[{"role":"user","content":"hi"}]}`,
		},
		{
			name: "named tool choice keeps that tool",
			fields: map[string]string{"messages": `[{"role":"user","content":"hi"}]`,
				"tool_choice": `{"type":"function","function":{"name":"g"}}`,
				"tools":       `[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"g"}}]`},
			want: `{"model":"llama3","stream":false,"options":null,"messages":[{"role":"user","content":"hi"}],
				"tools":[{"type":"function","function":{"name":"g","parameters":{"type":"","properties":null}}}]}`,
		},
		{
			name:   "json object",
			fields: map[string]string{"messages": `[{"role":"user","content":"hi"}]`, "response_format": `{"type":"json_object"}`},
			want:   `{"model":"llama3","stream":false,"options":null,"messages":[{"role":"user","content":"hi"}],"format":"json"}`,
		},
		{
			name: "json schema",
			fields: map[string]string{"messages": `[{"role":"user","content":"hi"}]`,
				"response_format": `{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"a":{"type":"number"}}}}}`},
			want: `{"model":"llama3","stream":false,"options":null,"messages":[{"role":"user","content":"hi"}],
				"format":{"type":"object","properties":{"a":{"type":"number"}}}}`,
		},
		{
			name:   "logprobs and reasoning",
			fields: map[string]string{"messages": `[{"role":"user","content":"hi"}]`, "logprobs": `true`, "top_logprobs": `2`, "reasoning_effort": `"low"`, "n": `1`, "logit_bias": `{}`},
			want:   `{"model":"llama3","stream":false,"options":null,"messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":2,"think":"low"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := chatRequest(rawRequest(llm.ChatCompletions, false, tt.fields))
			require.NoError(t, err)
			got, err := json.Marshal(out)
			require.NoError(t, err)
			require.JSONEq(t, tt.want, string(got))
		})
	}
}

func TestChatRequestRefusals(t *testing.T) {
	msgs := `[{"role":"user","content":"hi"}]`
	tests := []struct {
		name   string
		fields map[string]string
		param  string
	}{
		{"no messages", map[string]string{}, "messages"},
		{"empty messages", map[string]string{"messages": `[]`}, "messages"},
		{"messages not a list", map[string]string{"messages": `{}`}, "messages"},
		{"n", map[string]string{"messages": msgs, "n": `2`}, "n"},
		{"logit_bias", map[string]string{"messages": msgs, "logit_bias": `{"50256":-100}`}, "logit_bias"},
		{"audio", map[string]string{"messages": msgs, "audio": `{"voice":"x"}`}, "audio"},
		{"functions", map[string]string{"messages": msgs, "functions": `[{"name":"f"}]`}, "functions"},
		{"modalities", map[string]string{"messages": msgs, "modalities": `["text","audio"]`}, "modalities"},
		{"remote image", map[string]string{"messages": `[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]`}, "messages[0]"},
		{"audio part", map[string]string{"messages": `[{"role":"user","content":[{"type":"input_audio"}]}]`}, "messages[0]"},
		{"bad role", map[string]string{"messages": `[{"role":"wizard","content":"x"}]`}, "messages[0]"},
		{"bad tool args", map[string]string{"messages": `[{"role":"assistant","tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"nope"}}]}]`}, "messages[0].tool_calls[0]"},
		{"required tool choice", map[string]string{"messages": msgs, "tool_choice": `"required"`, "tools": `[{"type":"function","function":{"name":"f"}}]`}, "tool_choice"},
		{"unknown named tool", map[string]string{"messages": msgs, "tool_choice": `{"type":"function","function":{"name":"zz"}}`, "tools": `[{"type":"function","function":{"name":"f"}}]`}, "tool_choice"},
		{"bad tool", map[string]string{"messages": msgs, "tools": `[{"type":"retrieval"}]`}, "tools"},
		{"bad response_format", map[string]string{"messages": msgs, "response_format": `{"type":"xml"}`}, "response_format"},
		{"schema missing", map[string]string{"messages": msgs, "response_format": `{"type":"json_schema"}`}, "response_format"},
		{"bad temperature", map[string]string{"messages": msgs, "temperature": `"hot"`}, "temperature"},
		{"bad stop", map[string]string{"messages": msgs, "stop": `5`}, "stop"},
		{"zero max_tokens", map[string]string{"messages": msgs, "max_tokens": `0`}, "max_tokens"},
		{"bad top_logprobs", map[string]string{"messages": msgs, "top_logprobs": `50`}, "top_logprobs"},
		{"bad reasoning", map[string]string{"messages": msgs, "reasoning_effort": `"max"`}, "reasoning_effort"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := chatRequest(rawRequest(llm.ChatCompletions, false, tt.fields))
			require.ErrorIs(t, err, llm.ErrInvalidRequest)
			var pe *llm.ParamError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tt.param, pe.Param)
		})
	}
}

func TestGenerateRequestMapping(t *testing.T) {
	tests := []struct {
		name   string
		fields map[string]string
		want   string
		param  string
	}{
		{"string prompt", map[string]string{"prompt": `"once"`, "suffix": `"end"`, "max_tokens": `5`, "logprobs": `2`},
			`{"model":"llama3","prompt":"once","suffix":"end","system":"","template":"","stream":true,"options":{"num_predict":5},"logprobs":true,"top_logprobs":2}`, ""},
		{"one-element list", map[string]string{"prompt": `["once"]`},
			`{"model":"llama3","prompt":"once","suffix":"","system":"","template":"","stream":true,"options":null}`, ""},
		{"two prompts", map[string]string{"prompt": `["a","b"]`}, "", "prompt"},
		{"token prompt", map[string]string{"prompt": `[1,2,3]`}, "", "prompt"},
		{"no prompt", map[string]string{}, "", "prompt"},
		{"echo", map[string]string{"prompt": `"x"`, "echo": `true`}, "", "echo"},
		{"best_of", map[string]string{"prompt": `"x"`, "best_of": `3`}, "", "best_of"},
		{"n", map[string]string{"prompt": `"x"`, "n": `3`}, "", "n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := generateRequest(rawRequest(llm.Completions, true, tt.fields))
			if tt.param != "" {
				var pe *llm.ParamError
				require.ErrorAs(t, err, &pe)
				require.Equal(t, tt.param, pe.Param)
				return
			}
			require.NoError(t, err)
			got, err := json.Marshal(out)
			require.NoError(t, err)
			require.JSONEq(t, tt.want, string(got))
		})
	}
}

func FuzzChatRequest(f *testing.F) {
	f.Add(`{"messages":[{"role":"user","content":"hi"}],"temperature":0.2}`)
	f.Add(`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]}],"stop":["x"]}`)
	f.Add(`{"messages":[{"role":"assistant","tool_calls":[{"id":"1","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"1"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":{"function":{"name":"f"}}}`)
	f.Add(`{"response_format":{"type":"json_schema","json_schema":{"schema":{}}},"n":1,"logit_bias":null}`)
	f.Add(`{"prompt":["a"],"suffix":"b","logprobs":3}`)
	f.Fuzz(func(t *testing.T, body string) {
		var fields map[string]json.RawMessage
		if json.Unmarshal([]byte(body), &fields) != nil {
			return
		}
		for _, e := range []llm.Endpoint{llm.ChatCompletions, llm.Completions} {
			req := &llm.Request{Endpoint: e, Model: "m", Fields: fields}
			var err error
			var out any
			if e == llm.Completions {
				out, err = generateRequest(req)
			} else {
				out, err = chatRequest(req)
			}
			if err != nil {
				require.ErrorIs(t, err, llm.ErrInvalidRequest)
				continue
			}
			_, err = json.Marshal(out)
			require.NoError(t, err)
		}
	})
}
