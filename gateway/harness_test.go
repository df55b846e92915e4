package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ragway/ragway/gateway/config"
	"github.com/ragway/ragway/llm/llmtest"
	"github.com/ragway/ragway/policies/keys"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The HTTP client's idle connections and the OTel/HTTP internals are
		// process-wide and not owned by a test.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		// Goroutines started by package initialisers (the Milvus client's
		// worker pools) live as long as the process.
		goleak.IgnoreCurrent(),
	)
}

// harness is a gateway serving on loopback in front of a fake upstream.
type harness struct {
	t      testing.TB
	fake   *llmtest.Server
	srv    *Server
	url    string // gateway root, http://127.0.0.1:port
	logs   *syncBuffer
	apiKey string // a key of tenant "default" with role user
	cancel context.CancelFunc
	done   chan error
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fakeConfig is a config whose backend "fake" is the fake upstream's OpenAI
// API and "fakeollama" its Ollama API. {{FAKE}} and {{OLLAMA}} are replaced.
const fakeConfig = `
server: {addr: 127.0.0.1:0, allow_target_header: true, shutdown_timeout: 5s}
log: {level: info}
backends:
  - name: fake
    type: openai
    url: {{FAKE}}
    timeouts: {connect: 1s, response: 5s, stream_idle: 2s}
    retry: {attempts: 3, initial_backoff: 1ms, max_backoff: 5ms}
    breaker: {failures: 100, open_for: 1s}
  - name: fakeollama
    type: ollama
    url: {{OLLAMA}}
    timeouts: {connect: 1s, response: 5s, stream_idle: 2s}
    retry: {attempts: 2, initial_backoff: 1ms, max_backoff: 5ms}
routes:
  - model: chat
    targets: [{backend: fake, model: fake-chat}]
  - model: ollama-chat
    targets: [{backend: fakeollama, model: fake-chat}]
  - model: embed
    targets: [{backend: fake, model: fake-embed}]
  - model: ollama-embed
    targets: [{backend: fakeollama, model: fake-embed}]
`

// startGateway starts a fake upstream and a gateway configured by yamlText
// (see fakeConfig for the placeholders). Both stop at the end of the test.
func startGateway(t testing.TB, yamlText string, opts ...llmtest.Option) *harness {
	t.Helper()
	fake := llmtest.NewServer(opts...)
	t.Cleanup(fake.Close)
	return startGatewayWith(t, fake, yamlText)
}

func startGatewayWith(t testing.TB, fake *llmtest.Server, yamlText string) *harness {
	t.Helper()
	return startGatewayFull(t, fake, yamlText, nil, "")
}

// startGatewayFull starts a gateway in front of fake with env as its
// environment and dataDir as its data dir (a new temporary one when empty;
// replicas share one).
func startGatewayFull(t testing.TB, fake *llmtest.Server, yamlText string, env map[string]string, dataDir string) *harness {
	t.Helper()
	text := strings.NewReplacer("{{FAKE}}", fake.OpenAIURL(), "{{OLLAMA}}", fake.URL()).Replace(yamlText)
	cfg, err := config.Parse([]byte(text), func(k string) string { return env[k] })
	require.NoError(t, err)
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	cfg.DataDir = dataDir
	if !strings.Contains(text, "\nauth:") {
		// Tests of routing and resilience call without credentials.
		cfg.Auth.Anonymous = config.Anonymous{Enabled: true, Tenant: "default", Roles: []string{"user"}}
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(io.MultiWriter(logs, testLogWriter()), &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := New(ctx, cfg, Options{Logger: log})
	if err != nil {
		cancel()
		require.NoError(t, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	_, key, err := srv.keySvc.Create(ctx, keys.CreateRequest{Tenant: "default", Name: "sdk", Roles: []string{"user"}})
	require.NoError(t, err)
	h := &harness{t: t, fake: fake, srv: srv, url: "http://" + l.Addr().String(), logs: logs, cancel: cancel, done: make(chan error, 1),
		apiKey: key.Reveal()}
	go func() { h.done <- srv.Serve(ctx, l) }()
	require.Eventually(t, func() bool {
		resp, err := http.Get(h.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 5*time.Second, 5*time.Millisecond)
	t.Cleanup(h.stop)
	return h
}

// stop shuts the gateway down and waits for Serve to return.
func (h *harness) stop() {
	// An idle client connection that never carried a request would hold
	// the graceful shutdown for seconds.
	http.DefaultClient.CloseIdleConnections()
	h.cancel()
	select {
	case err := <-h.done:
		require.NoError(h.t, err)
		h.done <- nil // later calls return at once
	case <-time.After(10 * time.Second):
		h.t.Fatal("gateway did not shut down")
	}
	http.DefaultClient.CloseIdleConnections()
}

// client returns an official OpenAI SDK client pointed at the gateway.
func (h *harness) client(opts ...option.RequestOption) openai.Client {
	all := append([]option.RequestOption{
		option.WithBaseURL(h.url + "/v1/"),
		option.WithAPIKey(h.apiKey),
		option.WithMaxRetries(0),
		option.WithHTTPClient(&http.Client{Timeout: 20 * time.Second}),
	}, opts...)
	return openai.NewClient(all...)
}

// post sends a raw JSON body and returns status, headers and body.
func (h *harness) post(path, body string, headers ...string) (int, http.Header, string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+path, strings.NewReader(body))
	require.NoError(h.t, err)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	return resp.StatusCode, resp.Header, string(b)
}

func chatBody(model, text string, extra ...string) string {
	s := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":%q}]`, model, text)
	for _, e := range extra {
		s += "," + e
	}
	return s + "}"
}

// testLogWriter shows gateway logs with -v when RAGWAY_TEST_LOGS is set.
func testLogWriter() io.Writer {
	if os.Getenv("RAGWAY_TEST_LOGS") != "" {
		return os.Stderr
	}
	return io.Discard
}
