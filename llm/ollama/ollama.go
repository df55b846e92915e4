// Package ollama is the llm.Backend for Ollama's native API (/api/chat,
// /api/generate, /api/embed, /api/tags). It maps OpenAI-shaped requests to
// Ollama's and Ollama's answers back to OpenAI shapes, refusing the OpenAI
// parameters Ollama cannot honour.
//
// It uses the request and response types of github.com/ollama/ollama/api
// over its own HTTP calls rather than api.Client: the client drops read
// errors at the end of a stream (a reset or stall looks like a clean end),
// loses Retry-After, reads bodies without bound and signs requests with a key
// found through the environment.
package ollama

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ragway/ragway/llm"
)

var _ llm.Backend = (*Backend)(nil)

// MaxResponseSize bounds a non-streaming response body and one stream line.
const MaxResponseSize = 32 << 20

// Options configures a Backend.
type Options struct {
	// BaseURL is the server root: http://host:11434.
	BaseURL string
	// Headers are added to every request.
	Headers map[string]string
	// ConnectTimeout bounds establishing a connection (default 2s).
	ConnectTimeout time.Duration
	// ResponseTimeout bounds the wait for response headers (default 120s).
	ResponseTimeout time.Duration
	// StreamIdleTimeout bounds the gap between two streamed lines (default 60s).
	StreamIdleTimeout time.Duration
	// MaxIdleConns bounds idle keep-alive connections (default 256).
	MaxIdleConns int
}

// Backend talks to one Ollama server.
type Backend struct {
	base      string
	headers   http.Header
	client    *http.Client
	transport *http.Transport
	idle      time.Duration
}

// New returns a Backend for o.BaseURL.
func New(o Options) (*Backend, error) {
	u, err := url.Parse(o.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("ollama: base url %q must be an absolute http(s) URL", o.BaseURL)
	}
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
	d := &net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		DialContext:           d.DialContext,
		ResponseHeaderTimeout: o.ResponseTimeout,
		MaxIdleConns:          o.MaxIdleConns,
		MaxIdleConnsPerHost:   o.MaxIdleConns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   o.ConnectTimeout + 5*time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     true,
	}
	b := &Backend{
		base:      strings.TrimRight(o.BaseURL, "/"),
		headers:   make(http.Header, len(o.Headers)),
		client:    &http.Client{Transport: t},
		transport: t,
		idle:      o.StreamIdleTimeout,
	}
	for k, v := range o.Headers {
		b.headers.Set(k, v)
	}
	return b, nil
}

// Close closes idle connections.
func (b *Backend) Close() { b.transport.CloseIdleConnections() }

// do sends a request and returns a 2xx response; other statuses become
// *llm.UpstreamError.
func (b *Backend) do(ctx context.Context, method, path string, v any) (*http.Response, error) {
	var body io.Reader
	if v != nil {
		data, err := json.Marshal(v)
		if err != nil {
			return nil, llm.InvalidRequest("", "encode request: %v", err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	for k, v := range b.headers {
		req.Header[k] = v
	}
	if v != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, transportError(ctx, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, statusError(resp)
	}
	return resp, nil
}

// decodeBody decodes a bounded JSON response body into v; an Ollama error
// body becomes an *llm.UpstreamError.
func decodeBody(ctx context.Context, resp *http.Response, v any) error {
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("read response: %w", ctx.Err())
		}
		return fmt.Errorf("read response: %w: %w", llm.ErrBadUpstream, err)
	}
	if len(data) > MaxResponseSize {
		return fmt.Errorf("response over %d bytes: %w", MaxResponseSize, llm.ErrBadUpstream)
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil && e.Error != "" {
		return &llm.UpstreamError{Status: http.StatusBadGateway, Message: clip(e.Error)}
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode response: %w: %w", llm.ErrBadUpstream, err)
	}
	return nil
}

// transportError maps a failed round trip to the llm sentinels.
func transportError(ctx context.Context, err error) error {
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

// statusError builds an *llm.UpstreamError from Ollama's {"error":"..."}.
func statusError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	ue := &llm.UpstreamError{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil {
		ue.Message = clip(e.Error)
	}
	if ue.Message == "" {
		ue.Message = http.StatusText(resp.StatusCode)
	}
	return ue
}

func clip(s string) string {
	const maxMessage = 1024
	if len(s) <= maxMessage {
		return s
	}
	return strings.ToValidUTF8(s[:maxMessage], "")
}

// retryAfter parses Retry-After as seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
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
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
