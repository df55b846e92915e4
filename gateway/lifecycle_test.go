package gateway

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/gateway/config"
	"github.com/ragway/ragway/llm/llmtest"
)

// streamLines opens a streaming chat and returns a scanner over its body.
func (h *harness) openStream(model, text string) (*http.Response, *bufio.Scanner) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+"/v1/chat/completions",
		strings.NewReader(chatBody(model, text, `"stream":true`)))
	require.NoError(h.t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	require.Equal(h.t, http.StatusOK, resp.StatusCode)
	return resp, bufio.NewScanner(resp.Body)
}

// readStream reads data frames until [DONE] or the end, and reports whether
// [DONE] was seen and how many frames came before it.
func readStream(sc *bufio.Scanner) (frames int, done bool) {
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "data: [DONE]":
			return frames, true
		case strings.HasPrefix(line, "data: "):
			frames++
		}
	}
	return frames, false
}

func TestGracefulShutdownLetsStreamsFinish(t *testing.T) {
	h := startGateway(t, fakeConfig, llmtest.WithChunks(10), llmtest.WithChunkDelay(30*time.Millisecond))
	resp, sc := h.openStream("chat", "one two three")
	defer resp.Body.Close()
	require.True(t, sc.Scan()) // the stream has begun
	h.cancel()                 // SIGTERM
	// New connections are refused once the listener closed.
	require.Eventually(t, func() bool {
		_, err := net.DialTimeout("tcp", strings.TrimPrefix(h.url, "http://"), 100*time.Millisecond)
		return err != nil
	}, 5*time.Second, 5*time.Millisecond)
	frames, done := readStream(sc)
	require.True(t, done, "the in-flight stream must end with [DONE]")
	require.GreaterOrEqual(t, frames, 9)
	select {
	case err := <-h.done:
		require.NoError(t, err)
		h.done <- nil
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the stream ended")
	}
}

func TestReloadOnFileChange(t *testing.T) {
	fake := llmtest.NewServer(llmtest.WithChunks(8), llmtest.WithChunkDelay(25*time.Millisecond))
	t.Cleanup(fake.Close)
	dir := t.TempDir()
	path := filepath.Join(dir, "ragway.yaml")
	write := func(text string) {
		tmp := path + ".tmp"
		require.NoError(t, os.WriteFile(tmp, []byte(strings.ReplaceAll(text, "{{FAKE}}", fake.OpenAIURL())), 0o600))
		require.NoError(t, os.Rename(tmp, path)) // as editors and ConfigMaps do
	}
	const v1 = `
server: {addr: 127.0.0.1:0}
auth: {anonymous: {enabled: true}}
backends: [{name: fake, type: openai, url: {{FAKE}}}]
routes: [{model: old, targets: [{backend: fake, model: model-old}]}]
`
	write(v1)
	getenv := func(string) string { return "" }
	cfg, err := config.Load(path, getenv)
	require.NoError(t, err)
	cfg.DataDir = dir
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := New(ctx, cfg, Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	h := &harness{t: t, fake: fake, srv: srv, url: "http://" + l.Addr().String(), logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- srv.Serve(ctx, l) }()
	t.Cleanup(h.stop)
	srv.WatchConfig(ctx, path, getenv)
	require.Eventually(t, func() bool { return srv.ready.Load() }, 5*time.Second, 5*time.Millisecond)

	// A stream in flight across the reload finishes on the old config.
	resp, sc := h.openStream("old", "a b c")
	defer resp.Body.Close()
	require.True(t, sc.Scan())

	write(strings.ReplaceAll(v1, "model: old,", "model: new,"))
	require.Eventually(t, func() bool {
		status, _, _ := h.post("/v1/chat/completions", chatBody("new", "hi"))
		return status == http.StatusOK
	}, 5*time.Second, 20*time.Millisecond)
	status, _, _ := h.post("/v1/chat/completions", chatBody("old", "hi"))
	require.Equal(t, http.StatusNotFound, status)
	_, done := readStream(sc)
	require.True(t, done, "the stream begun before the reload must complete")

	// A bad file is rejected and the running config keeps serving.
	write("routes: [{model: broken, targets: [{backend: nowhere, model: x}]}]\nbogus_key: 1\n")
	require.Eventually(t, func() bool {
		return strings.Contains(h.metricsText(), `ragway_config_reloads_total{result="rejected"} 1`)
	}, 5*time.Second, 20*time.Millisecond)
	require.Contains(t, logs.String(), "configuration rejected")
	status, _, _ = h.post("/v1/chat/completions", chatBody("new", "still here"))
	require.Equal(t, http.StatusOK, status)

	// SIGHUP reloads too.
	require.NotContains(t, logs.String(), `"trigger":"signal"`)
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	require.Eventually(t, func() bool {
		return strings.Contains(logs.String(), `"trigger":"signal"`)
	}, 5*time.Second, 20*time.Millisecond)
}

func TestDiscoveredModelsAreServed(t *testing.T) {
	h := startGateway(t, `
server: {addr: 127.0.0.1:0}
backends: [{name: local, type: ollama, url: {{OLLAMA}}, discover: true, optional: true}]
`, llmtest.WithModels("llama3.2", "qwen2.5"))
	status, _, body := h.post("/v1/chat/completions", chatBody("llama3.2", "hello"))
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, llmtest.Reply("hello"))
	resp, err := http.Get(h.url + "/v1/models")
	require.NoError(t, err)
	defer resp.Body.Close()
	var sb strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&sb)
	for _, id := range []string{"llama3.2", "qwen2.5", config.BuiltinChatModel, config.BuiltinEmbedModel} {
		require.Contains(t, sb.String(), `"id":"`+id+`"`)
	}
}

func TestUnreachableOptionalBackendLeavesBuiltins(t *testing.T) {
	h := startGateway(t, `
server: {addr: 127.0.0.1:0}
backends: [{name: ollama, type: ollama, url: "http://127.0.0.1:1", discover: true, optional: true}]
routes: [{model: pinned, targets: [{backend: ollama, model: llama3.2}]}]
`)
	status, _, body := h.post("/v1/chat/completions", chatBody("pinned", "hello"))
	require.Equal(t, http.StatusBadGateway, status)
	require.Contains(t, body, `"code":"backend_unavailable"`)
	status, _, _ = h.post("/v1/chat/completions", chatBody(config.BuiltinChatModel, "hello"))
	require.Equal(t, http.StatusOK, status)
}
