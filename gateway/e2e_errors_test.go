package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm/llmtest"
)

// errorsConfig has a small body limit, a backend without retries (for 429)
// and short timeouts.
const errorsConfig = `
server: {addr: 127.0.0.1:0, shutdown_timeout: 5s, max_body_bytes: 2048}
backends:
  - name: fake
    type: openai
    url: {{FAKE}}
    timeouts: {connect: 1s, response: 300ms, stream_idle: 300ms}
    retry: {attempts: 3, initial_backoff: 1ms, max_backoff: 5ms}
    breaker: {failures: 100, open_for: 1s}
  - name: once
    type: openai
    url: {{FAKE}}
    timeouts: {connect: 1s, response: 300ms, stream_idle: 300ms}
    retry: {attempts: 1}
    breaker: {failures: 100, open_for: 1s}
  - name: fakeollama
    type: ollama
    url: {{OLLAMA}}
    timeouts: {connect: 1s, response: 300ms, stream_idle: 300ms}
    retry: {attempts: 3, initial_backoff: 1ms, max_backoff: 5ms}
    breaker: {failures: 100, open_for: 1s}
routes:
  - model: chat
    targets: [{backend: fake, model: fake-chat}]
  - model: chat-once
    targets: [{backend: once, model: fake-once}]
  - model: ollama-chat
    targets: [{backend: fakeollama, model: fake-chat}]
  - model: embed
    targets: [{backend: fake, model: fake-embed}]
`

// requireErrorResponse checks status, content type and the OpenAI error
// shape of a raw response, with param "" meaning null.
func requireErrorResponse(t *testing.T, status int, hdr http.Header, body string, wantStatus int, typ, param, code string) {
	t.Helper()
	require.Equal(t, wantStatus, status, body)
	require.Contains(t, hdr.Get("Content-Type"), "application/json")
	require.NotEmpty(t, hdr.Get(HeaderOverhead))
	e := requireOpenAIErrorJSON(t, []byte(body), typ, code)
	if param == "" {
		require.JSONEq(t, "null", string(e["param"]), body)
	} else {
		require.JSONEq(t, `"`+param+`"`, string(e["param"]), body)
	}
}

func TestE2EBadRequests(t *testing.T) {
	h := startE2E(t, errorsConfig)
	const inv = "invalid_request_error"
	cases := []struct {
		name   string
		path   string
		body   string
		status int
		param  string
		code   string
	}{
		{"malformed JSON", "/v1/chat/completions", `{"model":"chat","messages":[`, 400, "", ""},
		{"not an object", "/v1/chat/completions", `[{"model":"chat"}]`, 400, "", ""},
		{"trailing data", "/v1/chat/completions", chatBody("chat", "hi") + `{}`, 400, "", ""},
		{"empty body", "/v1/chat/completions", ``, 400, "", ""},
		{"model not a string", "/v1/chat/completions", `{"model":42,"messages":[{"role":"user","content":"hi"}]}`, 400, "model", ""},
		{"messages not an array", "/v1/chat/completions", `{"model":"chat","messages":"hi"}`, 400, "messages", ""},
		{"temperature not a number", "/v1/chat/completions", chatBody("chat", "hi", `"temperature":"hot"`), 400, "temperature", ""},
		{"temperature out of range", "/v1/chat/completions", chatBody("chat", "hi", `"temperature":3`), 400, "temperature", ""},
		{"n not an integer", "/v1/chat/completions", chatBody("chat", "hi", `"n":1.5`), 400, "n", ""},
		{"stream not a boolean", "/v1/chat/completions", chatBody("chat", "hi", `"stream":"yes"`), 400, "stream", ""},
		{"stream_options without stream", "/v1/chat/completions", chatBody("chat", "hi", `"stream_options":{"include_usage":true}`), 400, "stream_options", ""},
		{"missing model", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`, 400, "model", ""},
		{"empty model", "/v1/chat/completions", `{"model":"","messages":[{"role":"user","content":"hi"}]}`, 400, "model", ""},
		{"missing messages", "/v1/chat/completions", `{"model":"chat"}`, 400, "messages", ""},
		{"empty messages", "/v1/chat/completions", `{"model":"chat","messages":[]}`, 400, "messages", ""},
		{"message without role", "/v1/chat/completions", `{"model":"chat","messages":[{"content":"hi"}]}`, 400, "messages[0].role", ""},
		{"bad role", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"wizard","content":"hi"}]}`, 400, "messages[0].role", ""},
		{"content a number", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":7}]}`, 400, "messages[0].content", ""},
		{"unknown model", "/v1/chat/completions", chatBody("gpt-nonexistent", "hi"), 404, "model", "model_not_found"},
		{"completions missing prompt", "/v1/completions", `{"model":"chat"}`, 400, "prompt", ""},
		{"completions unknown model", "/v1/completions", `{"model":"nope","prompt":"hi"}`, 404, "model", "model_not_found"},
		{"embeddings missing input", "/v1/embeddings", `{"model":"embed"}`, 400, "input", ""},
		{"embeddings input wrong type", "/v1/embeddings", `{"model":"embed","input":{"a":1}}`, 400, "input", ""},
		{"embeddings bad encoding", "/v1/embeddings", `{"model":"embed","input":"hi","encoding_format":"hex"}`, 400, "encoding_format", ""},
		{"embeddings unknown model", "/v1/embeddings", `{"model":"nope","input":"hi"}`, 404, "model", "model_not_found"},
		{"ollama n=2", "/v1/chat/completions", chatBody("ollama-chat", "hi", `"n":2`), 400, "n", ""},
		{"ollama n=2 streaming", "/v1/chat/completions", chatBody("ollama-chat", "hi", `"n":2`, `"stream":true`), 400, "n", ""},
		{"ollama logit_bias", "/v1/chat/completions", chatBody("ollama-chat", "hi", `"logit_bias":{"50256":-100}`), 400, "logit_bias", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := h.fake.Total()
			status, hdr, body := h.post(tc.path, tc.body)
			requireErrorResponse(t, status, hdr, body, tc.status, inv, tc.param, tc.code)
			require.Equal(t, before, h.fake.Total(), "a bad request never reaches the upstream")
		})
	}
}

func TestE2ERoutingErrors(t *testing.T) {
	h := startE2E(t, errorsConfig)
	do := func(method, path string) (int, http.Header, string) {
		req, err := http.NewRequest(method, h.url+path, strings.NewReader(chatBody("chat", "hi")))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, resp.Header, string(b)
	}
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{http.MethodPost, "/v1/nothing", 404, "unknown_url"},
		{http.MethodGet, "/v2/models", 404, "unknown_url"},
		{http.MethodPost, "/v1/chat/completions/extra", 404, "unknown_url"},
		{http.MethodGet, "/v1/chat/completions", 405, "method_not_allowed"},
		{http.MethodPut, "/v1/embeddings", 405, "method_not_allowed"},
		{http.MethodDelete, "/v1/models", 405, "method_not_allowed"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			status, hdr, body := do(tc.method, tc.path)
			requireErrorResponse(t, status, hdr, body, tc.status, "invalid_request_error", "", tc.code)
		})
	}
}

func TestE2EErrorsThroughSDK(t *testing.T) {
	h := startE2E(t, errorsConfig)
	c := h.client()
	ctx := context.Background()
	asAPIError := func(t *testing.T, err error) *openai.Error {
		t.Helper()
		var apiErr *openai.Error
		require.True(t, errors.As(err, &apiErr), "error %T %v", err, err)
		return apiErr
	}
	t.Run("unknown model", func(t *testing.T) {
		_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "gpt-nonexistent",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		})
		e := asAPIError(t, err)
		require.Equal(t, http.StatusNotFound, e.StatusCode)
		require.Equal(t, "model_not_found", e.Code)
		require.Equal(t, "model", e.Param)
		require.Equal(t, "invalid_request_error", e.Type)
	})
	t.Run("unknown model streaming", func(t *testing.T) {
		stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:    "gpt-nonexistent",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		})
		defer stream.Close()
		require.False(t, stream.Next())
		e := asAPIError(t, stream.Err())
		require.Equal(t, http.StatusNotFound, e.StatusCode)
		require.Equal(t, "model_not_found", e.Code)
	})
	t.Run("missing messages", func(t *testing.T) {
		_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "chat"})
		e := asAPIError(t, err)
		require.Equal(t, http.StatusBadRequest, e.StatusCode)
		require.Equal(t, "messages", e.Param)
		require.Equal(t, "invalid_request_error", e.Type)
	})
	t.Run("ollama n=2", func(t *testing.T) {
		_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "ollama-chat",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
			N:        openai.Int(2),
		})
		e := asAPIError(t, err)
		require.Equal(t, http.StatusBadRequest, e.StatusCode)
		require.Equal(t, "n", e.Param)
		require.Contains(t, e.Message, "n")
	})
	t.Run("body too large", func(t *testing.T) {
		_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "chat",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(strings.Repeat("word ", 1000))},
		})
		e := asAPIError(t, err)
		require.Equal(t, http.StatusRequestEntityTooLarge, e.StatusCode)
		require.Equal(t, "request_too_large", e.Code)
	})
	t.Run("upstream 429", func(t *testing.T) {
		h.fake.Inject(llmtest.Fault{Kind: llmtest.FaultStatus, Status: http.StatusTooManyRequests, RetryAfter: "7", Model: "fake-once", Times: 1})
		_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "chat-once",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		})
		e := asAPIError(t, err)
		require.Equal(t, http.StatusTooManyRequests, e.StatusCode)
		require.Equal(t, "rate_limit_error", e.Type)
		require.Equal(t, "7", e.Response.Header.Get("Retry-After"))
	})
}

func TestE2EBodyLimit(t *testing.T) {
	h := startE2E(t, errorsConfig)
	big := chatBody("chat", strings.Repeat("x", 4096))
	t.Run("content length", func(t *testing.T) {
		status, hdr, body := h.post("/v1/chat/completions", big)
		requireErrorResponse(t, status, hdr, body, http.StatusRequestEntityTooLarge, "invalid_request_error", "", "request_too_large")
	})
	t.Run("chunked", func(t *testing.T) {
		// A reader of unknown length makes the client send the body chunked.
		req, err := http.NewRequest(http.MethodPost, h.url+"/v1/embeddings",
			io.MultiReader(strings.NewReader(`{"model":"embed","input":"`), strings.NewReader(strings.Repeat("y", 4096)+`"}`)))
		require.NoError(t, err)
		require.Equal(t, int64(0), req.ContentLength)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		requireErrorResponse(t, resp.StatusCode, resp.Header, string(b), http.StatusRequestEntityTooLarge, "invalid_request_error", "", "request_too_large")
	})
	t.Run("just under the limit", func(t *testing.T) {
		body := chatBody("chat", strings.Repeat("z", 1900))
		require.Less(t, len(body), 2048)
		status, _, resp := h.post("/v1/chat/completions", body)
		require.Equal(t, http.StatusOK, status, resp)
	})
	require.Zero(t, h.fake.Count("/v1/embeddings"))
}

// TestE2EUpstreamErrors checks how upstream failures before any output reach
// the client, and how many tries the gateway made.
func TestE2EUpstreamErrors(t *testing.T) {
	h := startE2E(t, errorsConfig)
	const secretDetail = "stack trace at 10.1.2.3:5432"
	for _, r := range e2eRoutes {
		for _, tc := range []struct {
			name   string
			fault  llmtest.Fault
			stream bool
			status int
			typ    string
			code   string
			tries  int
		}{
			{"500s exhaust retries", llmtest.Fault{Kind: llmtest.FaultStatus, Status: 500, Message: secretDetail}, false, 502, "api_error", "upstream_error", 3},
			{"503s exhaust retries streaming", llmtest.Fault{Kind: llmtest.FaultStatus, Status: 503, Message: secretDetail}, true, 502, "api_error", "upstream_error", 3},
			{"garbage", llmtest.Fault{Kind: llmtest.FaultGarbage}, false, 502, "api_error", "bad_upstream_response", 3},
			{"garbage streaming", llmtest.Fault{Kind: llmtest.FaultGarbage}, true, 502, "api_error", "bad_upstream_response", 3},
			{"reset before response", llmtest.Fault{Kind: llmtest.FaultReset}, false, 502, "api_error", "backend_unavailable", 3},
			{"reset before response streaming", llmtest.Fault{Kind: llmtest.FaultReset}, true, 502, "api_error", "backend_unavailable", 3},
			{"truncated body", llmtest.Fault{Kind: llmtest.FaultCloseEarly}, false, 502, "api_error", "bad_upstream_response", 3},
			{"upstream 400 passes through", llmtest.Fault{Kind: llmtest.FaultStatus, Status: 400, Message: "context too long"}, false, 400, "invalid_request_error", "", 1},
		} {
			t.Run(r.model+"/"+tc.name, func(t *testing.T) {
				f := tc.fault
				f.Path = r.path
				h.fake.Inject(f)
				defer h.fake.ClearFaults()
				before := h.fake.Count(r.path)
				var extra []string
				if tc.stream {
					extra = append(extra, `"stream":true`)
				}
				status, hdr, body := h.post("/v1/chat/completions", chatBody(r.model, "hi", extra...))
				requireErrorResponse(t, status, hdr, body, tc.status, tc.typ, "", tc.code)
				require.NotContains(t, body, secretDetail, "upstream internals stay out of the response")
				require.NotContains(t, body, "127.0.0.1")
				require.Equal(t, tc.tries, h.fake.Count(r.path)-before, "upstream tries")
				require.Equal(t, r.target, hdr.Get(HeaderTarget))
			})
		}
	}
	t.Run("429 with Retry-After", func(t *testing.T) {
		h.fake.Inject(llmtest.Fault{Kind: llmtest.FaultStatus, Status: 429, RetryAfter: "7", Model: "fake-once"})
		defer h.fake.ClearFaults()
		for _, stream := range []bool{false, true} {
			before := h.fake.ModelCount("fake-once")
			var extra []string
			if stream {
				extra = append(extra, `"stream":true`)
			}
			status, hdr, body := h.post("/v1/chat/completions", chatBody("chat-once", "hi", extra...))
			requireErrorResponse(t, status, hdr, body, http.StatusTooManyRequests, "rate_limit_error", "", "upstream_rate_limited")
			require.Equal(t, "7", hdr.Get("Retry-After"))
			require.Equal(t, 1, h.fake.ModelCount("fake-once")-before)
		}
	})
}

func TestE2EResponseTimeout(t *testing.T) {
	h := startE2E(t, errorsConfig, llmtest.WithLatency(3*time.Second))
	for _, r := range e2eRoutes {
		for _, stream := range []bool{false, true} {
			name := r.model
			var extra []string
			if stream {
				name += "/stream"
				extra = append(extra, `"stream":true`)
			}
			t.Run(name, func(t *testing.T) {
				canceled := h.fake.Canceled()
				start := time.Now()
				status, hdr, body := h.post("/v1/chat/completions", chatBody(r.model, "hi", extra...))
				requireErrorResponse(t, status, hdr, body, http.StatusGatewayTimeout, "api_error", "", "upstream_timeout")
				require.Less(t, time.Since(start), 2500*time.Millisecond, "the gateway gave up before the upstream answered")
				// Every timed-out try was abandoned upstream.
				require.Eventually(t, func() bool { return h.fake.Canceled()-canceled == 3 }, 3*time.Second, 5*time.Millisecond)
			})
		}
	}
}

const secretsConfig = `
server: {addr: 127.0.0.1:0, shutdown_timeout: 5s}
log: {level: debug}
backends:
  - name: keyed
    type: openai
    url: {{FAKE}}
    api_key_env: RAGWAY_E2E_OPENAI_KEY
    timeouts: {connect: 1s, response: 2s, stream_idle: 300ms}
    retry: {attempts: 2, initial_backoff: 1ms, max_backoff: 5ms}
    breaker: {failures: 100, open_for: 1s}
  - name: keyedollama
    type: ollama
    url: {{OLLAMA}}
    api_key_env: RAGWAY_E2E_OLLAMA_KEY
    timeouts: {connect: 1s, response: 2s, stream_idle: 300ms}
    retry: {attempts: 2, initial_backoff: 1ms, max_backoff: 5ms}
    breaker: {failures: 100, open_for: 1s}
routes:
  - model: chat
    targets: [{backend: keyed, model: fake-chat}]
  - model: ollama-chat
    targets: [{backend: keyedollama, model: fake-chat}]
  - model: embed
    targets: [{backend: keyed, model: fake-embed}]
`

// TestE2ESecretsNeverLeak sends successful and failing requests through
// backends with API keys and checks that the keys reach the upstream but
// never a client or the logs.
func TestE2ESecretsNeverLeak(t *testing.T) {
	const openAIKey = "sk-e2e-openai-Zq8vX2mN4pL7rT1w"
	const ollamaKey = "sk-e2e-ollama-Hj5kD9sF3gA6bV0c"
	fake := llmtest.NewServer()
	t.Cleanup(fake.Close)
	h := startGatewayEnv(t, fake, secretsConfig, map[string]string{
		"RAGWAY_E2E_OPENAI_KEY": openAIKey,
		"RAGWAY_E2E_OLLAMA_KEY": ollamaKey,
	})
	var bodies []string
	record := func(status int, hdr http.Header, body string) int {
		bodies = append(bodies, body)
		for k, vs := range hdr {
			bodies = append(bodies, k+": "+strings.Join(vs, ","))
		}
		return status
	}
	for _, r := range e2eRoutes {
		require.Equal(t, http.StatusOK, record(h.post("/v1/chat/completions", chatBody(r.model, "hello"))))
		require.Equal(t, http.StatusOK, record(h.post("/v1/chat/completions", chatBody(r.model, "hello", `"stream":true`))))
		rec, ok := h.fake.LastRequest(r.path)
		require.True(t, ok)
		key := openAIKey
		if r.path == "/api/chat" {
			key = ollamaKey
		}
		require.Equal(t, "Bearer "+key, rec.Header.Get("Authorization"), "the key reached the upstream")

		// Upstreams that reject the key, or fail, and quote it back.
		for _, status := range []int{400, 401, 403, 422, 500} {
			h.fake.Inject(llmtest.Fault{Kind: llmtest.FaultStatus, Status: status, Path: r.path,
				Message: "Incorrect API key provided: " + key})
			got := record(h.post("/v1/chat/completions", chatBody(r.model, "hello")))
			require.GreaterOrEqual(t, got, 400)
			got = record(h.post("/v1/chat/completions", chatBody(r.model, "hello", `"stream":true`)))
			require.GreaterOrEqual(t, got, 400)
			h.fake.ClearFaults()
		}
		h.fake.Inject(llmtest.Fault{Kind: llmtest.FaultStreamError, After: 1, Path: r.path, Message: "bad key " + key})
		require.Equal(t, http.StatusOK, record(h.post("/v1/chat/completions", chatBody(r.model, "hello", `"stream":true`))))
		h.fake.ClearFaults()
	}
	require.Equal(t, http.StatusOK, record(h.post("/v1/embeddings", `{"model":"embed","input":"hello"}`)))
	// A caller with a gateway key: it is a credential too.
	c := h.client()
	_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "chat",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")},
	})
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, record(h.post("/v1/chat/completions", chatBody("chat", "hello"),
		"Authorization", "Bearer "+h.apiKey+"x")))
	require.Equal(t, http.StatusNotFound, record(h.post("/v1/chat/completions", chatBody("nope", "hello"))))
	resp, err := http.Get(h.url + "/metrics")
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	bodies = append(bodies, string(b))

	for _, key := range []string{openAIKey, ollamaKey, h.apiKey} {
		for _, body := range bodies {
			require.NotContains(t, body, key, "a key reached a client")
		}
		require.NotContains(t, h.logs.String(), key, "a key reached the logs")
	}
	require.Contains(t, h.logs.String(), `"msg":"request"`, "access logs were written")
}
