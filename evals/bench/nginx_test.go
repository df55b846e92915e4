package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm/llmtest"
)

// NginxTestEnv, set to 1, makes the nginx tests fail rather than skip when
// nginx is not installed (deploy/dev/services.sh env sets it).
const NginxTestEnv = "RAGWAY_TEST_NGINX"

// requireNginx returns the nginx binary; without one it skips the test,
// or fails it when NginxTestEnv is 1.
func requireNginx(t *testing.T) string {
	t.Helper()
	exe, err := FindNginx("")
	if err == nil {
		return exe
	}
	if os.Getenv(NginxTestEnv) == "1" {
		t.Fatalf("%s=1 but %v", NginxTestEnv, err)
	}
	t.Skipf("skipped: %v; install it (deploy/dev/services.sh up installs nginx-light) and set %s=1 to require it",
		err, NginxTestEnv)
	return ""
}

// privateTemp points TMPDIR at a fresh directory and returns it, so a test
// can check that what it started left nothing behind.
func privateTemp(t *testing.T) string {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	return dir
}

func requireEmptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "left behind in %s", dir)
}

// childPIDs lists the processes whose parent is pid.
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	require.NoError(t, err)
	var kids []int
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // the process has gone
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(b), ')')
		fields := strings.Fields(string(b[i+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			kid, err := strconv.Atoi(strings.Fields(string(b))[0])
			require.NoError(t, err)
			kids = append(kids, kid)
		}
	}
	return kids
}

// TestNginxProxy starts nginx in front of the fake upstream, sends a chat
// request and streams through it, and checks it runs as one pinned
// process that Close stops, leaving no files.
func TestNginxProxy(t *testing.T) {
	exe := requireNginx(t)
	tmp := privateTemp(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	up, err := llmtest.Start("127.0.0.1:0", llmtest.WithChunks(3), llmtest.WithRecordLimit(0))
	require.NoError(t, err)
	defer up.Close()
	pin := PlanPinning(false)
	px, err := Nginx{Exe: exe, Pinning: pin}.Start(ctx, up.OpenAIURL())
	require.NoError(t, err)
	np, ok := px.(*nginxProcess)
	require.True(t, ok)
	defer func() { _ = px.Close() }()
	pid := np.cmd.Process.Pid

	require.DirExists(t, np.dir)
	require.Equal(t, tmp, filepath.Dir(np.dir), "nginx's files stay in its temp dir")
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	require.NoError(t, err)
	require.Equal(t, "nginx", strings.TrimSpace(string(comm)), "taskset execs nginx in place")
	require.Empty(t, childPIDs(t, pid), "nginx runs as one process")
	require.Contains(t, px.Describe(), "nginx/")
	require.Contains(t, px.Describe(), fmt.Sprintf("process %d", pid))
	if pin.Pinned {
		cpus, err := statusField(pid, "Cpus_allowed_list")
		require.NoError(t, err)
		require.Equal(t, strconv.Itoa(pin.GatewayCPU), cpus)
	} else {
		t.Logf("nginx not pinned: %s", pin.Reason)
	}

	direct := chatContent(ctx, t, up.OpenAIURL())
	require.NotEmpty(t, direct)
	require.Equal(t, direct, chatContent(ctx, t, px.URL()+"/v1"), "nginx passes the reply through")

	var done atomic.Int64
	runs := map[string]*streamRun{}
	for name, base := range map[string]string{"direct": up.OpenAIURL(), "nginx": px.URL() + "/v1"} {
		e, err := newEndpoint(ctx, name, newTransport(4), base+"/chat/completions", chatBody(Model, true))
		require.NoError(t, err)
		runs[name] = newStreamRun(5)
		require.NoError(t, runs[name].sequential(ctx, e, 5, &done))
		closeIdle(e)
	}
	// role, three content chunks, finish, usage, [DONE].
	require.Equal(t, []int{7, 7, 7, 7, 7}, runs["direct"].perStream)
	require.Equal(t, runs["direct"].perStream, runs["nginx"].perStream)
	require.Equal(t, Frames{Streams: 5, Events: 35, Payloads: 35}, runs["nginx"].frames)

	require.NoError(t, px.Close())
	require.NoError(t, px.Close(), "Close is idempotent")
	require.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "nginx has exited")
	requireEmptyDir(t, tmp)
}

// chatContent sends the bench's chat request to the OpenAI base URL and
// returns the reply's content.
func chatContent(ctx context.Context, t *testing.T, baseURL string) string {
	t.Helper()
	e, err := newEndpoint(ctx, "chat", newTransport(1), baseURL+"/chat/completions", chatBody(Model, false))
	require.NoError(t, err)
	defer closeIdle(e)
	resp, err := e.send()
	require.NoError(t, err)
	defer resp.Body.Close()
	var reply struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&reply))
	require.Len(t, reply.Choices, 1)
	return reply.Choices[0].Message.Content
}

// TestNginxStreamsUnbuffered holds a stream open upstream after its first
// frame: the client must get that frame through nginx before the upstream
// goes on, as it would not if nginx held the response back until complete.
func TestNginxStreamsUnbuffered(t *testing.T) {
	exe := requireNginx(t)
	tmp := privateTemp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"n\":1}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		fmt.Fprint(w, "data: {\"n\":2}\n\ndata: [DONE]\n\n")
	}))
	defer up.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	px, err := Nginx{Exe: exe}.Start(ctx, up.URL+"/v1")
	require.NoError(t, err)
	defer func() { require.NoError(t, px.Close()) }()

	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, px.URL()+"/v1/chat/completions", strings.NewReader("{}"))
	require.NoError(t, err)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	first, err := br.ReadString('\n')
	require.NoError(t, err, "the first frame arrives while the upstream holds the stream")
	require.Equal(t, "data: {\"n\":1}\n", first)
	close(release)
	rest, err := io.ReadAll(br)
	require.NoError(t, err)
	f, err := ScanFrames(strings.NewReader(first + string(rest)))
	require.NoError(t, err)
	require.Equal(t, Frames{Streams: 1, Events: 3, Payloads: 3}, f)
	require.NoError(t, px.Close())
	requireEmptyDir(t, tmp)
}

func TestNginxStartFails(t *testing.T) {
	tests := []struct {
		name, exe, upstream, want string
	}{
		{"not an http upstream", "/bin/false", "unix:///run/x.sock", "want an http URL"},
		{"no upstream host", "/bin/false", "http:///v1", "want an http URL"},
		{"exits before ready", "/bin/false", "http://127.0.0.1:1/v1", "nginx not ready"},
		{"not executable", "/etc/hostname", "http://127.0.0.1:1/v1", "start nginx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := privateTemp(t)
			_, err := Nginx{Exe: tt.exe, ReadyTimeout: 5 * time.Second}.Start(context.Background(), tt.upstream)
			require.ErrorContains(t, err, tt.want)
			requireEmptyDir(t, tmp)
		})
	}
}

func TestNginxConfig(t *testing.T) {
	conf := string(NginxConfig("/tmp/ragway-bench-nginx-1", "127.0.0.1:8081", "127.0.0.1:9090"))
	for _, want := range []string{
		"daemon off;", "master_process off;", "access_log off;",
		`pid "/tmp/ragway-bench-nginx-1/nginx.pid";`,
		`error_log "/tmp/ragway-bench-nginx-1/error.log" warn;`,
		`client_body_temp_path "/tmp/ragway-bench-nginx-1/client_body";`,
		`proxy_temp_path "/tmp/ragway-bench-nginx-1/proxy";`,
		"server 127.0.0.1:9090;", "keepalive 64;",
		"listen 127.0.0.1:8081;",
		"location = /readyz {\n            return 200;",
		"proxy_http_version 1.1;", `proxy_set_header Connection "";`, "proxy_buffering off;",
	} {
		require.Contains(t, conf, want)
	}
	require.NotContains(t, conf, "user ", "nginx keeps the user it runs as")
}

func TestChooseReference(t *testing.T) {
	bin := t.TempDir()
	fake := filepath.Join(bin, "nginx")
	require.NoError(t, os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755))
	missing := filepath.Join(bin, "missing")
	tests := []struct {
		name, mode, path string
		// withPath puts bin in PATH, holding fake; otherwise PATH and the
		// fallback are empty.
		withPath bool
		wantExe  string
		skipped  string
		err      error
		errText  string
	}{
		{name: "none", mode: ReferenceNone, withPath: true, skipped: "disabled by --reference none"},
		{name: "unknown mode", mode: "haproxy", err: ErrReferenceMode},
		{name: "auto finds nginx in PATH", mode: ReferenceAuto, withPath: true, wantExe: fake},
		{name: "auto without nginx", mode: ReferenceAuto, skipped: ErrNoNginx.Error()},
		{name: "auto with a path", mode: ReferenceAuto, path: fake, wantExe: fake},
		{name: "auto with a missing path fails", mode: ReferenceAuto, path: missing, errText: "nginx binary"},
		{name: "nginx finds nginx in PATH", mode: ReferenceNginx, withPath: true, wantExe: fake},
		{name: "nginx without nginx fails", mode: ReferenceNginx, err: ErrNoNginx},
		{name: "nginx with a missing path fails", mode: ReferenceNginx, path: missing, errText: "nginx binary"},
		{name: "nginx with a directory fails", mode: ReferenceNginx, path: bin, errText: "not an executable file"},
		{name: "go needs no nginx", mode: ReferenceGo, wantExe: "/bench"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			saved := nginxFallback
			t.Cleanup(func() { nginxFallback = saved })
			nginxFallback = missing
			t.Setenv("PATH", t.TempDir())
			if tt.withPath {
				t.Setenv("PATH", bin)
			}
			pin := Pinning{Pinned: true, GatewayCPU: 3}
			ref, skipped, err := ChooseReference(tt.mode, tt.path, "/bench", pin)
			switch {
			case tt.err != nil:
				require.ErrorIs(t, err, tt.err)
				return
			case tt.errText != "":
				require.ErrorContains(t, err, tt.errText)
				return
			}
			require.NoError(t, err)
			require.Contains(t, skipped, tt.skipped)
			if tt.wantExe == "" {
				require.Nil(t, ref)
				require.NotEmpty(t, skipped)
				return
			}
			require.Empty(t, skipped)
			if tt.mode == ReferenceGo {
				require.Equal(t, GoProxy{Exe: tt.wantExe, Pinning: pin}, ref)
				return
			}
			require.Equal(t, Nginx{Exe: tt.wantExe, Pinning: pin}, ref)
		})
	}
}

// TestRunWithNginx runs a small benchmark end to end with nginx as the
// reference and checks its side is whole and its frames intact.
func TestRunWithNginx(t *testing.T) {
	exe := requireNginx(t)
	tmp := privateTemp(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var progressOut bytes.Buffer
	r := smallRunner(&progressOut)
	r.Reference = Nginx{Exe: exe}
	rep, err := r.Run(ctx)
	require.NoError(t, err)
	requireReferenceSide(t, rep, "nginx")
	require.Contains(t, rep.ReferenceProcess, "nginx/")
	require.Contains(t, progressOut.String(), "bench: starting nginx...")
	require.Contains(t, progressOut.String(), "bench: latency c=1, direct, gateway and nginx in turns: 180 done")
	require.Contains(t, progressOut.String(), "bench: streams, direct, gateway and nginx in turns: 63 done")
	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	require.Contains(t, table.String(), "nginx vs direct")
	require.Contains(t, table.String(), "beside nginx, measured in the same turns")
	requireEmptyDir(t, tmp)
	t.Log(table.String())
}

// requireReferenceSide checks the reference side of a run with the
// options of TestRunWithNginx.
func requireReferenceSide(t *testing.T, rep *Report, name string) {
	t.Helper()
	require.NotNil(t, rep.Reference)
	require.Equal(t, name, rep.ReferenceName)
	s := rep.Reference
	require.Equal(t, 60, s.Latency.N)
	require.Positive(t, s.Latency.P50)
	require.Positive(t, s.RPS)
	require.Zero(t, s.Errors)
	require.Equal(t, 20, s.TTFT.N)
	require.Equal(t, 1, s.TTFTFirst.N, "one turn, opened by one stream kept out of TTFT")
	require.Positive(t, s.TTFTFirst.P50)
	require.Equal(t, Frames{Streams: 21, Events: 147, Payloads: 147}, s.Frames, "the first stream's frames count")
	require.NotNil(t, rep.ReferenceAdded)
	require.True(t, rep.ReferenceAdded.FramesIntact)
	require.Equal(t, s.Latency.P99-rep.Direct.Latency.P99, rep.ReferenceAdded.P99)
	require.NotNil(t, rep.VsReference)
	require.Empty(t, rep.VsReference.Void)
	require.InDelta(t, rep.Gateway.RPS/s.RPS, rep.VsReference.Throughput, 1e-9)
	require.Len(t, rep.Targets, 6, "the reference adds no target")
}
