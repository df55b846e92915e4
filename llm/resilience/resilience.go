// Package resilience wraps a backend target with retries and a circuit
// breaker.
//
// A Target retries retryable failures (llm.Retryable) with exponential
// backoff and full jitter, honouring an upstream's Retry-After, and only
// before any output reached the client: a stream is retried only when its
// first chunk failed. A circuit breaker per target opens after consecutive
// retryable failures and then fails calls at once with an error wrapping
// llm.ErrUnavailable until a half-open probe succeeds.
package resilience

import (
	"context"
	"errors"
	"io"

	"github.com/sony/gobreaker/v2"

	"github.com/ragway/ragway/llm"
)

// Observer is told about retries and breaker state changes, for metrics and
// logs. Its methods must be cheap and must not block; BreakerChanged is
// called with the breaker's lock held.
type Observer interface {
	// Retried is called before waiting to retry a call; attempt is the number
	// of the try about to start (2 for the first retry) and err the failure
	// that caused it.
	Retried(target string, attempt int, err error)
	// BreakerChanged is called when the target's circuit breaker moves
	// between "closed", "open" and "half-open".
	BreakerChanged(target string, from, to string)
}

// NopObserver ignores everything.
type NopObserver struct{}

// Retried implements Observer.
func (NopObserver) Retried(string, int, error) {}

// BreakerChanged implements Observer.
func (NopObserver) BreakerChanged(string, string, string) {}

// OpenError is returned without calling the backend while the target's
// circuit breaker is open, or half-open with every probe slot taken.
type OpenError struct {
	Target string
	// HalfOpen is true when the breaker is half-open and already probing.
	HalfOpen bool
}

func (e *OpenError) Error() string {
	if e.HalfOpen {
		return "circuit half-open for " + e.Target + ", probe in flight: " + llm.ErrUnavailable.Error()
	}
	return "circuit open for " + e.Target + ": " + llm.ErrUnavailable.Error()
}

// Unwrap makes errors.Is(err, llm.ErrUnavailable) true.
func (e *OpenError) Unwrap() error { return llm.ErrUnavailable }

// Target is one backend target (backend and upstream model) with retries and
// a circuit breaker. It is safe for concurrent use.
type Target struct {
	next    llm.Backend
	target  string
	retry   Retry
	obs     Observer
	breaker *gobreaker.TwoStepCircuitBreaker[struct{}] // nil when disabled
	open    error
	probing error
}

var _ llm.Backend = (*Target)(nil)

// Outcomes handed to the breaker: nil is a success.
var (
	errFailure  = errors.New("breaker failure")
	errExcluded = errors.New("breaker excluded")
)

// New wraps b. target names it in errors and observer calls. Retry.Attempts
// below 1 means a single try; Breaker.Failures 0 disables the breaker. The
// policies are used as given: apply WithDefaults first for the documented
// defaults. obs may be nil.
func New(b llm.Backend, target string, retry Retry, breaker Breaker, obs Observer) *Target {
	if obs == nil {
		obs = NopObserver{}
	}
	if retry.Attempts < 1 {
		retry.Attempts = 1
	}
	if retry.MaxBackoff < retry.InitialBackoff {
		retry.MaxBackoff = retry.InitialBackoff
	}
	t := &Target{
		next:    b,
		target:  target,
		retry:   retry,
		obs:     obs,
		open:    &OpenError{Target: target},
		probing: &OpenError{Target: target, HalfOpen: true},
	}
	if breaker.Failures > 0 {
		failures := uint32(breaker.Failures)
		t.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        target,
			MaxRequests: uint32(max(breaker.HalfOpenRequests, 1)),
			Timeout:     breaker.OpenFor,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
			OnStateChange: func(name string, from, to gobreaker.State) {
				obs.BreakerChanged(name, from.String(), to.String())
			},
			IsSuccessful: func(err error) bool { return err == nil },
			IsExcluded:   func(err error) bool { return err == errExcluded },
		})
	}
	return t
}

// Name returns the target's name.
func (t *Target) Name() string { return t.target }

// BreakerState returns "closed", "open" or "half-open"; "closed" when the
// breaker is disabled.
func (t *Target) BreakerState() string {
	if t.breaker == nil {
		return gobreaker.StateClosed.String()
	}
	return t.breaker.State().String()
}

// Generate implements llm.Backend.
func (t *Target) Generate(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	return call(ctx, t, func(ctx context.Context) (*llm.Response, error) {
		return t.next.Generate(ctx, req)
	})
}

// Embed implements llm.Backend.
func (t *Target) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	return call(ctx, t, func(ctx context.Context) (*llm.EmbedResponse, error) {
		return t.next.Embed(ctx, req)
	})
}

// Models implements llm.Backend; it passes through.
func (t *Target) Models(ctx context.Context) ([]llm.Model, error) {
	return t.next.Models(ctx)
}

// call runs fn under the breaker, retrying it as the policy allows.
func call[T any](ctx context.Context, t *Target, fn func(context.Context) (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		done, err := t.allow()
		if err != nil {
			var zero T
			return zero, err
		}
		v, err := fn(ctx)
		t.report(ctx, done, err)
		if err == nil {
			return v, nil
		}
		if werr := t.wait(ctx, attempt, err); werr != nil {
			var zero T
			return zero, werr
		}
	}
}

// GenerateStream implements llm.Backend. The first chunk is read before
// returning, so a stream whose first read fails is retried like any other
// call; once a chunk is in hand the stream is returned and later errors pass
// through.
func (t *Target) GenerateStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	for attempt := 1; ; attempt++ {
		done, err := t.allow()
		if err != nil {
			return nil, err
		}
		s, err := t.next.GenerateStream(ctx, req)
		if err == nil {
			var first llm.Chunk
			first, err = s.Recv()
			if err == nil || errors.Is(err, io.EOF) {
				return newStream(ctx, s, done, first, err), nil
			}
			_ = s.Close()
		}
		t.report(ctx, done, err)
		if werr := t.wait(ctx, attempt, err); werr != nil {
			return nil, werr
		}
	}
}

func nopDone(error) {}

// allow asks the breaker for a slot and returns the function reporting its
// outcome.
func (t *Target) allow() (func(error), error) {
	if t.breaker == nil {
		return nopDone, nil
	}
	done, err := t.breaker.Allow()
	switch {
	case err == nil:
		return done, nil
	case errors.Is(err, gobreaker.ErrTooManyRequests):
		return nil, t.probing
	default:
		return nil, t.open
	}
}

// report hands the outcome of one try to the breaker. Only retryable
// failures count against the target; invalid requests, client cancellation
// and other errors are excluded, and an upstream that answered with a
// non-retryable status counts as alive.
func (t *Target) report(ctx context.Context, done func(error), err error) {
	done(outcome(ctx, err))
}

func outcome(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return errExcluded
	case llm.Retryable(err):
		return errFailure
	}
	var ue *llm.UpstreamError
	if errors.As(err, &ue) && !errors.Is(err, llm.ErrInvalidRequest) {
		return nil
	}
	return errExcluded
}
