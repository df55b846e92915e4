// Package upstream is the HTTP plumbing shared by the backends that talk to
// a server (llm/openai, llm/ollama): connection options and their defaults,
// the keep-alive transport, and the mapping of transport failures and
// Retry-After headers to the llm errors.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/ragway/ragway/llm"
)

// Options configures the connection to one server.
type Options struct {
	// BaseURL is the server's API root (for OpenAI-compatible servers it
	// includes the version prefix: http://host:8000/v1).
	BaseURL string
	// APIKey is sent as a bearer token when set.
	APIKey llm.Secret
	// Headers are added to every request.
	Headers map[string]string
	// ConnectTimeout bounds establishing a connection (default 2s).
	ConnectTimeout time.Duration
	// ResponseTimeout bounds the wait for response headers (default 120s).
	ResponseTimeout time.Duration
	// StreamIdleTimeout bounds the gap between two streamed events, and
	// the wait for a non-streaming body after its headers (default 60s).
	StreamIdleTimeout time.Duration
	// MaxIdleConns bounds idle keep-alive connections (default 256).
	MaxIdleConns int
}

// WithDefaults checks the base URL and fills zero fields.
func (o Options) WithDefaults() (Options, error) {
	u, err := url.Parse(o.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, fmt.Errorf("base url %q must be an absolute http(s) URL", o.BaseURL)
	}
	o.BaseURL = strings.TrimRight(o.BaseURL, "/")
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 2 * time.Second
	}
	if o.ResponseTimeout <= 0 {
		o.ResponseTimeout = 120 * time.Second
	}
	if o.StreamIdleTimeout <= 0 {
		o.StreamIdleTimeout = 60 * time.Second
	}
	if o.MaxIdleConns <= 0 {
		o.MaxIdleConns = 256
	}
	return o, nil
}

// Header returns the headers every request carries: the configured ones
// and, when an API key is set, Authorization.
func (o Options) Header() http.Header {
	h := make(http.Header, len(o.Headers)+1)
	for k, v := range o.Headers {
		h.Set(k, v)
	}
	if o.APIKey != "" && h.Get("Authorization") == "" {
		h.Set("Authorization", "Bearer "+o.APIKey.Reveal())
	}
	return h
}

// NewTransport returns the keep-alive transport of one server.
func NewTransport(o Options) *http.Transport {
	d := &net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           d.DialContext,
		ResponseHeaderTimeout: o.ResponseTimeout,
		MaxIdleConns:          o.MaxIdleConns,
		MaxIdleConnsPerHost:   o.MaxIdleConns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   o.ConnectTimeout + 5*time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     true,
	}
}

// TransportError maps a failed round trip to the llm sentinels: the
// caller's cancellation stays itself, timeouts are llm.ErrTimeout, and
// everything else (refused, reset, unreachable) is llm.ErrUnavailable.
func TransportError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("send request: %w", ctxErr)
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return fmt.Errorf("%w: %w", llm.ErrUnavailable, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %w", llm.ErrTimeout, err)
	}
	return fmt.Errorf("%w: %w", llm.ErrUnavailable, err)
}

// MaxMessage bounds an upstream error message kept for clients and logs.
const MaxMessage = 1024

// Clip bounds an upstream message to MaxMessage bytes of valid UTF-8.
func Clip(s string) string {
	if len(s) <= MaxMessage {
		return s
	}
	return strings.ToValidUTF8(s[:MaxMessage], "")
}

// RetryAfter parses a Retry-After header as seconds or an HTTP date; 0 when
// absent, invalid or in the past, and for a number of seconds over a day.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		if n <= 0 || n > 24*3600 {
			return 0
		}
		return time.Duration(n * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// Client is the connection to one server that a backend embeds.
type Client struct {
	// Base is the API root without a trailing slash.
	Base string
	// Header is added to every request.
	Header http.Header
	HTTP   *http.Client
	// Idle bounds the gap between two streamed events and the wait for a
	// non-streaming body after its headers.
	Idle      time.Duration
	transport *http.Transport
}

// NewClient checks o, applies its defaults and builds the keep-alive
// client.
func NewClient(o Options) (*Client, error) {
	o, err := o.WithDefaults()
	if err != nil {
		return nil, err
	}
	t := NewTransport(o)
	return &Client{Base: o.BaseURL, Header: o.Header(), HTTP: &http.Client{Transport: t}, Idle: o.StreamIdleTimeout, transport: t}, nil
}

// Close closes idle connections.
func (c *Client) Close() { c.transport.CloseIdleConnections() }

// StreamContext returns the context of a streamed request: cancelled with
// parent while the stream runs, and detachable from it, so that a stream
// that ended can still finish its body (Drain) after the caller returned.
// detach reports whether parent was still live; cancel (which detaches
// too) must be called once the stream is done with.
func StreamContext(parent context.Context) (ctx context.Context, cancel context.CancelFunc, detach func() bool) {
	ctx, stop := context.WithCancel(context.WithoutCancel(parent))
	detach = context.AfterFunc(parent, stop)
	return ctx, func() { detach(); stop() }, detach
}

// DrainWait and MaxDrain bound what Drain reads.
const (
	DrainWait = 100 * time.Millisecond
	MaxDrain  = 4 << 10
)

// Drain ends a response whose content was all read: what is left of the
// body (a chunked stream's terminator, which servers write when their
// handler returns, a moment after the last event) is read off the caller's
// goroutine, within DrainWait and MaxDrain bytes, so the connection goes
// back to the keep-alive pool instead of being closed. cancel, the
// request's, is called at the end.
func Drain(body io.ReadCloser, cancel context.CancelFunc) {
	go func() {
		t := time.AfterFunc(DrainWait, cancel)
		_, _ = io.CopyN(io.Discard, body, MaxDrain)
		t.Stop()
		_ = body.Close()
		cancel()
	}()
}

// maxPrealloc bounds what ReadAll allocates ahead of the data, so that a
// false Content-Length cannot make it reserve much memory.
const maxPrealloc = 32 << 10

// ReadAll reads r to EOF like io.ReadAll, but into a buffer sized from
// sizeHint (a Content-Length; 0 or less when unknown), up to 32 KiB: one
// allocation for a body of known length, where io.ReadAll starts at 512
// bytes and doubles, copying, through every size on the way.
func ReadAll(r io.Reader, sizeHint int64) ([]byte, error) {
	if sizeHint <= 0 {
		return io.ReadAll(r)
	}
	// One byte more, so that the read that meets EOF has room and does not
	// grow the buffer.
	b := make([]byte, 0, min(sizeHint, maxPrealloc)+1)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
	}
}

// Shared header values; never modified in place (Header.Set replaces a
// value slice and Header.Add copies one of capacity 1).
var (
	jsonValue        = []string{"application/json"}
	eventStreamValue = []string{"text/event-stream"}
)

// Propagator carries the W3C trace context and baggage of a request to the
// server it calls, so that a backend's own traces join the caller's.
var Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// RequestHeader returns the header of one request to the server: the
// configured headers (Options.Header), Content-Type: application/json when
// it has a body, Accept when accept is not empty, and the trace context of
// ctx (traceparent, tracestate, baggage) when it has one. The map is new
// and sized for its entries; the value slices are shared between requests.
func (c *Client) RequestHeader(ctx context.Context, accept string, body bool) http.Header {
	h := make(http.Header, len(c.Header)+3)
	Propagator.Inject(ctx, propagation.HeaderCarrier(h))
	for k, v := range c.Header {
		h[k] = v
	}
	if body {
		h["Content-Type"] = jsonValue
	}
	switch accept {
	case "":
	case "application/json":
		h["Accept"] = jsonValue
	case "text/event-stream":
		h["Accept"] = eventStreamValue
	default:
		h["Accept"] = []string{accept}
	}
	return h
}
