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
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/upstream"
)

var _ llm.Backend = (*Backend)(nil)

// MaxResponseSize bounds a non-streaming response body and one stream line.
const MaxResponseSize = 32 << 20

// Options configures a Backend. BaseURL is the server root:
// http://host:11434.
type Options = upstream.Options

// Backend talks to one Ollama server.
type Backend struct {
	*upstream.Client
}

// New returns a Backend for o.BaseURL.
func New(o Options) (*Backend, error) {
	c, err := upstream.NewClient(o)
	if err != nil {
		return nil, fmt.Errorf("ollama: %w", err)
	}
	return &Backend{Client: c}, nil
}

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
	req, err := http.NewRequestWithContext(ctx, method, b.Base+path, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header = b.RequestHeader(ctx, "", v != nil)
	resp, err := b.HTTP.Do(req)
	if err != nil {
		return nil, upstream.TransportError(ctx, err)
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
	data, err := upstream.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1), resp.ContentLength)
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
		return &llm.UpstreamError{Status: http.StatusBadGateway, Message: upstream.Clip(e.Error)}
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode response: %w: %w", llm.ErrBadUpstream, err)
	}
	return nil
}

// statusError builds an *llm.UpstreamError from Ollama's {"error":"..."}.
func statusError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	ue := &llm.UpstreamError{Status: resp.StatusCode, RetryAfter: upstream.RetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil {
		ue.Message = upstream.Clip(e.Error)
	}
	if ue.Message == "" {
		ue.Message = http.StatusText(resp.StatusCode)
	}
	return ue
}
