package ollama_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/llmtest"
	"github.com/ragway/ragway/llm/ollama"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func open(t *testing.T, srv *llmtest.Server) *ollama.Backend {
	t.Helper()
	b, err := ollama.New(ollama.Options{
		BaseURL:           srv.URL(),
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

func rawBackend(t *testing.T, status int, body string) *ollama.Backend {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(hs.Close)
	b, err := ollama.New(ollama.Options{BaseURL: hs.URL, StreamIdleTimeout: time.Second})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return b
}

func TestStreamLines(t *testing.T) {
	const line = `{"model":"m","message":{"role":"assistant","content":"a"},"done":false}` + "\n"
	const done = `{"model":"m","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop"}`
	tests := []struct {
		name   string
		body   string
		chunks int
		check  func(t *testing.T, err error)
	}{
		{"clean, last line without newline", line + "\n" + done, 3, func(t *testing.T, err error) { require.ErrorIs(t, err, io.EOF) }},
		{"malformed line", line + "not json\n" + done, 1, func(t *testing.T, err error) { require.ErrorIs(t, err, llm.ErrBadUpstream) }},
		{"wrong shape", line + "[1,2]\n", 1, func(t *testing.T, err error) { require.ErrorIs(t, err, llm.ErrBadUpstream) }},
		{"error line", line + `{"error":"out of memory"}` + "\n", 1, func(t *testing.T, err error) {
			var ue *llm.UpstreamError
			require.ErrorAs(t, err, &ue)
			require.Equal(t, "out of memory", ue.Message)
			require.NotErrorIs(t, err, llm.ErrBadUpstream)
		}},
		{"no done", line + line, 2, func(t *testing.T, err error) { require.ErrorIs(t, err, llm.ErrBadUpstream) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := rawBackend(t, 200, tt.body)
			s, err := b.GenerateStream(context.Background(), llmtest.ChatRequest(t, true, map[string]any{"messages": []any{map[string]any{"role": "user", "content": "x"}}}))
			require.NoError(t, err)
			chunks, err := llmtest.Collect(t, s)
			require.Len(t, chunks, tt.chunks)
			tt.check(t, err)
		})
	}
}

func TestStatusErrors(t *testing.T) {
	b := rawBackend(t, 404, `{"error":"model \"nope\" not found, try pulling it first"}`)
	req := llmtest.ChatRequest(t, false, map[string]any{"messages": []any{map[string]any{"role": "user", "content": "x"}}})
	_, err := b.Generate(context.Background(), req)
	var ue *llm.UpstreamError
	require.ErrorAs(t, err, &ue)
	require.Equal(t, 404, ue.Status)
	require.Equal(t, `model "nope" not found, try pulling it first`, ue.Message)
	require.Equal(t, 2*time.Second, ue.RetryAfter)
	require.False(t, llm.Retryable(err))

	b = rawBackend(t, 200, `{"error":"boom"}`)
	_, err = b.Generate(context.Background(), req)
	require.ErrorAs(t, err, &ue)
	require.Equal(t, "boom", ue.Message)

	b = rawBackend(t, 200, `{"model":"e","embeddings":[[1,2]]}`)
	_, err = b.Embed(context.Background(), &llm.EmbedRequest{Model: "e", Input: []string{"a", "b"}})
	require.ErrorIs(t, err, llm.ErrBadUpstream)
}

func TestRequestReachesUpstream(t *testing.T) {
	srv := llmtest.NewServer()
	t.Cleanup(srv.Close)
	b, err := ollama.New(ollama.Options{BaseURL: srv.URL(), Headers: map[string]string{"X-Team": "a"}})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	req := llmtest.ChatRequest(t, false, map[string]any{
		"messages":    []any{map[string]any{"role": "user", "content": "hi"}},
		"temperature": 0.3, "max_tokens": 9, "stop": "x", "not_openai": true,
	})
	req.Model = "llama3:8b"
	_, err = b.Generate(context.Background(), req)
	require.NoError(t, err)
	rec, ok := srv.LastRequest("/api/chat")
	require.True(t, ok)
	require.Equal(t, "a", rec.Header.Get("X-Team"))
	require.JSONEq(t, `{"model":"llama3:8b","stream":false,"messages":[{"role":"user","content":"hi"}],
		"options":{"temperature":0.3,"num_predict":9,"stop":["x"]}}`, string(rec.Body))
	require.Equal(t, 1, srv.ModelCount("llama3:8b"))

	_, err = b.Embed(context.Background(), &llm.EmbedRequest{Model: "e", Input: []string{"a"}, Dimensions: 4})
	require.NoError(t, err)
	rec, _ = srv.LastRequest("/api/embed")
	require.JSONEq(t, `{"model":"e","input":["a"],"truncate":true,"dimensions":4,"options":null}`, string(rec.Body))
}

func TestCloseWithoutReading(t *testing.T) {
	srv := llmtest.NewServer(llmtest.WithChunkDelay(time.Hour))
	t.Cleanup(srv.Close)
	b := open(t, srv)
	for range 3 {
		s, err := b.GenerateStream(context.Background(), llmtest.ChatRequest(t, true, map[string]any{"messages": []any{map[string]any{"role": "user", "content": "x y"}}}))
		require.NoError(t, err)
		require.NoError(t, s.Close())
		require.NoError(t, s.Close())
		_, err = s.Recv()
		require.Error(t, err)
	}
	require.Eventually(t, func() bool { return srv.Canceled() == 3 }, 5*time.Second, 5*time.Millisecond)
}

func TestInvalidRequestSendsNothing(t *testing.T) {
	srv := llmtest.NewServer()
	t.Cleanup(srv.Close)
	b := open(t, srv)
	req := llmtest.ChatRequest(t, true, map[string]any{"messages": []any{map[string]any{"role": "user", "content": "x"}}, "n": 3})
	_, err := b.GenerateStream(context.Background(), req)
	var pe *llm.ParamError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "n", pe.Param)
	require.Zero(t, srv.Total())
}
