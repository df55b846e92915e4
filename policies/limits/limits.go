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
	release  func(ctx context.Context, u Usage) error
	done     atomic.Bool
}

// NewLease is for implementations: release is called at most once.
func NewLease(status Status, reservedTokens int, release func(ctx context.Context, u Usage) error) *Lease {
	return &Lease{status: status, reserved: reservedTokens, release: release}
}

// Status returns the rate limit figures for the response headers.
func (l *Lease) Status() Status { return l.status }

// ReservedTokens is how many tokens Acquire charged to token limits.
func (l *Lease) ReservedTokens() int { return l.reserved }

// Release reconciles the reservation with the reported usage (the
// difference is charged or refunded to tokens_per_minute and budgets) and
// frees the concurrency slot. Only the first call has an effect. Pass the
// usage the backend reported; when a call failed before any usage, pass what
// is known (zero refunds the whole reservation). An implementation that
// does I/O here bounds it in time itself: callers may pass a context
// without a deadline.
func (l *Lease) Release(ctx context.Context, u Usage) error {
	if l == nil || !l.done.CompareAndSwap(false, true) || l.release == nil {
		return nil
	}
	return l.release(ctx, u)
}
