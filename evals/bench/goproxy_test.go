package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm/llmtest"
)

// goProxyChildEnv makes this test binary serve RunGoProxy when GoProxy
// starts it with "proxy ...", as ragway-bench does.
const goProxyChildEnv = "RAGWAY_BENCH_TEST_GOPROXY"

func TestMain(m *testing.M) {
	if os.Getenv(goProxyChildEnv) == "1" && len(os.Args) > 1 && os.Args[1] == GoProxyCommand {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		err := RunGoProxy(ctx, os.Args[2:], os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestGoProxyHandler sends a chat and a stream through the handler and
// checks they arrive as the upstream sent them, frame by frame.
func TestGoProxyHandler(t *testing.T) {
	up, err := llmtest.Start("127.0.0.1:0", llmtest.WithChunks(3))
	require.NoError(t, err)
	t.Cleanup(up.Close)
	u, err := url.Parse(up.OpenAIURL())
	require.NoError(t, err)
	root := &url.URL{Scheme: "http", Host: u.Host}
	srv := httptest.NewServer(GoProxyHandler(root))
	t.Cleanup(srv.Close)

	resp, err := http.Get(srv.URL + "/readyz")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	post := func(base string, stream bool) (int, string, http.Header) {
		resp, err := http.Post(base+u.Path+"/chat/completions", "application/json", bytes.NewReader(chatBody(Model, stream)))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b), resp.Header
	}
	code, body, _ := post(srv.URL, false)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `"object":"chat.completion"`)

	code, body, h := post(srv.URL, true)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "text/event-stream", strings.Split(h.Get("Content-Type"), ";")[0])
	_, direct, _ := post("http://"+u.Host, true)
	require.Equal(t, strings.Count(direct, "data: "), strings.Count(body, "data: "))
	require.True(t, strings.HasSuffix(body, "data: [DONE]\n\n"), "stream ends with [DONE]: %q", body)

	code, _, _ = post(srv.URL+"/nowhere", false)
	require.Equal(t, http.StatusNotFound, code, "paths pass through unchanged")
}

func TestRunGoProxyArgs(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		err  string
	}{
		{name: "no upstream", args: nil, err: "want http://HOST:PORT"},
		{name: "https upstream", args: []string{"--upstream", "https://127.0.0.1:1"}, err: "want http://HOST:PORT"},
		{name: "upstream with a path", args: []string{"--upstream", "http://127.0.0.1:1/v1"}, err: "want http://HOST:PORT"},
		{name: "extra argument", args: []string{"--upstream", "http://127.0.0.1:1", "more"}, err: `unexpected argument "more"`},
		{name: "unknown flag", args: []string{"--port", "1"}, err: "flag provided but not defined"},
		{name: "bad listen address", args: []string{"--upstream", "http://127.0.0.1:1", "--listen", "127.0.0.1:x"}, err: "proxy:"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := RunGoProxy(context.Background(), tt.args, &stderr)
			require.ErrorContains(t, err, tt.err)
		})
	}
}

// TestRunWithGoProxy runs a small benchmark end to end with the go-stdlib
// proxy as the reference, served by this test binary in a child process,
// and checks its side is whole, its frames intact and that it stopped
// cleanly on SIGTERM.
func TestRunWithGoProxy(t *testing.T) {
	t.Setenv(goProxyChildEnv, "1")
	tmp := privateTemp(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var progressOut bytes.Buffer
	r := smallRunner(&progressOut)
	r.Reference = GoProxy{Exe: os.Args[0]}
	rep, err := r.Run(ctx)
	require.NoError(t, err)
	requireReferenceSide(t, rep, "go-stdlib")
	require.Contains(t, rep.ReferenceProcess, "net/http/httputil.ReverseProxy (go")
	require.Contains(t, progressOut.String(), "bench: latency c=1, direct, gateway and go-stdlib in turns: 180 done")
	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	require.Contains(t, table.String(), "go-stdlib vs direct")
	requireEmptyDir(t, tmp)
	t.Log(table.String())
}

// TestGoProxyChildStreams alternates chats and streams through a go-stdlib
// proxy in a child process. Without the request body read whole first,
// one stream in a few dozen lost its upstream connection mid-stream here.
func TestGoProxyChildStreams(t *testing.T) {
	t.Setenv(goProxyChildEnv, "1")
	up, err := llmtest.Start("127.0.0.1:0", llmtest.WithChunks(3), llmtest.WithRecordLimit(0))
	require.NoError(t, err)
	t.Cleanup(up.Close)
	u, err := url.Parse(up.OpenAIURL())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := GoProxy{Exe: os.Args[0]}.Start(ctx, up.OpenAIURL())
	require.NoError(t, err)
	for i := range 400 {
		stream := i%2 == 1
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL()+u.Path+"/chat/completions",
			bytes.NewReader(chatBody(Model, stream)))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		require.NoError(t, err, "request %d (stream %v)", i, stream)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		if stream {
			require.True(t, bytes.HasSuffix(b, []byte("data: [DONE]\n\n")), "request %d ends with [DONE]", i)
		}
	}
	require.NoError(t, p.Close(), "the proxy stops cleanly on SIGTERM")
}
