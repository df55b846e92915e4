package upstream

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ragway/ragway/llm"
)

// newInline returns an inline transport for srv with short timeouts.
func newInline(t *testing.T, o Options) *inlineTransport {
	t.Helper()
	o, err := o.WithDefaults()
	require.NoError(t, err)
	tr := newInlineTransport(o, NewTransport(o))
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func get(t *testing.T, tr http.RoundTripper, ctx context.Context, url, body string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	return tr.RoundTrip(req)
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return string(data)
}

// echo answers with the request body, upper-cased.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(strings.ToUpper(string(data))))
})

func TestInlineReusesOneConnection(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv := httptest.NewServer(echo)
	defer srv.Close()
	tr := newInline(t, Options{BaseURL: srv.URL})
	for i := range 20 {
		resp, err := get(t, tr, context.Background(), srv.URL+"/x", "hello")
		require.NoError(t, err, i)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "HELLO", readAll(t, resp))
	}
	require.EqualValues(t, 1, tr.dials.Load(), "one keep-alive connection for sequential requests")
	tr.CloseIdleConnections()
}

func TestInlineConcurrentRequests(t *testing.T) {
	srv := httptest.NewServer(echo)
	defer srv.Close()
	tr := newInline(t, Options{BaseURL: srv.URL})
	var wg sync.WaitGroup
	errs := make(chan error, 8*50)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				body := strings.Repeat("ab", g*10+i)
				resp, err := get(t, tr, context.Background(), srv.URL, body)
				if err != nil {
					errs <- err
					return
				}
				data, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(data) != strings.ToUpper(body) {
					errs <- errors.New("wrong answer: " + string(data))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.LessOrEqual(t, tr.dials.Load(), int64(8), "no more connections than requests in flight")
}

// A connection the server closed while idle is found before a request is
// written to it: the request goes on a new one without an error.
func TestInlineDropsConnectionClosedWhileIdle(t *testing.T) {
	srv := httptest.NewServer(echo)
	defer srv.Close()
	tr := newInline(t, Options{BaseURL: srv.URL})
	resp, err := get(t, tr, context.Background(), srv.URL, "a")
	require.NoError(t, err)
	require.Equal(t, "A", readAll(t, resp))
	srv.CloseClientConnections()
	require.Eventually(t, func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		for _, list := range tr.idle {
			for _, pc := range list {
				if alive(pc.conn) {
					return false
				}
			}
		}
		return true
	}, 2*time.Second, time.Millisecond, "the pooled connection sees the server's close")
	resp, err = get(t, tr, context.Background(), srv.URL, "b")
	require.NoError(t, err)
	require.Equal(t, "B", readAll(t, resp))
	require.EqualValues(t, 2, tr.dials.Load())
}

// rawServer serves keep-alive connections with the same canned response
// to every request, written at once, and returns its URL.
func rawServer(t *testing.T, response string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if _, err := io.WriteString(c, response); err != nil {
						return
					}
				}
			})
		}
	})
	return "http://" + ln.Addr().String()
}

// A stream closed after its last event, with its terminator buffered
// already, keeps its connection.
func TestInlineStreamClosedAtItsEndKeepsItsConnection(t *testing.T) {
	url := rawServer(t, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"9\r\ndata: 1\n\n\r\n"+"e\r\ndata: [DONE]\n\n\r\n"+"0\r\n\r\n")
	tr := newInline(t, Options{BaseURL: url})
	for range 3 {
		resp, err := get(t, tr, context.Background(), url, "")
		require.NoError(t, err)
		require.Equal(t, []string{"chunked"}, resp.TransferEncoding)
		// Read the first event only: the rest is buffered, unread.
		buf := make([]byte, len("data: 1\n\n"))
		_, err = io.ReadFull(resp.Body, buf)
		require.NoError(t, err)
		require.Equal(t, "data: 1\n\n", string(buf))
		require.NoError(t, resp.Body.Close())
		require.Eventually(t, func() bool { return idleConns(tr) == 1 }, 2*time.Second, time.Millisecond,
			"the drained connection is pooled")
	}
	require.EqualValues(t, 1, tr.dials.Load())
}

// A stream whose terminator comes after Close keeps its connection too.
func TestInlineStreamTerminatorAfterCloseKeepsItsConnection(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
		w.(http.Flusher).Flush()
		<-release // the terminator goes when the handler returns
	}))
	defer srv.Close()
	tr := newInline(t, Options{BaseURL: srv.URL})
	for range 3 {
		resp, err := get(t, tr, context.Background(), srv.URL, "")
		require.NoError(t, err)
		buf := make([]byte, len("data: [DONE]\n\n"))
		_, err = io.ReadFull(resp.Body, buf)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		release <- struct{}{}
		require.Eventually(t, func() bool { return idleConns(tr) == 1 }, 2*time.Second, time.Millisecond)
	}
	require.EqualValues(t, 1, tr.dials.Load())
}

// A stream whose end does not come within drainWait loses its connection.
func TestInlineStreamWithoutItsEndIsClosed(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	release := make(chan struct{})
	srv := httptest.NewServer(stalling(release))
	defer srv.Close()
	defer close(release)
	tr := newInline(t, Options{BaseURL: srv.URL})
	resp, err := get(t, tr, context.Background(), srv.URL, "")
	require.NoError(t, err)
	buf := make([]byte, 6)
	_, err = io.ReadFull(resp.Body, buf)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	time.Sleep(drainWait + 50*time.Millisecond)
	require.Zero(t, idleConns(tr))
	tr.CloseIdleConnections()
}

func idleConns(tr *inlineTransport) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for _, list := range tr.idle {
		n += len(list)
	}
	return n
}

// A body closed with most of it unread closes its connection.
func TestInlineEarlyCloseClosesTheConnection(t *testing.T) {
	big := strings.Repeat("x", 256<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, big)
	}))
	defer srv.Close()
	tr := newInline(t, Options{BaseURL: srv.URL})
	resp, err := get(t, tr, context.Background(), srv.URL, "")
	require.NoError(t, err)
	buf := make([]byte, 5)
	_, err = io.ReadFull(resp.Body, buf)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.NoError(t, resp.Body.Close(), "a second close is harmless")
	_, err = resp.Body.Read(buf)
	require.ErrorIs(t, err, errBodyClosed, "a closed body yields nothing more")
	resp, err = get(t, tr, context.Background(), srv.URL, "")
	require.NoError(t, err)
	require.Equal(t, big, readAll(t, resp))
	require.EqualValues(t, 2, tr.dials.Load())
}

func TestInlineConnectionClose(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "bye")
	}))
	defer srv.Close()
	tr := newInline(t, Options{BaseURL: srv.URL})
	for range 3 {
		resp, err := get(t, tr, context.Background(), srv.URL, "")
		require.NoError(t, err)
		require.Equal(t, "bye", readAll(t, resp))
	}
	require.EqualValues(t, 3, tr.dials.Load(), "Connection: close is honoured")
}

// stalling sends headers and a first line, then waits for release.
func stalling(release chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
}

func TestInlineCancelUnblocksABodyRead(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	release := make(chan struct{})
	srv := httptest.NewServer(stalling(release))
	defer srv.Close()
	defer close(release)
	tr := newInline(t, Options{BaseURL: srv.URL})
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := get(t, tr, ctx, srv.URL, "")
	require.NoError(t, err)
	buf := make([]byte, 6)
	_, err = io.ReadFull(resp.Body, buf)
	require.NoError(t, err)
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	_, err = resp.Body.Read(buf)
	require.Error(t, err, "a cancelled request's read fails")
	require.Less(t, time.Since(start), 2*time.Second)
	require.NoError(t, resp.Body.Close())
	tr.mu.Lock()
	require.Empty(t, tr.idle[srv.Listener.Addr().String()], "a cancelled connection is not pooled")
	tr.mu.Unlock()
	tr.CloseIdleConnections()
}

// Close beside a blocked Read (the backends' idle timers) unblocks it.
func TestInlineCloseUnblocksABodyRead(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(stalling(release))
	defer srv.Close()
	defer close(release)
	tr := newInline(t, Options{BaseURL: srv.URL})
	resp, err := get(t, tr, context.Background(), srv.URL, "")
	require.NoError(t, err)
	buf := make([]byte, 6)
	_, err = io.ReadFull(resp.Body, buf)
	require.NoError(t, err)
	time.AfterFunc(20*time.Millisecond, func() { resp.Body.Close() })
	_, err = resp.Body.Read(buf)
	require.Error(t, err)
}

func TestInlineCancelBeforeHeaders(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	tr := newInline(t, Options{BaseURL: srv.URL})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := get(t, tr, ctx, srv.URL, "x")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, TransportError(ctx, err), context.DeadlineExceeded)
}

func TestInlineResponseHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	tr := newInline(t, Options{BaseURL: srv.URL, ResponseTimeout: 50 * time.Millisecond})
	ctx := context.Background()
	_, err := get(t, tr, ctx, srv.URL, "x")
	require.Error(t, err)
	require.ErrorIs(t, TransportError(ctx, err), llm.ErrTimeout)
}

func TestInlineRefusedIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	tr := newInline(t, Options{BaseURL: "http://" + addr})
	ctx := context.Background()
	_, err = get(t, tr, ctx, "http://"+addr, "x")
	require.ErrorIs(t, TransportError(ctx, err), llm.ErrUnavailable)
}

func TestInlineSendsHTTPSToTheFallback(t *testing.T) {
	srv := httptest.NewTLSServer(echo)
	defer srv.Close()
	o, err := Options{BaseURL: srv.URL}.WithDefaults()
	require.NoError(t, err)
	tr := newInlineTransport(o, srv.Client().Transport)
	defer tr.CloseIdleConnections()
	resp, err := get(t, tr, context.Background(), srv.URL, "tls")
	require.NoError(t, err)
	require.Equal(t, "TLS", readAll(t, resp))
	require.Zero(t, tr.dials.Load())
}

func TestNewClientUsesTheInlineTransport(t *testing.T) {
	srv := httptest.NewServer(echo)
	defer srv.Close()
	c, err := NewClient(Options{BaseURL: srv.URL})
	require.NoError(t, err)
	defer c.Close()
	req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("via client"))
	require.NoError(t, err)
	resp, err := c.HTTP.Do(req)
	require.NoError(t, err)
	require.Equal(t, "VIA CLIENT", readAll(t, resp))
	require.EqualValues(t, 1, c.transport.dials.Load())
}

// After Close nothing is pooled: a request in flight closes its
// connection when it ends, and later requests still work.
func TestInlineCloseStopsPooling(t *testing.T) {
	srv := httptest.NewServer(echo)
	defer srv.Close()
	tr := newInline(t, Options{BaseURL: srv.URL})
	resp, err := get(t, tr, context.Background(), srv.URL, "a")
	require.NoError(t, err)
	tr.Close()
	require.Equal(t, "A", readAll(t, resp))
	require.Zero(t, idleConns(tr))
	resp, err = get(t, tr, context.Background(), srv.URL, "b")
	require.NoError(t, err)
	require.Equal(t, "B", readAll(t, resp))
	require.Zero(t, idleConns(tr))
	require.EqualValues(t, 2, tr.dials.Load())
}

// Connections idle past the idle timeout are not reused, and put closes
// the stale ones at the bottom of the pool.
func TestInlineIdleTimeout(t *testing.T) {
	srv := httptest.NewServer(echo)
	defer srv.Close()
	tr := newInline(t, Options{BaseURL: srv.URL})
	tr.idleTimeout = 50 * time.Millisecond
	resp, err := get(t, tr, context.Background(), srv.URL, "a")
	require.NoError(t, err)
	require.Equal(t, "A", readAll(t, resp))
	require.Equal(t, 1, idleConns(tr))
	time.Sleep(80 * time.Millisecond)
	resp, err = get(t, tr, context.Background(), srv.URL, "b")
	require.NoError(t, err)
	require.EqualValues(t, 2, tr.dials.Load(), "the stale connection was not reused")
	require.Equal(t, "B", readAll(t, resp))
	require.Equal(t, 1, idleConns(tr))

	// Two pooled, the older goes stale, the next put drops it.
	r1, err := get(t, tr, context.Background(), srv.URL, "c")
	require.NoError(t, err)
	r2, err := get(t, tr, context.Background(), srv.URL, "d")
	require.NoError(t, err)
	require.Equal(t, "C", readAll(t, r1))
	time.Sleep(80 * time.Millisecond)
	require.Equal(t, "D", readAll(t, r2))
	require.Equal(t, 1, idleConns(tr))
}
