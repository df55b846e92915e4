package openai_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/llmtest"
	"github.com/ragway/ragway/llm/openai"
)

func open(t *testing.T, srv *llmtest.Server) *openai.Backend {
	t.Helper()
	b, err := openai.New(openai.Options{
		BaseURL:           srv.OpenAIURL(),
		APIKey:            "sk-secret-key",
		ConnectTimeout:    llmtest.ConnectTimeout,
		ResponseTimeout:   llmtest.ResponseTimeout,
		StreamIdleTimeout: llmtest.StreamIdleTimeout,
	})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return b
}

func TestConformance(t *testing.T) {
	llmtest.Run(t, func(t *testing.T, srv *llmtest.Server) llm.Backend { return open(t, srv) })
}

func TestPassThrough(t *testing.T) {
	srv := llmtest.NewServer()
	t.Cleanup(srv.Close)
	b := open(t, srv)
	fields := map[string]string{
		"messages":              `[{"role":"user","content":"hi"}]`,
		"tools":                 `[{"type":"function","function":{"name":"f","parameters":{"type":"object","additionalProperties":false}}}]`,
		"tool_choice":           `"auto"`,
		"response_format":       `{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"},"strict":true}}`,
		"n":                     `2`,
		"stop":                  `["\n\n","END"]`,
		"temperature":           `0.25`,
		"top_p":                 `0.9`,
		"max_tokens":            `50`,
		"max_completion_tokens": `40`,
		"seed":                  `42`,
		"logprobs":              `true`,
		"top_logprobs":          `3`,
		"user":                  `"user-1"`,
		"x_vendor_extension":    `{"nested":[1,2,{"deep":null}]}`,
		"guided_json":           `{"type":"object"}`,
		"model":                 `"client-model"`,
	}
	req := &llm.Request{Endpoint: llm.ChatCompletions, Model: "upstream-model", Fields: map[string]json.RawMessage{}}
	for k, v := range fields {
		req.Fields[k] = json.RawMessage(v)
	}
	before := maps.Clone(req.Fields)

	_, err := b.Generate(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, before, req.Fields, "the request's fields are not modified")
	rec, ok := srv.LastRequest("/v1/chat/completions")
	require.True(t, ok)
	var got map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(rec.Body, &got))
	for k, v := range fields {
		switch k {
		case "model":
			require.JSONEq(t, `"upstream-model"`, string(got[k]))
		default:
			require.JSONEq(t, v, string(got[k]), "field %s", k)
		}
	}
	require.JSONEq(t, "false", string(got["stream"]))
	require.Equal(t, 1, srv.ModelCount("upstream-model"))
	require.Zero(t, srv.ModelCount("client-model"))
	require.Equal(t, "Bearer sk-secret-key", rec.Header.Get("Authorization"))

	req.Fields["stream_options"] = json.RawMessage(`{"include_usage":false,"continuous_usage_stats":true}`)
	s, err := b.GenerateStream(context.Background(), req)
	require.NoError(t, err)
	_, err = llmtest.Collect(t, s)
	require.ErrorIs(t, err, io.EOF)
	rec, _ = srv.LastRequest("/v1/chat/completions")
	require.NoError(t, json.Unmarshal(rec.Body, &got))
	require.JSONEq(t, "true", string(got["stream"]))
	require.JSONEq(t, `{"include_usage":true,"continuous_usage_stats":true}`, string(got["stream_options"]))
	require.JSONEq(t, fields["x_vendor_extension"], string(got["x_vendor_extension"]))
}

func TestHeadersAndNoKey(t *testing.T) {
	srv := llmtest.NewServer()
	t.Cleanup(srv.Close)
	b, err := openai.New(openai.Options{BaseURL: srv.OpenAIURL() + "/", Headers: map[string]string{"X-Team": "search"}})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	_, err = b.Models(context.Background())
	require.NoError(t, err)
	rec, ok := srv.LastRequest("/v1/models")
	require.True(t, ok)
	require.Equal(t, "search", rec.Header.Get("X-Team"))
	require.Empty(t, rec.Header.Get("Authorization"))
}

func TestNew(t *testing.T) {
	for _, u := range []string{"", "localhost:8000", "ftp://x/v1", "http://"} {
		_, err := openai.New(openai.Options{BaseURL: u})
		require.Error(t, err, u)
	}
}

func TestSecretNeverInErrors(t *testing.T) {
	const key = "sk-very-secret-value"
	srv := llmtest.NewServer()
	b, err := openai.New(openai.Options{BaseURL: srv.OpenAIURL(), APIKey: key, ResponseTimeout: time.Second})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	req := llmtest.ChatRequest(t, false, map[string]any{"messages": []any{map[string]any{"role": "user", "content": "x"}}})
	var errs []error
	srv.FailNext(1, 401)
	_, err = b.Generate(context.Background(), req)
	errs = append(errs, err)
	srv.Inject(llmtest.Fault{Kind: llmtest.FaultGarbage, Times: 1})
	_, err = b.Generate(context.Background(), req)
	errs = append(errs, err)
	srv.Close()
	_, err = b.Generate(context.Background(), req)
	errs = append(errs, err)
	for _, err := range errs {
		require.Error(t, err)
		require.NotContains(t, err.Error(), key)
		require.NotContains(t, fmt.Sprintf("%+v %#v", err, err), key)
	}
}

// rawServer answers every request with status, content type and body.
func rawServer(t *testing.T, status int, contentType, body string) *openai.Backend {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Retry-After", "Wed, 21 Oct 2099 07:28:00 GMT")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(hs.Close)
	b, err := openai.New(openai.Options{BaseURL: hs.URL + "/v1", StreamIdleTimeout: time.Second})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return b
}

func TestStreamFrames(t *testing.T) {
	const chunk = `{"id":"1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"a"}}]}`
	tests := []struct {
		name   string
		ct     string
		body   string
		chunks int
		check  func(t *testing.T, err error)
	}{
		{"done", "text/event-stream", "data: " + chunk + "\n\n: ping\n\ndata: [DONE]\n\n", 1, func(t *testing.T, err error) {
			require.ErrorIs(t, err, io.EOF)
		}},
		{"event error", "text/event-stream", "data: " + chunk + "\n\nevent: error\ndata: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n", 1,
			func(t *testing.T, err error) {
				var ue *llm.UpstreamError
				require.ErrorAs(t, err, &ue)
				require.Equal(t, "overloaded", ue.Message)
				require.Equal(t, http.StatusBadGateway, ue.Status)
			}},
		{"vllm error frame", "text/event-stream; charset=utf-8", "data: {\"object\":\"error\",\"error\":{\"message\":\"too long\",\"type\":\"BadRequestError\",\"code\":400}}\n\n", 0,
			func(t *testing.T, err error) {
				var ue *llm.UpstreamError
				require.ErrorAs(t, err, &ue)
				require.Equal(t, 400, ue.Status)
				require.Equal(t, "BadRequestError", ue.Type)
				require.Equal(t, "400", ue.Code)
			}},
		{"non-json frame", "text/event-stream", "data: hello\n\n", 0, func(t *testing.T, err error) {
			require.ErrorIs(t, err, llm.ErrBadUpstream)
		}},
		{"cut mid-event", "text/event-stream", "data: " + chunk + "\n\ndata: {\"id\"", 1, func(t *testing.T, err error) {
			require.ErrorIs(t, err, llm.ErrBadUpstream)
		}},
		{"wrong content type", "application/json", `{"id":"x"}`, 0, func(t *testing.T, err error) {
			require.ErrorIs(t, err, llm.ErrBadUpstream)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := rawServer(t, 200, tt.ct, tt.body)
			s, err := b.GenerateStream(context.Background(), llmtest.ChatRequest(t, true, nil))
			var chunks []llm.Chunk
			if err == nil {
				chunks, err = llmtest.Collect(t, s)
			}
			require.Len(t, chunks, tt.chunks)
			tt.check(t, err)
		})
	}
}

func TestErrorBodies(t *testing.T) {
	tests := []struct {
		name string
		body string
		want llm.UpstreamError
	}{
		{"openai", `{"error":{"message":"m","type":"invalid_request_error","param":"messages","code":"bad"}}`,
			llm.UpstreamError{Status: 400, Message: "m", Type: "invalid_request_error", Param: "messages", Code: "bad"}},
		{"numeric code", `{"error":{"message":"m","type":"t","param":null,"code":400}}`,
			llm.UpstreamError{Status: 400, Message: "m", Type: "t", Code: "400"}},
		{"string error", `{"error":"plain message"}`, llm.UpstreamError{Status: 400, Message: "plain message"}},
		{"top-level message", `{"object":"error","message":"vllm says","type":"BadRequestError","code":400}`,
			llm.UpstreamError{Status: 400, Message: "vllm says", Type: "BadRequestError", Code: "400"}},
		{"html", `<html>nope</html>`, llm.UpstreamError{Status: 400}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := rawServer(t, 400, "application/json", tt.body)
			_, err := b.Generate(context.Background(), llmtest.ChatRequest(t, false, nil))
			var ue *llm.UpstreamError
			require.ErrorAs(t, err, &ue)
			require.Positive(t, ue.RetryAfter, "an HTTP-date Retry-After is honoured")
			ue.RetryAfter = 0
			require.Equal(t, tt.want, *ue)
		})
	}
}

func TestEmbedValidation(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"too few", `{"data":[{"index":0,"embedding":[1]}]}`},
		{"duplicate index", `{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[1]}]}`},
		{"index out of range", `{"data":[{"index":0,"embedding":[1]},{"index":5,"embedding":[1]}]}`},
		{"empty vector", `{"data":[{"index":0,"embedding":[]},{"index":1,"embedding":[1]}]}`},
		{"bad base64", `{"data":[{"index":0,"embedding":"!!"},{"index":1,"embedding":[1]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := rawServer(t, 200, "application/json", tt.body)
			_, err := b.Embed(context.Background(), &llm.EmbedRequest{Model: "m", Input: []string{"a", "b"}})
			require.ErrorIs(t, err, llm.ErrBadUpstream)
		})
	}
	b := rawServer(t, 200, "application/json", `{"data":[{"index":1,"embedding":"AACAPw=="},{"index":0,"embedding":[2.5]}],"model":"m"}`)
	resp, err := b.Embed(context.Background(), &llm.EmbedRequest{Model: "m", Input: []string{"a", "b"}})
	require.NoError(t, err)
	require.Equal(t, [][]float32{{2.5}, {1}}, resp.Vectors, "ordered by index, base64 decoded")
}

func TestEmbedRequestShape(t *testing.T) {
	srv := llmtest.NewServer()
	t.Cleanup(srv.Close)
	b := open(t, srv)
	_, err := b.Embed(context.Background(), &llm.EmbedRequest{Model: "e", Input: []string{"x"}, Dimensions: 4, User: "u"})
	require.NoError(t, err)
	rec, ok := srv.LastRequest("/v1/embeddings")
	require.True(t, ok)
	require.JSONEq(t, `{"model":"e","input":["x"],"dimensions":4,"encoding_format":"float","user":"u"}`, string(rec.Body))
}
