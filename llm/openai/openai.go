// Package openai is the llm.Backend for OpenAI-compatible servers: vLLM, TGI,
// llama.cpp's server, OpenAI itself. Requests pass through with the client's
// fields intact; responses come back verbatim, parsed only for model and usage.
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/upstream"
)

var _ llm.Backend = (*Backend)(nil)

// MaxResponseSize bounds a non-streaming response body.
const MaxResponseSize = 32 << 20

// Options configures a Backend. BaseURL is the API root including the
// version prefix: http://host:8000/v1.
type Options = upstream.Options

// Backend talks to one OpenAI-compatible server.
type Backend struct {
	*upstream.Client
}

// New returns a Backend for o.BaseURL.
func New(o Options) (*Backend, error) {
	c, err := upstream.NewClient(o)
	if err != nil {
		return nil, fmt.Errorf("openai: %w", err)
	}
	return &Backend{Client: c}, nil
}

func endpointPath(e llm.Endpoint) string {
	if e == llm.Completions {
		return "/completions"
	}
	return "/chat/completions"
}

// do sends a request and returns a 2xx response; other statuses become
// *llm.UpstreamError.
func (b *Backend) do(ctx context.Context, method, path string, body []byte, accept string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.Base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header = b.RequestHeader(ctx, accept, body != nil)
	resp, err := b.HTTP.Do(req)
	if err != nil {
		return nil, upstream.TransportError(ctx, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, upstreamError(resp)
	}
	return resp, nil
}

// readBody reads a bounded response body.
func readBody(ctx context.Context, resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	body, err := upstream.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1), resp.ContentLength)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("read response: %w", ctx.Err())
		}
		return nil, fmt.Errorf("read response: %w: %w", llm.ErrBadUpstream, err)
	}
	if len(body) > MaxResponseSize {
		return nil, fmt.Errorf("response over %d bytes: %w", MaxResponseSize, llm.ErrBadUpstream)
	}
	return body, nil
}

// marshalRequest encodes req's fields with model and stream set.
func marshalRequest(req *llm.Request, stream bool) ([]byte, error) {
	model, err := json.Marshal(req.Model)
	if err != nil {
		return nil, fmt.Errorf("encode model: %w", err)
	}
	var opts json.RawMessage
	if stream {
		if opts, err = streamOptions(req.Fields["stream_options"]); err != nil {
			return nil, err
		}
	}
	// The client's fields are valid JSON already (they were decoded once):
	// write them as they are, in sorted order, rather than re-encode a map.
	keys := make([]string, 0, len(req.Fields)+2)
	size := 64 + len(model) + len(opts)
	for k, v := range req.Fields {
		switch k {
		case "model", "stream", "stream_options":
			continue
		}
		keys = append(keys, k)
		size += len(k) + len(v) + 4
	}
	slices.Sort(keys)
	buf := make([]byte, 0, size)
	buf = append(buf, `{"model":`...)
	buf = append(buf, model...)
	if stream {
		buf = append(buf, `,"stream":true,"stream_options":`...)
		buf = append(buf, opts...)
	} else {
		buf = append(buf, `,"stream":false`...)
	}
	for _, k := range keys {
		buf = append(buf, ',')
		buf = appendKey(buf, k)
		buf = append(buf, ':')
		buf = append(buf, req.Fields[k]...)
	}
	return append(buf, '}'), nil
}

// appendKey appends k as a JSON string.
func appendKey(buf []byte, k string) []byte {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			q, _ := json.Marshal(k)
			return append(buf, q...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, k...)
	return append(buf, '"')
}

// streamOptions sets include_usage in the client's stream_options, keeping
// the other fields.
func streamOptions(raw json.RawMessage) (json.RawMessage, error) {
	opts := map[string]json.RawMessage{}
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &opts); err != nil {
			return nil, llm.InvalidRequest("stream_options", "stream_options must be an object")
		}
	}
	if len(opts) == 0 {
		return json.RawMessage(`{"include_usage":true}`), nil
	}
	opts["include_usage"] = json.RawMessage("true")
	out, err := json.Marshal(opts)
	if err != nil {
		return nil, llm.InvalidRequest("stream_options", "encode stream_options: %v", err)
	}
	return out, nil
}

// summary is the part of a response the gateway accounts for.
type summary struct {
	Model string     `json:"model"`
	Usage *llm.Usage `json:"usage"`
}

// Generate runs a non-streaming chat completion or completion.
func (b *Backend) Generate(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	op := "openai " + req.Endpoint.String()
	body, err := marshalRequest(req, false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	resp, err := b.do(ctx, http.MethodPost, endpointPath(req.Endpoint), body, "application/json")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	// The body of a non-streaming answer comes at once; one that stalls
	// after its headers is cut after the stream idle timeout.
	var stalled atomic.Bool
	timer := time.AfterFunc(b.Idle, func() { stalled.Store(true); resp.Body.Close() })
	data, err := readBody(ctx, resp)
	timer.Stop()
	if err != nil {
		if stalled.Load() {
			return nil, fmt.Errorf("%s: response body stalled: %w", op, llm.ErrTimeout)
		}
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	var s summary
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: decode response: %w: %w", op, llm.ErrBadUpstream, err)
	}
	out := &llm.Response{Body: data, Model: s.Model}
	if s.Usage != nil {
		out.Usage = *s.Usage
	}
	return out, nil
}

// checkContentType rejects a 2xx response that declares a content type
// other than want.
func checkContentType(resp *http.Response, want string) error {
	ct := resp.Header.Get("Content-Type")
	if ct == "" || strings.HasPrefix(ct, want) {
		return nil
	}
	return fmt.Errorf("content type %q, want %s: %w", ct, want, llm.ErrBadUpstream)
}
