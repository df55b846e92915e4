package gateway

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm"
)

func TestDecodeGenerate(t *testing.T) {
	cases := []struct {
		name  string
		ep    llm.Endpoint
		body  string
		param string // expected error param; "-" means no error
	}{
		{"minimal", llm.ChatCompletions, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, "-"},
		{"parts and extras", llm.ChatCompletions, `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"x_custom":{"a":1},"tools":[],"stop":["a","b"],"seed":7,"n":2}`, "-"},
		{"stream with usage", llm.ChatCompletions, `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`, "-"},
		{"not json", llm.ChatCompletions, `{"model":`, ""},
		{"array body", llm.ChatCompletions, `[1,2]`, ""},
		{"trailing data", llm.ChatCompletions, `{"model":"m","messages":[{"role":"user","content":"x"}]} {}`, ""},
		{"missing model", llm.ChatCompletions, `{"messages":[{"role":"user","content":"hi"}]}`, "model"},
		{"model not string", llm.ChatCompletions, `{"model":5,"messages":[{"role":"user","content":"hi"}]}`, "model"},
		{"empty model", llm.ChatCompletions, `{"model":"","messages":[{"role":"user","content":"hi"}]}`, "model"},
		{"missing messages", llm.ChatCompletions, `{"model":"m"}`, "messages"},
		{"empty messages", llm.ChatCompletions, `{"model":"m","messages":[]}`, "messages"},
		{"messages not array", llm.ChatCompletions, `{"model":"m","messages":"hi"}`, "messages"},
		{"bad role", llm.ChatCompletions, `{"model":"m","messages":[{"role":"robot","content":"hi"}]}`, "messages[0].role"},
		{"missing role", llm.ChatCompletions, `{"model":"m","messages":[{"content":"hi"}]}`, "messages[0].role"},
		{"bad content", llm.ChatCompletions, `{"model":"m","messages":[{"role":"user","content":5}]}`, "messages[0].content"},
		{"temperature type", llm.ChatCompletions, `{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"}`, "temperature"},
		{"temperature range", llm.ChatCompletions, `{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3}`, "temperature"},
		{"n range", llm.ChatCompletions, `{"model":"m","messages":[{"role":"user","content":"x"}],"n":0}`, "n"},
		{"max_tokens fraction", llm.ChatCompletions, `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1.5}`, "max_tokens"},
		{"stream type", llm.ChatCompletions, `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}`, "stream"},
		{"stream_options without stream", llm.ChatCompletions, `{"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}`, "stream_options"},
		{"too many stops", llm.ChatCompletions, `{"model":"m","messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e"]}`, "stop"},
		{"response_format without type", llm.ChatCompletions, `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{}}`, "response_format.type"},
		{"completion ok", llm.Completions, `{"model":"m","prompt":"hello"}`, "-"},
		{"completion tokens", llm.Completions, `{"model":"m","prompt":[1,2,3]}`, "-"},
		{"completion missing prompt", llm.Completions, `{"model":"m"}`, "prompt"},
		{"completion bad prompt", llm.Completions, `{"model":"m","prompt":{"a":1}}`, "prompt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := decodeGenerate([]byte(tc.body), tc.ep)
			if tc.param == "-" {
				require.NoError(t, err)
				require.Equal(t, "m", req.Model)
				return
			}
			require.Error(t, err)
			ae := toAPIError(err)
			require.Equal(t, http.StatusBadRequest, ae.Status)
			require.Equal(t, "invalid_request_error", ae.Type)
			require.Equal(t, tc.param, ae.Param)
		})
	}
}

func TestDecodeGenerateKeepsFieldsVerbatim(t *testing.T) {
	req, err := decodeGenerate([]byte(`{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":true},"user":"u1","x":{"deep":[1,2]}}`), llm.ChatCompletions)
	require.NoError(t, err)
	require.True(t, req.Stream)
	require.True(t, req.IncludeUsage)
	require.Equal(t, "u1", req.User)
	require.JSONEq(t, `{"deep":[1,2]}`, string(req.Fields["x"]))
}

func TestDecodeEmbed(t *testing.T) {
	cases := []struct {
		name  string
		body  string
		param string
		n     int
	}{
		{"string", `{"model":"e","input":"hello"}`, "-", 1},
		{"list", `{"model":"e","input":["a","b","c"],"encoding_format":"base64","dimensions":8}`, "-", 3},
		{"missing input", `{"model":"e"}`, "input", 0},
		{"empty string", `{"model":"e","input":""}`, "input", 0},
		{"empty list", `{"model":"e","input":[]}`, "input", 0},
		{"empty element", `{"model":"e","input":["a",""]}`, "input[1]", 0},
		{"tokens", `{"model":"e","input":[1,2,3]}`, "input", 0},
		{"token lists", `{"model":"e","input":[[1,2],[3]]}`, "input", 0},
		{"wrong type", `{"model":"e","input":{"a":1}}`, "input", 0},
		{"bad format", `{"model":"e","input":"a","encoding_format":"hex"}`, "encoding_format", 0},
		{"bad dimensions", `{"model":"e","input":"a","dimensions":-1}`, "dimensions", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := decodeEmbed([]byte(tc.body))
			if tc.param == "-" {
				require.NoError(t, err)
				require.Len(t, req.Input, tc.n)
				return
			}
			require.Error(t, err)
			require.Equal(t, tc.param, toAPIError(err).Param)
		})
	}
}

func FuzzDecodeGenerate(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":"m","prompt":["a"],"n":3,"stop":"x"}`,
		`{"model":"m","messages":[{"role":"tool","content":null,"tool_call_id":"c"}],"temperature":1e400}`,
		`nul`, `{}`, `{"model":null}`,
	} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, chat bool) {
		ep := llm.Completions
		if chat {
			ep = llm.ChatCompletions
		}
		req, err := decodeGenerate(body, ep)
		if err != nil {
			ae := toAPIError(err)
			require.Equal(t, http.StatusBadRequest, ae.Status)
			require.NotEmpty(t, ae.Message)
			return
		}
		require.NotEmpty(t, req.Model)
		require.NotNil(t, req.Fields)
	})
}

func FuzzDecodeEmbed(f *testing.F) {
	for _, s := range []string{`{"model":"e","input":"a"}`, `{"model":"e","input":["a","b"],"dimensions":3}`, `{"model":"e","input":[[1]]}`, `{"input":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeEmbed(body)
		if err != nil {
			require.Equal(t, http.StatusBadRequest, toAPIError(err).Status)
			return
		}
		require.NotEmpty(t, req.Input)
		for _, in := range req.Input {
			require.NotEmpty(t, in)
		}
	})
}
