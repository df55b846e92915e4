package bench

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"runtime"
	"syscall"
	"time"
)

// GoProxyCommand is the first argument GoProxy passes to its Exe.
const GoProxyCommand = "proxy"

// GoProxy launches the Go standard library's reverse proxy
// (net/http/httputil.ReverseProxy over a keep-alive http.Transport) as the
// reference. It parses nothing and routes nothing, so what it adds is what
// the HTTP stack and runtime under any net/http gateway cost, Ragway's
// included (gin serves through net/http). Exe must serve it when called
// with "proxy --listen ADDR --upstream URL" (RunGoProxy); ragway-bench does.
type GoProxy struct {
	// Exe is the binary that runs RunGoProxy.
	Exe string
	// Pinning pins the proxy to GatewayCPU when Pinned.
	Pinning Pinning
	// ReadyTimeout bounds the wait for /readyz (10 s when zero).
	ReadyTimeout time.Duration
	// StopTimeout bounds the wait after SIGTERM before SIGKILL (5 s when
	// zero).
	StopTimeout time.Duration
}

var _ Reference = GoProxy{}

// Name implements Reference.
func (GoProxy) Name() string { return "go-stdlib" }

// Start implements Reference.
func (g GoProxy) Start(ctx context.Context, upstreamURL string) (Proxy, error) {
	host, err := upstreamHost(g.Name(), upstreamURL)
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{GoProxyCommand, "--listen", addr, "--upstream", "http://" + host}
	p, err := startProcess("go-stdlib proxy", g.Exe, args, g.Pinning, "", syscall.SIGTERM,
		orDefault(g.StopTimeout, 5*time.Second))
	if err != nil {
		return nil, err
	}
	p.url = "http://" + addr
	if err := waitReady(ctx, p.url, orDefault(g.ReadyTimeout, 10*time.Second), p.exited); err != nil {
		_ = p.Close()
		return nil, fmt.Errorf("go-stdlib proxy not ready: %w; its output: %s", err, p.out.String())
	}
	return goProxyProcess{p}, nil
}

// goProxyProcess is a running go-stdlib proxy.
type goProxyProcess struct{ *process }

func (p goProxyProcess) Describe() string {
	// The proxy is this binary, so it runs this binary's Go.
	return "net/http/httputil.ReverseProxy (" + runtime.Version() + "), " + p.process.Describe()
}

// GoProxyHandler is the go-stdlib reference: /readyz answers 200 itself,
// every other path goes to upstream (a root URL) unchanged. It gets what
// nginx gets: upstream keep-alive for every connection a run opens, the
// request body read whole before the upstream call (nginx's
// proxy_request_buffering), and a flush after each write so SSE frames
// pass as they come.
//
// The buffering is needed, not only faithful: an HTTP/1 server consumes
// what is left of a request body once the response starts, and a
// streamed upstream body that raced it lost its connection mid-stream
// (the Transport's writer, checking the body's end, saw it closed).
func GoProxyHandler(upstream *url.URL) http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(upstream) },
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        maxConcurrency,
			MaxIdleConnsPerHost: maxConcurrency,
			IdleConnTimeout:     90 * time.Second,
		},
		FlushInterval: -1,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, r)
	})
	return mux
}

// RunGoProxy serves GoProxyHandler with args --listen ADDR and --upstream
// URL until ctx ends, then shuts down within 5 s.
func RunGoProxy(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(GoProxyCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "the `ADDR` to listen on")
	upstream := fs.String("upstream", "", "the upstream's root `URL` (http://HOST:PORT)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("proxy: unexpected argument %q", fs.Arg(0))
	}
	u, err := url.Parse(*upstream)
	if err != nil || u.Scheme != "http" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("proxy: --upstream %q: want http://HOST:PORT", *upstream)
	}
	u.Path = ""
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	srv := &http.Server{Handler: GoProxyHandler(u), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("proxy: %w", err)
	}
	return <-done
}

func (p goProxyProcess) Close() error {
	err := p.process.Close()
	println("CHILD OUT:", p.out.String())
	return err
}
