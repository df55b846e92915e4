package llmtest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm/llmtest"
)

func post(t *testing.T, url, body string, headers map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(data)
}

const chatBody = `{"model":"m","messages":[{"role":"user","content":"a b"}],"stream":true,"stream_options":{"include_usage":true}}`

func frames(body string) []string {
	var out []string
	for _, f := range strings.Split(body, "\n\n") {
		if f != "" {
			out = append(out, strings.TrimPrefix(f, "data: "))
		}
	}
	return out
}

func TestStreamWireFormat(t *testing.T) {
	srv := llmtest.NewServer()
	t.Cleanup(srv.Close)
	resp, body := post(t, srv.OpenAIURL()+"/chat/completions", chatBody, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	fs := frames(body)
	require.Len(t, fs, 7, "role, echo:, a, b, finish, usage, [DONE]")
	require.Equal(t, "[DONE]", fs[6])
	for _, f := range fs[:6] {
		require.True(t, json.Valid([]byte(f)), f)
	}
	require.JSONEq(t, `{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}`, choice(t, fs[0]))
	require.JSONEq(t, `{"index":0,"delta":{"content":" a"},"logprobs":null,"finish_reason":null}`, choice(t, fs[2]))
	require.JSONEq(t, `{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}`, choice(t, fs[4]))
	var usage struct {
		Choices []any          `json:"choices"`
		Usage   map[string]int `json:"usage"`
	}
	require.NoError(t, json.Unmarshal([]byte(fs[5]), &usage))
	require.NotNil(t, usage.Choices)
	require.Empty(t, usage.Choices)
	require.Equal(t, map[string]int{"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}, usage.Usage)
	require.Contains(t, fs[1], `"usage":null`)

	_, body = post(t, srv.OpenAIURL()+"/chat/completions", strings.Replace(chatBody, `"include_usage":true`, `"include_usage":false`, 1), nil)
	fs = frames(body)
	require.Len(t, fs, 6, "no usage chunk unless asked")
	require.NotContains(t, body, `"usage"`)
}

func choice(t *testing.T, frame string) string {
	t.Helper()
	var c struct {
		Choices []json.RawMessage `json:"choices"`
	}
	require.NoError(t, json.Unmarshal([]byte(frame), &c))
	require.Len(t, c.Choices, 1)
	return string(c.Choices[0])
}

func TestHeaderKnobs(t *testing.T) {
	srv := llmtest.NewServer()
	t.Cleanup(srv.Close)
	url := srv.OpenAIURL() + "/chat/completions"

	_, body := post(t, url, chatBody, map[string]string{llmtest.HeaderChunks: "10"})
	require.Len(t, frames(body), 10+4, "role, ten content chunks, finish, usage, [DONE]")

	resp, body := post(t, url, chatBody, map[string]string{llmtest.HeaderFault: "status", llmtest.HeaderStatus: "503", llmtest.HeaderRetryAfter: "7"})
	require.Equal(t, 503, resp.StatusCode)
	require.Equal(t, "7", resp.Header.Get("Retry-After"))
	require.JSONEq(t, `{"error":{"message":"The server is overloaded, please try again later","type":"server_error","param":null,"code":null}}`, body)

	_, body = post(t, url, chatBody, map[string]string{llmtest.HeaderFault: "stream-error", llmtest.HeaderAfter: "1"})
	fs := frames(body)
	require.Len(t, fs, 2)
	require.Contains(t, fs[1], `"error":{"message"`)

	_, body = post(t, url, chatBody, map[string]string{llmtest.HeaderFault: "close", llmtest.HeaderAfter: "3"})
	require.Len(t, frames(body), 3)
	require.NotContains(t, body, "[DONE]")

	resp, body = post(t, url, chatBody, map[string]string{llmtest.HeaderFault: "garbage"})
	require.Equal(t, 200, resp.StatusCode)
	require.False(t, json.Valid([]byte(body)))

	resp, _ = post(t, url, chatBody, map[string]string{llmtest.HeaderFault: "bogus"})
	require.Equal(t, 400, resp.StatusCode)

	start := time.Now()
	post(t, url, chatBody, map[string]string{llmtest.HeaderLatency: "30ms", llmtest.HeaderChunkDelay: "1ms"})
	require.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)

	require.Equal(t, 7, srv.Count("/v1/chat/completions"), "every request is counted, faulty or not")
	require.Equal(t, 6, srv.ModelCount("m"), "the one with a bad header was not decoded")
}

func TestOllamaWireFormat(t *testing.T) {
	srv := llmtest.NewServer()
	t.Cleanup(srv.Close)
	resp, body := post(t, srv.URL()+"/api/chat", `{"model":"m","messages":[{"role":"user","content":"a"}]}`, nil)
	require.Equal(t, "application/x-ndjson", resp.Header.Get("Content-Type"))
	lines := strings.Split(strings.TrimSpace(body), "\n")
	require.Len(t, lines, 3)
	require.Contains(t, lines[0], `"message":{"role":"assistant","content":"echo:"},"done":false`)
	require.Contains(t, lines[2], `"done":true,"done_reason":"stop"`)
	require.Contains(t, lines[2], `"prompt_eval_count":1,"prompt_eval_duration":200000,"eval_count":2`)

	_, body = post(t, srv.URL()+"/api/chat", `{"model":"m","messages":[{"role":"user","content":"a b c"}]}`,
		map[string]string{llmtest.HeaderFault: "stream-error", llmtest.HeaderAfter: "2"})
	lines = strings.Split(strings.TrimSpace(body), "\n")
	require.Len(t, lines, 3)
	require.JSONEq(t, `{"error":"the model crashed mid-stream"}`, lines[2])

	resp, body = post(t, srv.URL()+"/api/generate", `{"model":"m","prompt":"x"}`, map[string]string{llmtest.HeaderFault: "status", llmtest.HeaderStatus: "404"})
	require.Equal(t, 404, resp.StatusCode)
	require.JSONEq(t, `{"error":"The server had an error while processing your request"}`, body)

	resp, _ = post(t, srv.URL()+"/api/nope", `{}`, nil)
	require.Equal(t, 404, resp.StatusCode)
}

func TestRecording(t *testing.T) {
	srv := llmtest.NewServer(llmtest.WithRecordLimit(2))
	t.Cleanup(srv.Close)
	for _, m := range []string{"a", "b", "c"} {
		post(t, srv.OpenAIURL()+"/embeddings", `{"model":"`+m+`","input":"x","extra":1}`, nil)
	}
	recs := srv.Requests("/v1/embeddings")
	require.Len(t, recs, 2)
	require.Equal(t, "b", recs[0].Model)
	require.JSONEq(t, `{"model":"c","input":"x","extra":1}`, string(recs[1].Body))
	require.Equal(t, 3, srv.Count("/v1/embeddings"))
	require.Equal(t, 3, srv.Total())
	srv.ResetRecords()
	require.Zero(t, srv.Total())
	_, ok := srv.LastRequest("/v1/embeddings")
	require.False(t, ok)
}

func TestFaultFilters(t *testing.T) {
	srv := llmtest.NewServer()
	t.Cleanup(srv.Close)
	srv.Inject(llmtest.Fault{Kind: llmtest.FaultStatus, Status: 500, Model: "bad", Times: 2})
	srv.Inject(llmtest.Fault{Kind: llmtest.FaultStatus, Status: 502, Path: "/api/embed"})
	url := srv.OpenAIURL() + "/embeddings"
	statuses := []int{}
	for _, m := range []string{"good", "bad", "good", "bad", "bad"} {
		resp, _ := post(t, url, `{"model":"`+m+`","input":"x"}`, nil)
		statuses = append(statuses, resp.StatusCode)
	}
	require.Equal(t, []int{200, 500, 200, 500, 200}, statuses)
	resp, _ := post(t, srv.URL()+"/api/embed", `{"model":"good","input":"x"}`, nil)
	require.Equal(t, 502, resp.StatusCode)
	srv.ClearFaults()
	resp, _ = post(t, srv.URL()+"/api/embed", `{"model":"good","input":"x"}`, nil)
	require.Equal(t, 200, resp.StatusCode)
}

func TestBadRequests(t *testing.T) {
	srv := llmtest.NewServer()
	t.Cleanup(srv.Close)
	tests := []struct {
		path, body string
	}{
		{"/v1/chat/completions", `{`},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`},
		{"/v1/chat/completions", `{"model":"m","messages":[]}`},
		{"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}],"n":0}`},
		{"/v1/completions", `{"model":"m","prompt":5}`},
		{"/v1/embeddings", `{"model":"m","input":"x","dimensions":100000}`},
		{"/v1/embeddings", `{"model":"m","input":"x","encoding_format":"int8"}`},
		{"/api/embed", `{"model":"m"}`},
	}
	for _, tt := range tests {
		resp, body := post(t, srv.URL()+tt.path, tt.body, nil)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s %s", tt.path, tt.body)
		require.Contains(t, body, `"error"`)
	}
}

func TestServeAndCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := llmtest.New(llmtest.WithChunkDelay(time.Hour))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+ln.Addr().String()+"/v1/chat/completions", strings.NewReader(chatBody))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, line, "chat.completion.chunk")
	cancel()
	_ = resp.Body.Close()
	require.Eventually(t, func() bool { return srv.Canceled() == 1 }, 5*time.Second, 5*time.Millisecond)

	srv.Close()
	require.NoError(t, <-done)
}

func BenchmarkChat(b *testing.B) {
	srv := llmtest.NewServer(llmtest.WithRecordLimit(0))
	b.Cleanup(srv.Close)
	for _, tc := range []struct{ name, body string }{
		{"json", `{"model":"m","messages":[{"role":"user","content":"the quick brown fox jumps"}]}`},
		{"stream", `{"model":"m","messages":[{"role":"user","content":"the quick brown fox jumps"}],"stream":true}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				resp, err := http.Post(srv.OpenAIURL()+"/chat/completions", "application/json", strings.NewReader(tc.body))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
		})
	}
}
