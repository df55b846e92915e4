// Package replicas balances calls over the replicas of one backend.
//
// Each call goes to the healthy replica with the fewest outstanding requests,
// ties broken by a rotating start index; a stream is outstanding until it
// ends or is closed. Health is passive: a replica whose call fails with
// llm.ErrUnavailable (connection refused, reset before an answer) is ejected
// for a period that doubles on each further failure up to a maximum, and is
// re-admitted when it ends; a success resets it. When every replica is
// ejected the one re-admitted soonest is used rather than failing the call.
//
// A Pool does not retry: a retry wrapper around it (resilience.Target) calls
// the Pool again, and the failed replica, now ejected, is passed over.
package replicas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/ragway/ragway/llm"
)

// Replica is one upstream server.
type Replica struct {
	URL     string
	Backend llm.Backend
}

// Options tune passive health checking.
type Options struct {
	// BaseEjection is the first ejection period; each further consecutive
	// failure doubles it, up to MaxEjection.
	BaseEjection time.Duration
	MaxEjection  time.Duration
}

// DefaultOptions are used for fields left at zero.
var DefaultOptions = Options{BaseEjection: time.Second, MaxEjection: 30 * time.Second}

// WithDefaults fills zero fields from DefaultOptions.
func (o Options) WithDefaults() Options {
	if o.BaseEjection <= 0 {
		o.BaseEjection = DefaultOptions.BaseEjection
	}
	if o.MaxEjection <= 0 {
		o.MaxEjection = DefaultOptions.MaxEjection
	}
	o.MaxEjection = max(o.MaxEjection, o.BaseEjection)
	return o
}

// Pool balances over replicas. It is safe for concurrent use.
type Pool struct {
	replicas []*replica
	opts     Options
	rotate   atomic.Uint32
	now      func() int64 // unix nanoseconds
}

var _ llm.Backend = (*Pool)(nil)

type replica struct {
	Replica
	outstanding atomic.Int64
	// ejectedUntil is the unix time in nanoseconds when the replica is
	// re-admitted; zero or past means healthy.
	ejectedUntil atomic.Int64
	// failures counts consecutive ejections, to grow the next one.
	failures atomic.Int32
}

// errNoReplicas is returned by every call of a Pool without replicas.
var errNoReplicas = fmt.Errorf("no replicas: %w", llm.ErrUnavailable)

// New returns a Pool over replicas. Options fields left at zero take
// DefaultOptions. A Pool without replicas fails every call with
// llm.ErrUnavailable.
func New(replicas []Replica, opts Options) *Pool {
	p := &Pool{opts: opts.WithDefaults(), now: unixNano}
	for _, r := range replicas {
		p.replicas = append(p.replicas, &replica{Replica: r})
	}
	return p
}

func unixNano() int64 { return time.Now().UnixNano() }

// pick returns the replica for the next call and counts the call as
// outstanding on it; nil when the pool is empty.
func (p *Pool) pick() *replica {
	n := uint32(len(p.replicas))
	if n == 0 {
		return nil
	}
	if n == 1 {
		r := p.replicas[0]
		r.outstanding.Add(1)
		return r
	}
	now := p.now()
	start := p.rotate.Add(1)
	var best, soonest *replica
	var bestLoad, soonestAt int64
	for i := range n {
		r := p.replicas[(start+i)%n]
		if until := r.ejectedUntil.Load(); until > now {
			if soonest == nil || until < soonestAt {
				soonest, soonestAt = r, until
			}
			continue
		}
		if load := r.outstanding.Load(); best == nil || load < bestLoad {
			best, bestLoad = r, load
		}
	}
	if best == nil {
		best = soonest
	}
	best.outstanding.Add(1)
	return best
}

// done ends a call on r and updates its health from the call's error.
func (p *Pool) done(ctx context.Context, r *replica, err error) {
	r.outstanding.Add(-1)
	p.observe(ctx, r, err)
}

func (p *Pool) observe(ctx context.Context, r *replica, err error) {
	switch {
	case err == nil:
		if r.failures.Load() != 0 || r.ejectedUntil.Load() != 0 {
			r.failures.Store(0)
			r.ejectedUntil.Store(0)
		}
	case errors.Is(err, llm.ErrUnavailable) && ctx.Err() == nil:
		p.eject(r)
	}
}

// eject takes r out of rotation. Calls that were already in flight when it
// was ejected and fail too do not lengthen the ejection.
func (p *Pool) eject(r *replica) {
	now := p.now()
	old := r.ejectedUntil.Load()
	if old > now {
		return
	}
	n := r.failures.Add(1)
	d := p.opts.BaseEjection
	for i := int32(1); i < n && d < p.opts.MaxEjection; i++ {
		d *= 2
	}
	d = min(d, p.opts.MaxEjection)
	r.ejectedUntil.CompareAndSwap(old, now+int64(d))
}

// Generate implements llm.Backend.
func (p *Pool) Generate(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	r := p.pick()
	if r == nil {
		return nil, errNoReplicas
	}
	resp, err := r.Backend.Generate(ctx, req)
	p.done(ctx, r, err)
	return resp, err
}

// Embed implements llm.Backend.
func (p *Pool) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	r := p.pick()
	if r == nil {
		return nil, errNoReplicas
	}
	resp, err := r.Backend.Embed(ctx, req)
	p.done(ctx, r, err)
	return resp, err
}

// Models implements llm.Backend; it asks one replica.
func (p *Pool) Models(ctx context.Context) ([]llm.Model, error) {
	r := p.pick()
	if r == nil {
		return nil, errNoReplicas
	}
	models, err := r.Backend.Models(ctx)
	p.done(ctx, r, err)
	return models, err
}

// GenerateStream implements llm.Backend.
func (p *Pool) GenerateStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	r := p.pick()
	if r == nil {
		return nil, errNoReplicas
	}
	s, err := r.Backend.GenerateStream(ctx, req)
	if err != nil {
		p.done(ctx, r, err)
		return nil, err
	}
	return &stream{ctx: ctx, pool: p, r: r, inner: s}, nil
}

// stream keeps its replica's call outstanding until it ends or is closed.
type stream struct {
	// ctx is the request's context, kept to tell a client that went away
	// from a replica that failed.
	ctx   context.Context
	pool  *Pool
	r     *replica
	inner llm.Stream
	ended atomic.Bool
}

// Recv implements llm.Stream.
func (s *stream) Recv() (llm.Chunk, error) {
	c, err := s.inner.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			s.end(nil)
		} else {
			s.end(err)
		}
	}
	return c, err
}

// Close implements llm.Stream.
func (s *stream) Close() error {
	s.end(nil)
	return s.inner.Close()
}

func (s *stream) end(err error) {
	if s.ended.CompareAndSwap(false, true) {
		s.pool.done(s.ctx, s.r, err)
	}
}

// Outstanding returns the number of calls in flight over all replicas.
func (p *Pool) Outstanding() int {
	var n int64
	for _, r := range p.replicas {
		n += r.outstanding.Load()
	}
	return int(n)
}

// Healthy returns the number of replicas not ejected.
func (p *Pool) Healthy() int {
	now, n := p.now(), 0
	for _, r := range p.replicas {
		if r.ejectedUntil.Load() <= now {
			n++
		}
	}
	return n
}

// Status is one replica's state, for metrics.
type Status struct {
	URL         string
	Outstanding int
	Healthy     bool
	// EjectedFor is how long the replica stays ejected; zero when healthy.
	EjectedFor time.Duration
}

// Status reports every replica in configuration order.
func (p *Pool) Status() []Status {
	now := p.now()
	out := make([]Status, len(p.replicas))
	for i, r := range p.replicas {
		until := r.ejectedUntil.Load()
		out[i] = Status{URL: r.URL, Outstanding: int(r.outstanding.Load()), Healthy: until <= now}
		if until > now {
			out[i].EjectedFor = time.Duration(until - now)
		}
	}
	return out
}

// Close closes every replica backend that has a Close method, with or
// without an error result.
func (p *Pool) Close() error {
	var errs []error
	for _, r := range p.replicas {
		switch c := r.Backend.(type) {
		case io.Closer:
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close replica %s: %w", r.URL, err))
			}
		case interface{ Close() }:
			c.Close()
		}
	}
	return errors.Join(errs...)
}
