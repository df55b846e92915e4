// Package limits meters requests: request rates (GCRA), tokens per minute,
// concurrent in-flight requests and token budgets per day or month, at four
// scopes (key, tenant, model, global), declared in YAML.
//
// A request is admitted by Acquire, which checks every applicable limit
// together: either all of them take the request or none does. Acquire
// reserves the prompt tokens plus a bounded estimate of the completion
// (Config.CompletionReserve) and a concurrency slot; Lease.Release
// reconciles the reservation with the usage the backend reported and frees
// the slot.
//
// Implementations: memlimit (one process) and redislimit (state in Redis,
// shared by every replica, each check one atomic Lua script). The
// limiters package turns a Config into one of them.
package limits

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"
)

// Limiter is the port the gateway meters requests through.
type Limiter interface {
	// Acquire admits req or returns an error wrapping *policies.LimitError
	// (and policies.ErrLimited). A rejection consumes nothing.
	Acquire(ctx context.Context, req Request) (*Lease, error)
	// Close releases the limiter's resources. Leases already handed out may
	// still be released.
	Close() error
}

// Reloader is implemented by limiters that derive a limiter for a new
// configuration while keeping the state of limits that did not change.
type Reloader interface {
	Reload(cfg Config) (Limiter, error)
}

// Request is what a call is metered by.
type Request struct {
	// Tenant is the caller's tenant; tenant rules do not apply when empty.
	Tenant string
	// Key identifies the caller: the API key id, or the JWT subject for
	// token callers. Key rules do not apply when empty.
	Key string
	// Model is the model (route) name the client asked for.
	Model string
	// PromptTokens is the counted prompt (see policies/tokens).
	PromptTokens int
	// MaxTokens is the client's max_tokens (or max_completion_tokens); 0
	// when not set, NoCompletion for calls without a completion
	// (embeddings).
	MaxTokens int
}

// NoCompletion is Request.MaxTokens for a call that generates nothing, so
// Acquire reserves the prompt only.
const NoCompletion = -1

// Usage is what the backend reported for a call.
type Usage struct {
	PromptTokens     int
	CompletionTokens int
}

// Options are the dependencies of a limiter.
type Options struct {
	// Logger receives store errors; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests inject one.
	Now func() time.Time
	// OnStoreError is called for every failed call to a shared store (after
	// on_redis_error was applied), so the gateway can count it in a metric.
	// It must be cheap and safe for concurrent use.
	OnStoreError func(op string, err error)
	// OnStoreCall is called after every call to a shared store with its
	// duration, failed or not, so the gateway can show what a round trip
	// costs from where it runs. It must be cheap and safe for concurrent use.
	OnStoreCall func(op string, d time.Duration)
}

// WithDefaults fills the nil dependencies.
func (o Options) WithDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.OnStoreError == nil {
		o.OnStoreError = func(string, error) {}
	}
	if o.OnStoreCall == nil {
		o.OnStoreCall = func(string, time.Duration) {}
	}
	return o
}

// ErrUnavailable is joined to the rejection a fail_closed limiter returns
// when its store cannot be reached.
var ErrUnavailable = errors.New("limit store unavailable")

// Lease is an admitted request's hold on its limits.
type Lease struct {
	status   Status
	reserved int
	settle   Settle
	done     atomic.Bool
}

// Settle is how an implementation reconciles a lease: diff tokens are
// charged to its token limits and budgets (refunded when negative), and its
// concurrency slot is freed when free is true. An implementation that does
// I/O here bounds it in time itself: callers may pass a context without a
// deadline.
type Settle func(ctx context.Context, diff int64, free bool) error

// NewLease is for implementations: settle is called by Refine and, once
// with free set, by Release. A nil settle makes both no-ops.
func NewLease(status Status, reservedTokens int, settle Settle) *Lease {
	return &Lease{status: status, reserved: reservedTokens, settle: settle}
}

// Status returns the rate limit figures for the response headers.
func (l *Lease) Status() Status { return l.status }

// ReservedTokens is how many tokens the lease holds on token limits: what
// Acquire charged, corrected by Refine.
func (l *Lease) ReservedTokens() int { return l.reserved }

// Refine corrects the prompt part of the reservation once the prompt is
// counted, for a request that Acquire admitted with an upper bound of its
// prompt tokens (reservedPrompt): the difference is refunded at once, and
// Status and ReservedTokens follow. It does nothing after Release. Refine,
// Release, Status and ReservedTokens must not run concurrently: a caller
// that refines in another goroutine waits for it first.
func (l *Lease) Refine(ctx context.Context, reservedPrompt, prompt int) error {
	d := prompt - reservedPrompt
	if l == nil || d == 0 || l.done.Load() {
		return nil
	}
	l.reserved = max(l.reserved+d, 0)
	if s := &l.status; s.HasTokens {
		s.RemainingTokens = min(max(s.RemainingTokens-int64(d), 0), s.LimitTokens)
	}
	if l.settle == nil {
		return nil
	}
	return l.settle(ctx, int64(d), false)
}

// Release reconciles the reservation with the reported usage (the
// difference is charged or refunded to tokens_per_minute and budgets) and
// frees the concurrency slot. Only the first call has an effect. Pass the
// usage the backend reported; when a call failed before any usage, pass what
// is known (zero refunds the whole reservation). Callers may pass a context
// without a deadline.
func (l *Lease) Release(ctx context.Context, u Usage) error {
	if l == nil || !l.done.CompareAndSwap(false, true) || l.settle == nil {
		return nil
	}
	used := int64(max(u.PromptTokens, 0)) + int64(max(u.CompletionTokens, 0))
	return l.settle(ctx, used-int64(l.reserved), true)
}
