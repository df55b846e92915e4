package upstream

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// inlineTransport is the round tripper of plain-http upstreams: HTTP/1.1
// over a keep-alive pool, with the request written and the response read
// on the caller's goroutine.
//
// http.Transport gives every connection a read loop and a write loop
// goroutine and hands each request and response between them and the
// caller; at concurrency 1 those hand-offs, not the work, make most of a
// proxy's tail latency. The wire format is still net/http's own
// (Request.Write, ReadResponse); only the pool and the goroutine
// arrangement are ours. https goes to the fallback transport (TLS,
// HTTP/2).
type inlineTransport struct {
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// headerTimeout bounds writing the request and reading the response
	// headers.
	headerTimeout time.Duration
	idleTimeout   time.Duration
	maxIdle       int
	fallback      http.RoundTripper

	mu   sync.Mutex
	idle map[string][]*persistConn
	// closed is set by Close: nothing is pooled after it.
	closed bool
	// dials counts connections opened, for tests.
	dials atomic.Int64
}

// persistConn is one keep-alive connection.
type persistConn struct {
	t        *inlineTransport
	key      string
	conn     net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	idleFrom time.Time

	// mu orders deadline changes between the request's goroutine and the
	// context's cancellation, so a cleared deadline never undoes one.
	mu        sync.Mutex
	cancelled bool
}

// aLongTimeAgo is a deadline in the past that unblocks reads and writes.
var aLongTimeAgo = time.Unix(1, 0)

func newInlineTransport(o Options, fallback http.RoundTripper) *inlineTransport {
	d := &net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}
	return &inlineTransport{
		dial:          d.DialContext,
		headerTimeout: o.ResponseTimeout,
		idleTimeout:   90 * time.Second,
		maxIdle:       o.MaxIdleConns,
		fallback:      fallback,
		idle:          map[string][]*persistConn{},
	}
}

// RoundTrip implements http.RoundTripper.
func (t *inlineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" {
		return t.fallback.RoundTrip(req)
	}
	ctx := req.Context()
	key := req.URL.Host
	if req.URL.Port() == "" {
		key = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	pc, err := t.conn(ctx, key)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := pc.roundTrip(ctx, req)
	if err != nil {
		pc.conn.Close()
		closeBody(req)
		return nil, err
	}
	return resp, nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// conn returns the most recently used idle connection to key, or dials.
func (t *inlineTransport) conn(ctx context.Context, key string) (*persistConn, error) {
	now := time.Now()
	t.mu.Lock()
	for list := t.idle[key]; len(list) > 0; list = t.idle[key] {
		pc := list[len(list)-1]
		list[len(list)-1] = nil
		t.idle[key] = list[:len(list)-1]
		// A connection the server closed while it sat idle is dropped
		// here, before a request is written to it.
		if now.Sub(pc.idleFrom) < t.idleTimeout && alive(pc.conn) {
			t.mu.Unlock()
			return pc, nil
		}
		pc.conn.Close()
	}
	t.mu.Unlock()
	c, err := t.dial(ctx, "tcp", key)
	if err != nil {
		return nil, err
	}
	t.dials.Add(1)
	return &persistConn{t: t, key: key, conn: c, br: bufio.NewReaderSize(c, 8<<10), bw: bufio.NewWriterSize(c, 8<<10)}, nil
}

// put returns pc to the idle pool, or closes it when the pool is full or
// closed. Connections idle past idleTimeout at the bottom of the pool are
// closed on the way.
func (t *inlineTransport) put(pc *persistConn) {
	pc.cancelled = false
	now := time.Now()
	pc.idleFrom = now
	var stale []*persistConn
	t.mu.Lock()
	list := t.idle[pc.key]
	for len(list) > 0 && now.Sub(list[0].idleFrom) >= t.idleTimeout {
		stale = append(stale, list[0])
		list[0] = nil
		list = list[1:]
	}
	pooled := !t.closed && len(list) < t.maxIdle
	if pooled {
		list = append(list, pc)
	}
	t.idle[pc.key] = list
	t.mu.Unlock()
	for _, s := range stale {
		s.conn.Close()
	}
	if !pooled {
		pc.conn.Close()
	}
}

// Close closes the idle pool and stops pooling: connections still in use
// close when their request ends. Requests sent after Close still work,
// each on a connection of its own.
func (t *inlineTransport) Close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.CloseIdleConnections()
}

// CloseIdleConnections closes the idle pool, and the fallback's.
func (t *inlineTransport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*persistConn{}
	t.mu.Unlock()
	for _, list := range idle {
		for _, pc := range list {
			pc.conn.Close()
		}
	}
	if c, ok := t.fallback.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// cancel unblocks the connection's reads and writes for good.
func (pc *persistConn) cancel() {
	pc.mu.Lock()
	pc.cancelled = true
	_ = pc.conn.SetDeadline(aLongTimeAgo)
	pc.mu.Unlock()
}

// setDeadline sets the connection's deadline unless it was cancelled.
func (pc *persistConn) setDeadline(d time.Time) {
	pc.mu.Lock()
	if !pc.cancelled {
		_ = pc.conn.SetDeadline(d)
	}
	pc.mu.Unlock()
}

// roundTrip writes req and reads the response's headers. On success the
// response's body owns the connection.
func (pc *persistConn) roundTrip(ctx context.Context, req *http.Request) (*http.Response, error) {
	if pc.t.headerTimeout > 0 {
		pc.setDeadline(time.Now().Add(pc.t.headerTimeout))
	}
	stop := context.AfterFunc(ctx, pc.cancel)
	resp, err := pc.exchange(req)
	if err != nil {
		stop()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	pc.setDeadline(time.Time{})
	if resp.Body == http.NoBody {
		pc.done(stop, resp.Close || req.Close)
		return resp, nil
	}
	resp.Body = &bodyConn{pc: pc, body: resp.Body, stop: stop, closeAfter: resp.Close || req.Close}
	return resp, nil
}

// exchange writes req and reads the final response's headers.
func (pc *persistConn) exchange(req *http.Request) (*http.Response, error) {
	err := req.Write(pc.bw)
	if err == nil {
		err = pc.bw.Flush()
	}
	if err != nil {
		return nil, err
	}
	for {
		resp, err := http.ReadResponse(pc.br, req)
		if err != nil {
			return nil, err
		}
		// Skip interim responses (100 Continue, 103 Early Hints).
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		return resp, nil
	}
}

// done ends a request on pc: the connection goes back to the pool unless
// it must close or the context fired.
func (pc *persistConn) done(stop func() bool, mustClose bool) {
	if !stop() || mustClose {
		pc.conn.Close()
		return
	}
	pc.t.put(pc)
}

// maxDrain bounds what Close reads to finish a body, and drainWait how
// long it waits for the rest.
const (
	maxDrain  = 4 << 10
	drainWait = 100 * time.Millisecond
)

// bodyConn is a response body that owns its connection: read to the end,
// the connection goes back to the pool; closed before, it is closed
// unless the rest of the body had already arrived.
type bodyConn struct {
	pc         *persistConn
	body       io.ReadCloser
	stop       func() bool
	closeAfter bool
	// state is open, then ended (read to its end) or closed.
	state atomic.Int32
	// reading is set while a Read is under way.
	reading atomic.Bool
}

// States of a bodyConn.
const (
	bodyOpen int32 = iota
	bodyEnded
	bodyClosed
)

var errBodyClosed = errors.New("read on a closed response body")

func (b *bodyConn) Read(p []byte) (int, error) {
	if b.state.Load() == bodyClosed {
		return 0, errBodyClosed
	}
	b.reading.Store(true)
	n, err := b.body.Read(p)
	b.reading.Store(false)
	if err == io.EOF && b.state.CompareAndSwap(bodyOpen, bodyEnded) {
		b.pc.done(b.stop, b.closeAfter)
	}
	return n, err
}

// Close may run beside a blocked Read (an idle timer): closing the
// connection is what unblocks it. Otherwise the body is finished off the
// caller's goroutine, so the connection can serve again: a stream is
// closed after its last event, and its terminator follows in a moment
// (servers write it when their handler returns). The rest of the body
// gets drainWait; a reader cannot be tried without waiting first, since
// a chunked body keeps the error of a read that timed out.
func (b *bodyConn) Close() error {
	if !b.state.CompareAndSwap(bodyOpen, bodyClosed) {
		return nil
	}
	if !b.stop() || b.closeAfter || b.reading.Load() {
		b.pc.conn.Close()
		return nil
	}
	go b.pc.drain(b.body, maxDrain)
	return nil
}

// drain reads the rest of a body, at most limit bytes within drainWait,
// and pools the connection if the body ended.
func (pc *persistConn) drain(body io.Reader, limit int64) {
	pc.setDeadline(time.Now().Add(drainWait))
	if _, err := io.CopyN(io.Discard, body, limit); err != io.EOF {
		pc.conn.Close()
		return
	}
	pc.setDeadline(time.Time{})
	pc.t.put(pc)
}
