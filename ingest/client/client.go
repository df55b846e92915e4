// Package client is a small HTTP client for the part of Ragway's
// OpenAI-compatible Files and Vector Stores API that ragway ingest uses:
// uploading files, finding or creating a vector store, adding files to it
// and following their indexing.
//
// It speaks plain JSON over net/http. Requests that fail with a connection
// error, 429 or a 5xx are retried with exponential backoff and jitter,
// honouring Retry-After (bounded by MaxRetryAfter); other 4xx answers are
// never retried. A request that failed on the connection may have reached
// the gateway, so a retried create can, rarely, create twice. Uploads take
// an Opener and are retried by opening the content again. Every response
// body read is bounded by MaxResponseBytes.
package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	// DefaultMaxRetries is how many times a failed request is retried
	// unless WithMaxRetries says otherwise.
	DefaultMaxRetries = 2
	// MaxResponseBytes bounds every response body the client reads.
	MaxResponseBytes = 4 << 20
	// MaxRetryAfter bounds how long a Retry-After header may make the
	// client wait before one retry.
	MaxRetryAfter = 30 * time.Second

	initialBackoff = 500 * time.Millisecond
	maxBackoff     = 8 * time.Second
	userAgent      = "ragway-ingest"
)

// Client calls a Ragway gateway. It is safe for concurrent use.
type Client struct {
	base       string // gateway root + "/v1", no trailing slash
	apiKey     string
	http       *http.Client
	maxRetries int
	// sleep waits d or until ctx ends; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// Option configures a Client.
type Option func(*Client)

// WithAPIKey sends key as "Authorization: Bearer key". An empty key sends
// no Authorization header, which is the default.
func WithAPIKey(key string) Option { return func(c *Client) { c.apiKey = key } }

// WithHTTPClient makes the client send its requests through hc instead of
// a client using http.DefaultTransport. A nil hc is ignored.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// WithMaxRetries sets how many times a failed request is retried; 0
// disables retries and a negative n is taken as 0.
func WithMaxRetries(n int) Option { return func(c *Client) { c.maxRetries = max(n, 0) } }

// New returns a client for the gateway whose root URL is baseURL, such as
// http://127.0.0.1:8080. The client adds /v1 to it.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("parse base url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("base url %q: want http:// or https:// and a host", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("base url %q: must not have a query or fragment", baseURL)
	}
	c := &Client{
		base:       strings.TrimRight(u.String(), "/") + "/v1",
		http:       &http.Client{},
		maxRetries: DefaultMaxRetries,
		sleep:      sleepCtx,
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// call is one API request, sent again on every attempt.
type call struct {
	method string
	path   string // below /v1, already escaped
	query  url.Values
	// body opens the request body for one attempt and returns it with its
	// content type; nil sends no body. It is called once per attempt.
	body func() (io.Reader, string, error)
}

// sourceFailer is a request body that can report that its source, not the
// connection, failed; such failures are not retried.
type sourceFailer interface {
	sourceErr() error
}

// do sends cl, retrying what may be retried, and decodes a 2xx JSON answer
// into out.
func (c *Client) do(ctx context.Context, cl call, out any) error {
	for attempt := 0; ; attempt++ {
		retryAfter, retry, err := c.attempt(ctx, cl, out)
		if err == nil {
			return nil
		}
		if !retry || attempt >= c.maxRetries {
			return err
		}
		if serr := c.sleep(ctx, backoff(attempt, retryAfter)); serr != nil {
			return fmt.Errorf("%w (giving up after: %w)", serr, err)
		}
	}
}

// attempt sends cl once. It reports whether a failure may be retried and
// how long the server asked the client to wait first (0 if it did not).
func (c *Client) attempt(ctx context.Context, cl call, out any) (time.Duration, bool, error) {
	var body io.Reader
	ctype := ""
	if cl.body != nil {
		var err error
		if body, ctype, err = cl.body(); err != nil {
			return 0, false, err
		}
		if bc, ok := body.(io.Closer); ok {
			// Closing stops whatever produces the body; the transport
			// closes it too, and a second close is harmless.
			defer bc.Close()
		}
	}
	u := c.base + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u, body)
	if err != nil {
		return 0, false, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if sf, ok := body.(sourceFailer); ok {
			if serr := sf.sourceErr(); serr != nil {
				return 0, false, serr
			}
		}
		if ctx.Err() != nil {
			return 0, false, fmt.Errorf("send request: %w", ctx.Err())
		}
		return 0, true, fmt.Errorf("send request: %w", err)
	}
	defer resp.Body.Close()
	return readResponse(resp, out)
}

// readResponse reads at most MaxResponseBytes of resp and decodes it into
// out, or into an *APIError if resp is not a success.
func readResponse(resp *http.Response, out any) (time.Duration, bool, error) {
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		// The connection broke while the answer was arriving.
		return 0, true, fmt.Errorf("read response: %w", err)
	}
	if len(data) > MaxResponseBytes {
		return 0, false, fmt.Errorf("read response: %w", ErrResponseTooLarge)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		ae := parseError(resp.StatusCode, data)
		retry := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
		return retryAfter(resp.Header, time.Now()), retry, ae
	}
	if err := decodeBody(data, out); err != nil {
		return 0, false, err
	}
	return 0, false, nil
}

// backoff is how long to wait before retry number attempt+1: the server's
// Retry-After if it sent one, else an exponential delay with jitter.
func backoff(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, MaxRetryAfter)
	}
	d := maxBackoff
	if attempt < 5 {
		d = min(initialBackoff<<attempt, maxBackoff)
	}
	// Up to a quarter less, so that clients retrying together spread out.
	return d - rand.N(d/4+1)
}

// retryAfter reads a Retry-After header in seconds or as an HTTP date;
// it returns 0 if there is none or it makes no sense.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, ok := parseSeconds(v); ok {
		return min(time.Duration(secs)*time.Second, MaxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), MaxRetryAfter)
	}
	return 0
}

// parseSeconds parses a short non-negative decimal integer.
func parseSeconds(v string) (int, bool) {
	if len(v) == 0 || len(v) > 6 {
		return 0, false
	}
	n := 0
	for _, r := range v {
		if r < '0' || r > '9' {
			return 0, false
		}
		n = n*10 + int(r-'0')
	}
	return n, true
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ErrResponseTooLarge is returned when a response body exceeds
// MaxResponseBytes.
var ErrResponseTooLarge = errors.New("response body too large")
