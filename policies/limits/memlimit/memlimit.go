// Package memlimit is the in-process limits.Limiter. Its state lives in one
// process: N replicas each admit the full limit. Use redislimit to share.
package memlimit

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ragway/ragway/policies/limits"
)

var (
	_ limits.Limiter  = (*Limiter)(nil)
	_ limits.Reloader = (*Limiter)(nil)
)

// Limiter keeps every limit's state in memory behind one mutex, so a set of
// checks is decided atomically.
type Limiter struct {
	plan  *limits.Plan
	state *state
	opts  limits.Options
}

// New returns a limiter for cfg (defaults applied, validated).
func New(cfg limits.Config, opts limits.Options) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("memory limiter: %w", err)
	}
	return &Limiter{plan: limits.NewPlan(cfg), state: newState(), opts: opts.WithDefaults()}, nil
}

// Reload returns a limiter for cfg that shares this one's state: limits
// whose rule name and kind are unchanged keep their counters, and leases
// from either limiter release into the same state.
func (l *Limiter) Reload(cfg limits.Config) (limits.Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("memory limiter: %w", err)
	}
	return &Limiter{plan: limits.NewPlan(cfg), state: l.state, opts: l.opts}, nil
}

// Close does nothing.
func (l *Limiter) Close() error { return nil }

type budget struct {
	used int64
	end  time.Time
}

type state struct {
	mu      sync.Mutex
	cells   map[string]float64 // GCRA theoretical arrival times, µs
	conc    map[string]int64
	budgets map[string]*budget
	ops     int
}

func newState() *state {
	return &state{cells: map[string]float64{}, conc: map[string]int64{}, budgets: map[string]*budget{}}
}

// sweepEvery is how many acquisitions pass between sweeps of idle state.
const sweepEvery = 4096

// Acquire checks every applicable limit and takes the request only if all
// admit it.
func (l *Limiter) Acquire(ctx context.Context, req limits.Request) (*limits.Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("acquire limits: %w", err)
	}
	now := l.opts.Now()
	var buf [8]limits.Check
	checks, reserve := l.plan.Checks(buf[:0], req, now)
	if len(checks) == 0 {
		return limits.NewLease(limits.Status{}, int(reserve), nil), nil
	}
	var tatBuf [8]float64
	tats := tatBuf[:0]
	nowUs := limits.Micros(now)
	var st limits.Status

	s := l.state
	s.mu.Lock()
	for i := range checks {
		c := &checks[i]
		tat := 0.0
		switch c.Kind {
		case limits.KindRequests, limits.KindTokens:
			nt, ok, retry, rem, reset := limits.GCRA(s.cells[c.Key], nowUs, c.Interval, c.Limit, c.Cost)
			if !ok {
				s.mu.Unlock()
				return nil, limits.Reject(c, limits.MicrosDuration(retry))
			}
			tat = nt
			st.Observe(c, int64(rem), limits.MicrosDuration(reset))
		case limits.KindConcurrency:
			if s.conc[c.Key]+1 > c.Limit {
				s.mu.Unlock()
				return nil, limits.Reject(c, limits.ConcurrencyRetryAfter)
			}
		case limits.KindBudget:
			used := int64(0)
			if b := s.budgets[c.Key]; b != nil {
				used = b.used
			}
			if used+c.Cost > c.Limit {
				s.mu.Unlock()
				return nil, limits.Reject(c, c.PeriodEnd.Sub(now))
			}
			st.Observe(c, c.Limit-used-c.Cost, c.PeriodEnd.Sub(now))
		}
		tats = append(tats, tat)
	}
	for i := range checks {
		s.commit(&checks[i], tats[i])
	}
	s.ops++
	if s.ops%sweepEvery == 0 {
		s.sweep(now)
	}
	s.mu.Unlock()

	// A copy sized to the checks, so that buf stays on the stack.
	kept := slices.Clone(checks)
	return limits.NewLease(st, int(reserve), func(_ context.Context, diff int64, free bool) error {
		l.settle(kept, diff, free)
		return nil
	}), nil
}

func (s *state) commit(c *limits.Check, tat float64) {
	switch c.Kind {
	case limits.KindRequests, limits.KindTokens:
		s.cells[c.Key] = tat
	case limits.KindConcurrency:
		s.conc[c.Key]++
	case limits.KindBudget:
		b := s.budgets[c.Key]
		if b == nil {
			b = &budget{end: c.PeriodEnd}
			s.budgets[c.Key] = b
		}
		b.used += c.Cost
	}
}

// settle charges diff tokens to the token limits and budgets among checks
// (refunds them when negative) and, when free is set, frees the
// concurrency slots.
func (l *Limiter) settle(checks []limits.Check, diff int64, free bool) {
	nowUs := limits.Micros(l.opts.Now())
	s := l.state
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range checks {
		c := &checks[i]
		switch c.Kind {
		case limits.KindRequests:
		case limits.KindTokens:
			if diff == 0 {
				continue
			}
			tat := max(s.cells[c.Key], nowUs) + float64(diff)*c.Interval
			if tat <= nowUs {
				delete(s.cells, c.Key)
				continue
			}
			s.cells[c.Key] = tat
		case limits.KindConcurrency:
			if !free {
				continue
			}
			if s.conc[c.Key] <= 1 {
				delete(s.conc, c.Key)
				continue
			}
			s.conc[c.Key]--
		case limits.KindBudget:
			if b := s.budgets[c.Key]; b != nil {
				b.used = max(b.used+diff, 0)
			}
		}
	}
}

// sweep drops state equivalent to none: full GCRA cells and budgets of
// periods that ended (kept a day longer so late releases still reconcile).
func (s *state) sweep(now time.Time) {
	nowUs := limits.Micros(now)
	for k, tat := range s.cells {
		if tat <= nowUs {
			delete(s.cells, k)
		}
	}
	for k, b := range s.budgets {
		if now.After(b.end.Add(24 * time.Hour)) {
			delete(s.budgets, k)
		}
	}
}

// Len reports how many state entries are held, for tests and metrics.
func (l *Limiter) Len() int {
	l.state.mu.Lock()
	defer l.state.mu.Unlock()
	return len(l.state.cells) + len(l.state.conc) + len(l.state.budgets)
}
