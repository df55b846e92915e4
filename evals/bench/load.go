package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// chatBody is the small request every phase sends. The model name is the
// gateway's route, which the fake upstream answers all the same.
func chatBody(model string, stream bool) []byte {
	b := []byte(`{"model":"` + model + `","messages":[{"role":"system","content":"You are terse."},` +
		`{"role":"user","content":"Say hello to the benchmark in a few words, request ` + string(seqMark) + `."}],"max_tokens":32`)
	if stream {
		b = append(b, `,"stream":true,"stream_options":{"include_usage":true}`...)
	}
	return append(b, '}')
}

// newTransport returns a keep-alive transport for loopback load: enough idle
// connections for every worker, no compression, no proxy.
func newTransport(concurrency int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: max(64, 2*concurrency),
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		WriteBufferSize:     16 << 10,
		ReadBufferSize:      16 << 10,
	}
}

// endpoint sends one fixed request over and over to one URL.
type endpoint struct {
	name string
	rt   http.RoundTripper
	// base is copied for each request; only its Body differs.
	base *http.Request
	body []byte
	// seqAt, when not -1, is the offset in body of a field of seqDigits
	// hex digits that each request overwrites with a number of its own,
	// so that no two prompts are alike (see freshPrompts).
	seqAt int
	seq   atomic.Uint64
}

// seqDigits is the width of an endpoint's per-request number.
const seqDigits = 8

// seqMark is the placeholder chatBody puts in the prompt for it.
var seqMark = []byte("#" + strings.Repeat("0", seqDigits))

// freshPrompts makes e send a prompt no earlier request sent: a gateway
// that counts prompt tokens then pays for counting each one rather than
// answering from its cache.
func (e *endpoint) freshPrompts() error {
	i := bytes.Index(e.body, seqMark)
	if i < 0 {
		return fmt.Errorf("%s: the request body has no sequence field", e.name)
	}
	e.seqAt = i + 1
	return nil
}

// requestBody is the body of the next request.
func (e *endpoint) requestBody() []byte {
	if e.seqAt < 0 {
		return e.body
	}
	b := slices.Clone(e.body)
	n := e.seq.Add(1)
	for i := e.seqAt + seqDigits - 1; i >= e.seqAt; i-- {
		b[i] = "0123456789abcdef"[n&0xf]
		n >>= 4
	}
	return b
}

func newEndpoint(ctx context.Context, name string, rt http.RoundTripper, url string, body []byte) (*endpoint, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, http.NoBody)
	if err != nil {
		return nil, fmt.Errorf("new request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "*/*")
	req.ContentLength = int64(len(body))
	return &endpoint{name: name, rt: rt, base: req, body: body, seqAt: -1}, nil
}

// send starts one request. The caller reads and closes the body.
func (e *endpoint) send() (*http.Response, error) {
	r := *e.base
	r.Body = io.NopCloser(bytes.NewReader(e.requestBody()))
	resp, err := e.rt.RoundTrip(&r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		_ = resp.Body.Close()
		return nil, fmt.Errorf("%s: status %d: %s", e.name, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return resp, nil
}

// do sends one request and drains the response. overhead, when not nil,
// receives the X-Ragway-Overhead-Ms header in milliseconds (-1 if absent).
func (e *endpoint) do(overhead *float64) error {
	resp, err := e.send()
	if err != nil {
		return err
	}
	if overhead != nil {
		*overhead = -1
		if v := resp.Header.Get(HeaderOverhead); v != "" {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				*overhead = f
			}
		}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: read body: %w", e.name, err)
	}
	return nil
}

// HeaderOverhead is the gateway's own time, in milliseconds, on each
// response.
const HeaderOverhead = "X-Ragway-Overhead-Ms"

// errorBudget tells whether a phase with errs failures out of n requests
// still measured something: at most one in a thousand may fail.
func errorBudget(errs, n int64) bool { return errs*1000 <= n }

// latencyRun collects the results of sequential requests to one path.
type latencyRun struct {
	samples  []time.Duration
	overhead []time.Duration
	sent     int64
	errors   int64
	firstErr error
}

func newLatencyRun(n int, withOverhead bool) *latencyRun {
	run := &latencyRun{samples: make([]time.Duration, 0, n)}
	if withOverhead {
		run.overhead = make([]time.Duration, 0, n)
	}
	return run
}

// sequential sends n requests one after the other, recording each latency
// (and the overhead header when the run keeps it) into the preallocated
// slices. done counts completed requests for progress.
func (run *latencyRun) sequential(ctx context.Context, e *endpoint, n int, done *atomic.Int64) error {
	var oh float64
	for range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		start := time.Now()
		err := e.do(&oh)
		d := time.Since(start)
		done.Add(1)
		run.sent++
		if err != nil {
			run.errors++
			if run.firstErr == nil {
				run.firstErr = err
			}
			continue
		}
		if len(run.samples) < cap(run.samples) {
			run.samples = append(run.samples, d)
		}
		if run.overhead != nil && oh >= 0 && len(run.overhead) < cap(run.overhead) {
			run.overhead = append(run.overhead, time.Duration(oh*float64(time.Millisecond)))
		}
	}
	return nil
}

// check fails a run with too many errors.
func (run *latencyRun) check() error {
	if !errorBudget(run.errors, run.sent) {
		return fmt.Errorf("%d of %d requests failed, first: %w", run.errors, run.sent, run.firstErr)
	}
	return nil
}

// throughputRun accumulates fixed-duration concurrent runs to one path.
type throughputRun struct {
	requests int64
	errors   int64
	elapsed  time.Duration
	firstErr error
}

func (t *throughputRun) rps() float64 {
	if t.elapsed <= 0 {
		return 0
	}
	return float64(t.requests) / t.elapsed.Seconds()
}

// check fails a run with too many errors or no request at all.
func (t *throughputRun) check() error {
	if !errorBudget(t.errors, t.requests+t.errors) {
		return fmt.Errorf("%d of %d requests failed, first: %w", t.errors, t.requests+t.errors, t.firstErr)
	}
	if t.requests == 0 {
		return errors.New("no request completed")
	}
	return nil
}

// concurrent keeps c requests in flight for d and adds the completions to
// the run. done counts completed requests for progress.
func (t *throughputRun) concurrent(ctx context.Context, e *endpoint, c int, d time.Duration, done *atomic.Int64) error {
	var (
		stop     atomic.Bool
		ok, errs atomic.Int64
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	for range c {
		wg.Go(func() {
			for !stop.Load() && ctx.Err() == nil {
				if err := e.do(nil); err != nil {
					errs.Add(1)
					errOnce.Do(func() { firstErr = err })
					continue
				}
				ok.Add(1)
				done.Add(1)
			}
		})
	}
	wg.Wait()
	t.elapsed += time.Since(start)
	t.requests += ok.Load()
	t.errors += errs.Load()
	if t.firstErr == nil {
		t.firstErr = firstErr
	}
	return ctx.Err()
}
