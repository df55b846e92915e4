// Package bench measures what the gateway adds to a call: it starts the
// in-tree fake upstream with zero latency and sends the same small chat
// request straight to it and through a gateway, comparing latency at
// concurrency 1, throughput under concurrency, streaming time to first token
// and frame integrity, and the gateway's peak memory, against the project's
// speed targets.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
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
}

// Run measures both paths and returns the evaluated report. It fails only
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
		LoadAverage: load}
	err = measure(ctx, o, p, up.OpenAIURL(), gw, rep)
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

// paths are the two endpoints of each phase.
type paths struct {
	direct, gateway *endpoint
}

func newPaths(ctx context.Context, o Options, upstreamURL, gatewayURL string, stream bool) (paths, error) {
	body := chatBody(Model, stream)
	d, err := newEndpoint(ctx, "direct", newTransport(o.Concurrency), upstreamURL+"/chat/completions", body)
	if err != nil {
		return paths{}, err
	}
	g, err := newEndpoint(ctx, "gateway", newTransport(o.Concurrency), gatewayURL+"/v1/chat/completions", body)
	if err != nil {
		return paths{}, err
	}
	return paths{direct: d, gateway: g}, nil
}

func (ps paths) close() {
	closeIdle(ps.direct)
	closeIdle(ps.gateway)
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

// Block sizes of the interleaved phases: the two paths take turns so that
// background noise on the machine falls on both alike.
const (
	latencyBlock = 100
	streamBlock  = 25
	roundTime    = time.Second
)

// measure warms both paths up, then runs each phase on the two paths in
// turns.
func measure(ctx context.Context, o Options, p progress, upstreamURL string, gw Gateway, rep *Report) error {
	chat, err := newPaths(ctx, o, upstreamURL, gw.URL(), false)
	if err != nil {
		return err
	}
	defer chat.close()
	stream, err := newPaths(ctx, o, upstreamURL, gw.URL(), true)
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
	st, err := streamPhase(ctx, o, p, stream)
	if err != nil {
		return err
	}
	for i, s := range []*Side{&rep.Direct, &rep.Gateway} {
		s.Latency = Summarize(lat[i].samples)
		s.RPS, s.Requests, s.Seconds = tp[i].rps(), tp[i].requests, tp[i].elapsed.Seconds()
		s.Errors = lat[i].errors + tp[i].errors
		s.TTFT, s.Frames = Summarize(st[i].ttft), st[i].frames
	}
	rep.Overhead = Summarize(lat[1].overhead)
	if rep.FramesPerStream, err = framesPerStream(st[0].perStream); err != nil {
		return err
	}
	if rep.PeakRSS, err = gw.PeakRSS(); err != nil {
		return fmt.Errorf("gateway peak rss: %w", err)
	}
	return nil
}

// latencyPhase sends Requests to each path at concurrency 1, in blocks.
func latencyPhase(ctx context.Context, o Options, p progress, chat paths) ([2]*latencyRun, error) {
	lat := [2]*latencyRun{newLatencyRun(o.Requests, false), newLatencyRun(o.Requests, true)}
	err := phase(p, "latency c=1, direct and gateway in turns", 2*int64(o.Requests), 0, func(done *atomic.Int64) error {
		for sent := 0; sent < o.Requests; sent += latencyBlock {
			n := min(latencyBlock, o.Requests-sent)
			if err := lat[0].sequential(ctx, chat.direct, n, done); err != nil {
				return err
			}
			if err := lat[1].sequential(ctx, chat.gateway, n, done); err != nil {
				return err
			}
		}
		return errors.Join(lat[0].check(), lat[1].check())
	})
	return lat, err
}

// throughputPhase loads each path at Concurrency for Duration, in rounds.
func throughputPhase(ctx context.Context, o Options, p progress, chat paths) ([2]*throughputRun, error) {
	tp := [2]*throughputRun{{}, {}}
	rounds := max(1, int((o.Duration+roundTime-1)/roundTime))
	desc := fmt.Sprintf("throughput c=%d, direct and gateway in turns", o.Concurrency)
	err := phase(p, desc, 0, 2*o.Duration, func(done *atomic.Int64) error {
		for i := range rounds {
			d := o.Duration / time.Duration(rounds)
			if i == rounds-1 {
				d = o.Duration - d*time.Duration(rounds-1)
			}
			if err := tp[0].concurrent(ctx, chat.direct, o.Concurrency, d, done); err != nil {
				return err
			}
			if err := tp[1].concurrent(ctx, chat.gateway, o.Concurrency, d, done); err != nil {
				return err
			}
		}
		return errors.Join(tp[0].check(), tp[1].check())
	})
	return tp, err
}

// streamPhase opens Streams streams on each path, one at a time, in blocks.
func streamPhase(ctx context.Context, o Options, p progress, stream paths) ([2]*streamRun, error) {
	st := [2]*streamRun{newStreamRun(o.Streams), newStreamRun(o.Streams)}
	err := phase(p, "streams, direct and gateway in turns", 2*int64(o.Streams), 0, func(done *atomic.Int64) error {
		for sent := 0; sent < o.Streams; sent += streamBlock {
			n := min(streamBlock, o.Streams-sent)
			if err := st[0].sequential(ctx, stream.direct, n, done); err != nil {
				return err
			}
			if err := st[1].sequential(ctx, stream.gateway, n, done); err != nil {
				return err
			}
		}
		return nil
	})
	return st, err
}

// warmUp sends Warmup requests and a few streams on each path, then loads
// each briefly at full concurrency so every connection pool is filled.
func warmUp(ctx context.Context, o Options, p progress, chat, stream paths) error {
	streams := min(o.Warmup, 20)
	burst := min(o.Duration/10, 500*time.Millisecond)
	total := 2 * int64(o.Warmup+streams)
	return phase(p, "warm-up", total, 0, func(done *atomic.Int64) error {
		for i, e := range []*endpoint{chat.direct, chat.gateway} {
			run := newLatencyRun(0, false)
			if err := run.sequential(ctx, e, o.Warmup, done); err != nil {
				return err
			}
			if err := run.check(); err != nil {
				return err
			}
			if err := newStreamRun(0).sequential(ctx, []*endpoint{stream.direct, stream.gateway}[i], streams, done); err != nil {
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
	chat, err := newPaths(ctx, o, upstreamURL, gw.URL(), false)
	if err == nil {
		err = phase(p, fmt.Sprintf("cpu profile of the gateway at c=%d", o.Concurrency), 0, o.Duration, func(done *atomic.Int64) error {
			var tp throughputRun
			if err := tp.concurrent(ctx, chat.gateway, o.Concurrency, o.Duration, done); err != nil {
				return err
			}
			return tp.check()
		})
		chat.close()
	}
	if cerr := gw.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	return nil
}
