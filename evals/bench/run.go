// Package bench measures what the gateway adds to a call: it starts the
// in-tree fake upstream with zero latency and sends the same small chat
// request straight to it, through a gateway and, as a yardstick, through a
// plain reverse proxy (nginx), comparing latency at concurrency 1,
// throughput under concurrency, streaming time to first token and frame
// integrity, and the gateway's peak memory, against the project's speed
// targets.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ragway/ragway/llm/llmtest"
)

// Options sizes a run. Zero fields take the defaults.
type Options struct {
	// Requests is the number of requests per path at concurrency 1.
	Requests int `json:"requests"`
	// Warmup is the number of requests per path sent before measuring.
	Warmup int `json:"warmup"`
	// Duration is how long each path is loaded at Concurrency.
	Duration time.Duration `json:"duration_ns"`
	// Concurrency is the number of requests in flight in the throughput
	// phase.
	Concurrency int `json:"concurrency"`
	// Streams is the number of streamed requests per path.
	Streams int `json:"streams"`
	// Chunks is the number of content chunks of each streamed reply.
	Chunks int `json:"chunks"`
}

// Defaults.
var DefaultOptions = Options{Requests: 10000, Warmup: 1000, Duration: 5 * time.Second,
	Concurrency: 32, Streams: 300, Chunks: 10}

// Bounds on Options.
const (
	maxRequests    = 1_000_000
	maxDuration    = 5 * time.Minute
	maxConcurrency = 1024
	maxStreams     = 100_000
	maxChunks      = 1000
)

// WithDefaults returns o with zero fields set to DefaultOptions.
func (o Options) WithDefaults() Options {
	d := DefaultOptions
	if o.Requests == 0 {
		o.Requests = d.Requests
	}
	if o.Warmup == 0 {
		o.Warmup = d.Warmup
	}
	if o.Duration == 0 {
		o.Duration = d.Duration
	}
	if o.Concurrency == 0 {
		o.Concurrency = d.Concurrency
	}
	if o.Streams == 0 {
		o.Streams = d.Streams
	}
	if o.Chunks == 0 {
		o.Chunks = d.Chunks
	}
	return o
}

// Validate reports every field out of bounds.
func (o Options) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(o.Requests > 0 && o.Requests <= maxRequests, "requests must be 1 to %d", maxRequests)
	check(o.Warmup >= 0 && o.Warmup <= maxRequests, "warmup must be 0 to %d", maxRequests)
	check(o.Duration > 0 && o.Duration <= maxDuration, "duration must be over 0 and at most %s", maxDuration)
	check(o.Concurrency > 0 && o.Concurrency <= maxConcurrency, "concurrency must be 1 to %d", maxConcurrency)
	check(o.Streams > 0 && o.Streams <= maxStreams, "streams must be 1 to %d", maxStreams)
	check(o.Chunks > 0 && o.Chunks <= maxChunks, "chunks must be 1 to %d", maxChunks)
	return errors.Join(errs...)
}

// Runner runs one benchmark.
type Runner struct {
	Options  Options
	Launcher Launcher
	Pinning  Pinning
	// Progress receives a line (or a bar) per phase; nil is silent.
	Progress io.Writer
	// Bars draws progress bars (Progress is a terminal).
	Bars bool
	// CPUProfile, when set, adds a phase that loads a second gateway at
	// Concurrency for Duration and writes its CPU profile there.
	CPUProfile string
	// RedisAddr, when set, adds a gateway with limits in this Redis to the
	// auth and limits phase; without it that row is skipped.
	RedisAddr string
	// Reference, when set, is a plain reverse proxy measured in the main
	// phases in turns with direct and the gateway, as a yardstick.
	Reference Reference
	// ReferenceSkipped says why Reference is nil, for the report.
	ReferenceSkipped string
}

// Run measures every path and returns the evaluated report. It fails only
// when the measurement itself failed.
func (r *Runner) Run(ctx context.Context) (*Report, error) {
	o := r.Options.WithDefaults()
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("bench options: %w", err)
	}
	load := loadAverage()
	up, err := llmtest.Start("127.0.0.1:0", llmtest.WithChunks(o.Chunks), llmtest.WithRecordLimit(0))
	if err != nil {
		return nil, fmt.Errorf("start fake upstream: %w", err)
	}
	defer up.Close()
	p := progress{w: r.Progress, bars: r.Bars}
	stop := p.track("starting the gateway", 0, time.Second, nil)
	gw, err := r.Launcher.Launch(ctx, Setup{UpstreamURL: up.OpenAIURL()})
	stop()
	if err != nil {
		return nil, err
	}
	rep := &Report{Options: o, Pinning: r.Pinning, PinningText: r.Pinning.String(), GatewayProcess: gw.Describe(),
		LoadAverage: load, ReferenceSkipped: r.ReferenceSkipped}
	err = r.measureAll(ctx, o, p, up.OpenAIURL(), gw, rep)
	if err == nil {
		rep.AuthLimits, err = r.authPhase(ctx, o, p, up.OpenAIURL(), gw)
	}
	if cerr := gw.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if r.CPUProfile != "" {
		if err := r.profile(ctx, o, p, up.OpenAIURL()); err != nil {
			return nil, err
		}
	}
	rep.Evaluate()
	return rep, nil
}

// measureAll starts the reference proxy when there is one and runs the
// main phases on direct, the gateway and the reference, then stops the
// reference.
func (r *Runner) measureAll(ctx context.Context, o Options, p progress, upstreamURL string, gw Gateway, rep *Report) error {
	routes := []route{{name: "direct", baseURL: upstreamURL}, {name: "gateway", baseURL: gw.URL() + "/v1"}}
	if r.Reference == nil {
		return measure(ctx, o, p, routes, gw, rep)
	}
	u, err := url.Parse(upstreamURL)
	if err != nil {
		return fmt.Errorf("upstream url: %w", err)
	}
	name := r.Reference.Name()
	stop := p.track("starting "+name, 0, time.Second, nil)
	ref, err := r.Reference.Start(ctx, upstreamURL)
	stop()
	if err != nil {
		return fmt.Errorf("reference %s: %w", name, err)
	}
	rep.ReferenceName, rep.ReferenceProcess = name, ref.Describe()
	// The reference passes paths through, so it takes the upstream's.
	routes = append(routes, route{name: name, baseURL: ref.URL() + u.Path})
	err = measure(ctx, o, p, routes, gw, rep)
	if cerr := ref.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("reference %s: %w", name, cerr)
	}
	return err
}

// route is one path of the main phases: a name and the OpenAI base URL
// (ending in /v1) its requests go to.
type route struct {
	name, baseURL string
}

// Indexes of the paths in the main phases: direct first, then the
// gateway, then the reference proxy when there is one.
const (
	directPath = iota
	gatewayPath
	referencePath
)

// paths are the endpoints of a phase, one per route, in route order.
type paths []*endpoint

func newPaths(ctx context.Context, o Options, routes []route, stream bool) (paths, error) {
	body := chatBody(Model, stream)
	ps := make(paths, 0, len(routes))
	for _, rt := range routes {
		e, err := newEndpoint(ctx, rt.name, newTransport(o.Concurrency), rt.baseURL+"/chat/completions", body)
		if err != nil {
			ps.close()
			return nil, err
		}
		ps = append(ps, e)
	}
	return ps, nil
}

func (ps paths) close() {
	for _, e := range ps {
		closeIdle(e)
	}
}

// turns describes the interleaving: "direct, gateway and nginx in turns".
func (ps paths) turns() string {
	names := make([]string, len(ps))
	for i, e := range ps {
		names[i] = e.name
	}
	if len(names) < 2 {
		return strings.Join(names, "") + " alone"
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1] + " in turns"
}

// gatewayEndpoint sends the chat request to gw at concurrency 1, with its
// API key when it has one.
func gatewayEndpoint(ctx context.Context, o Options, name string, gw Gateway) (*endpoint, error) {
	e, err := newEndpoint(ctx, name, newTransport(o.Concurrency), gw.URL()+"/v1/chat/completions", chatBody(Model, false))
	if err != nil {
		return nil, err
	}
	if key := gw.APIKey(); key != "" {
		e.base.Header.Set("Authorization", "Bearer "+key)
	}
	return e, nil
}

func closeIdle(e *endpoint) {
	if t, ok := e.rt.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}

// Block sizes of the interleaved phases: the paths take turns so that
// background noise on the machine falls on all of them alike. A turn's
// first request finds the CPU caches filled by the other paths' processes
// (they share one CPU); with turns of 100 those cold requests were 1% of
// all, exactly the p99, so a turn is 1000 requests and they stay at 0.1%.
const (
	latencyBlock = 1000
	streamBlock  = 25
	roundTime    = time.Second
)

// measure warms every path up, then runs each phase on the paths in turns
// and fills the report's sides.
func measure(ctx context.Context, o Options, p progress, routes []route, gw Gateway, rep *Report) error {
	chat, err := newPaths(ctx, o, routes, false)
	if err != nil {
		return err
	}
	defer chat.close()
	stream, err := newPaths(ctx, o, routes, true)
	if err != nil {
		return err
	}
	defer stream.close()
	if err := warmUp(ctx, o, p, chat, stream); err != nil {
		return err
	}
	lat, err := latencyPhase(ctx, o, p, chat)
	if err != nil {
		return err
	}
	tp, err := throughputPhase(ctx, o, p, chat)
	if err != nil {
		return err
	}
	st, first, err := streamPhase(ctx, o, p, stream)
	if err != nil {
		return err
	}
	sides := make([]Side, len(routes))
	for i := range sides {
		s := &sides[i]
		s.Latency = Summarize(lat[i].samples)
		s.RPS, s.Requests, s.Seconds = tp[i].rps(), tp[i].requests, tp[i].elapsed.Seconds()
		s.Errors = lat[i].errors + tp[i].errors
		s.TTFT, s.TTFTFirst, s.Frames = Summarize(st[i].ttft), Summarize(first[i].ttft), st[i].frames
		s.Frames.add(first[i].frames)
	}
	rep.Direct, rep.Gateway, rep.Reference = sides[directPath], sides[gatewayPath], nil
	if len(sides) > referencePath {
		rep.Reference = &sides[referencePath]
	}
	rep.Overhead = Summarize(lat[gatewayPath].overhead)
	if rep.FramesPerStream, err = framesPerStream(st[directPath].perStream); err != nil {
		return err
	}
	if rep.PeakRSS, err = gw.PeakRSS(); err != nil {
		return fmt.Errorf("gateway peak rss: %w", err)
	}
	return nil
}

// latencyPhase sends Requests to each path at concurrency 1, in blocks.
// The gateway's run keeps its overhead header.
func latencyPhase(ctx context.Context, o Options, p progress, chat paths) ([]*latencyRun, error) {
	lat := make([]*latencyRun, len(chat))
	for i := range lat {
		lat[i] = newLatencyRun(o.Requests, i == gatewayPath)
	}
	total := int64(len(chat)) * int64(o.Requests)
	err := phase(p, "latency c=1, "+chat.turns(), total, 0, func(done *atomic.Int64) error {
		for sent := 0; sent < o.Requests; sent += latencyBlock {
			n := min(latencyBlock, o.Requests-sent)
			for i, e := range chat {
				if err := lat[i].sequential(ctx, e, n, done); err != nil {
					return err
				}
			}
		}
		errs := make([]error, len(lat))
		for i, run := range lat {
			if err := run.check(); err != nil {
				errs[i] = fmt.Errorf("%s: %w", chat[i].name, err)
			}
		}
		return errors.Join(errs...)
	})
	return lat, err
}

// throughputPhase loads each path at Concurrency for Duration, in rounds.
func throughputPhase(ctx context.Context, o Options, p progress, chat paths) ([]*throughputRun, error) {
	tp := make([]*throughputRun, len(chat))
	for i := range tp {
		tp[i] = &throughputRun{}
	}
	rounds := max(1, int((o.Duration+roundTime-1)/roundTime))
	desc := fmt.Sprintf("throughput c=%d, %s", o.Concurrency, chat.turns())
	err := phase(p, desc, 0, time.Duration(len(chat))*o.Duration, func(done *atomic.Int64) error {
		for r := range rounds {
			d := o.Duration / time.Duration(rounds)
			if r == rounds-1 {
				d = o.Duration - d*time.Duration(rounds-1)
			}
			for i, e := range chat {
				if err := tp[i].concurrent(ctx, e, o.Concurrency, d, done); err != nil {
					return err
				}
			}
		}
		errs := make([]error, len(tp))
		for i, run := range tp {
			if err := run.check(); err != nil {
				errs[i] = fmt.Errorf("%s: %w", chat[i].name, err)
			}
		}
		return errors.Join(errs...)
	})
	return tp, err
}

// streamPhase opens Streams streams on each path, one at a time, in
// turns of streamBlock. Each turn opens with one more stream, recorded in
// first and not in st: like a latency turn's first request, it finds the
// CPU caches filled by the other paths' processes, and at 1 in 26 of all
// streams it sat in the p99 (6 of the gateway's 10 slowest in one run).
// Its frames are checked all the same.
func streamPhase(ctx context.Context, o Options, p progress, stream paths) (st, first []*streamRun, err error) {
	turns := (o.Streams + streamBlock - 1) / streamBlock
	st, first = make([]*streamRun, len(stream)), make([]*streamRun, len(stream))
	for i := range st {
		st[i], first[i] = newStreamRun(o.Streams), newStreamRun(turns)
	}
	total := int64(len(stream)) * int64(o.Streams+turns)
	err = phase(p, "streams, "+stream.turns(), total, 0, func(done *atomic.Int64) error {
		for sent := 0; sent < o.Streams; sent += streamBlock {
			n := min(streamBlock, o.Streams-sent)
			for i, e := range stream {
				if err := first[i].sequential(ctx, e, 1, done); err != nil {
					return err
				}
				if err := st[i].sequential(ctx, e, n, done); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return st, first, err
}

// warmUp sends Warmup requests and a few streams on each path, then loads
// each briefly at full concurrency so every connection pool is filled.
func warmUp(ctx context.Context, o Options, p progress, chat, stream paths) error {
	streams := min(o.Warmup, 20)
	burst := min(o.Duration/10, 500*time.Millisecond)
	total := int64(len(chat)) * int64(o.Warmup+streams)
	return phase(p, "warm-up", total, 0, func(done *atomic.Int64) error {
		for i, e := range chat {
			run := newLatencyRun(0, false)
			if err := run.sequential(ctx, e, o.Warmup, done); err != nil {
				return err
			}
			if err := run.check(); err != nil {
				return fmt.Errorf("%s: %w", e.name, err)
			}
			if err := newStreamRun(0).sequential(ctx, stream[i], streams, done); err != nil {
				return err
			}
			var tp throughputRun
			var ignored atomic.Int64
			if err := tp.concurrent(ctx, e, o.Concurrency, burst, &ignored); err != nil {
				return err
			}
		}
		return nil
	})
}

// framesPerStream checks that the upstream sent every direct stream the
// same number of frames and returns it.
func framesPerStream(direct []int) (int, error) {
	if len(direct) == 0 {
		return 0, errors.New("no direct stream")
	}
	for _, n := range direct {
		if n != direct[0] {
			return 0, fmt.Errorf("direct streams differ in frame count (%d and %d)", direct[0], n)
		}
	}
	return direct[0], nil
}

// phase runs f with a fresh counter, showing progress.
func phase(p progress, desc string, total int64, d time.Duration, f func(done *atomic.Int64) error) error {
	var done atomic.Int64
	stop := p.track(desc, total, d, done.Load)
	err := f(&done)
	stop()
	if err != nil {
		return fmt.Errorf("%s: %w", desc, err)
	}
	return nil
}

// profile loads a fresh gateway that writes a CPU profile while it runs.
func (r *Runner) profile(ctx context.Context, o Options, p progress, upstreamURL string) error {
	gw, err := r.Launcher.Launch(ctx, Setup{UpstreamURL: upstreamURL, CPUProfile: r.CPUProfile})
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	e, err := gatewayEndpoint(ctx, o, "gateway", gw)
	if err == nil {
		err = phase(p, fmt.Sprintf("cpu profile of the gateway at c=%d", o.Concurrency), 0, o.Duration, func(done *atomic.Int64) error {
			var tp throughputRun
			if err := tp.concurrent(ctx, e, o.Concurrency, o.Duration, done); err != nil {
				return err
			}
			return tp.check()
		})
		closeIdle(e)
	}
	if cerr := gw.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	return nil
}
