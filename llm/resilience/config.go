package resilience

import (
	"errors"
	"time"
)

// Retry is the retry policy of a target: exponential backoff with full jitter,
// applied only to retryable errors (llm.Retryable) and only before any output
// reached the client.
type Retry struct {
	// Attempts is the total number of tries, first included. 1 disables retries.
	Attempts int `yaml:"attempts"`
	// InitialBackoff is the first wait; each later wait doubles up to MaxBackoff.
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
}

// Breaker is the circuit breaker of a target.
type Breaker struct {
	// Failures is the number of consecutive failures that opens the breaker.
	// 0 disables the breaker.
	Failures int `yaml:"failures"`
	// OpenFor is how long the breaker stays open before half-open probing.
	OpenFor time.Duration `yaml:"open_for"`
	// HalfOpenRequests is how many probe requests half-open admits.
	HalfOpenRequests int `yaml:"half_open_requests"`
}

// DefaultRetry and DefaultBreaker are used for fields left at zero.
var (
	DefaultRetry   = Retry{Attempts: 3, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second}
	DefaultBreaker = Breaker{Failures: 5, OpenFor: 30 * time.Second, HalfOpenRequests: 1}
)

// WithDefaults fills zero fields from DefaultRetry.
func (r Retry) WithDefaults() Retry {
	if r.Attempts == 0 {
		r.Attempts = DefaultRetry.Attempts
	}
	if r.InitialBackoff == 0 {
		r.InitialBackoff = DefaultRetry.InitialBackoff
	}
	if r.MaxBackoff == 0 {
		r.MaxBackoff = DefaultRetry.MaxBackoff
	}
	return r
}

// Validate reports every problem.
func (r Retry) Validate() error {
	var errs []error
	if r.Attempts < 0 || r.Attempts > 10 {
		errs = append(errs, errors.New("retry.attempts must be between 1 and 10"))
	}
	if r.InitialBackoff < 0 || r.MaxBackoff < 0 {
		errs = append(errs, errors.New("retry backoffs must not be negative"))
	}
	if r.MaxBackoff > 0 && r.InitialBackoff > r.MaxBackoff {
		errs = append(errs, errors.New("retry.initial_backoff must not exceed retry.max_backoff"))
	}
	return errors.Join(errs...)
}

// WithDefaults fills zero fields from DefaultBreaker.
func (b Breaker) WithDefaults() Breaker {
	if b.Failures == 0 {
		b.Failures = DefaultBreaker.Failures
	}
	if b.OpenFor == 0 {
		b.OpenFor = DefaultBreaker.OpenFor
	}
	if b.HalfOpenRequests == 0 {
		b.HalfOpenRequests = DefaultBreaker.HalfOpenRequests
	}
	return b
}

// Validate reports every problem.
func (b Breaker) Validate() error {
	var errs []error
	if b.Failures < 0 {
		errs = append(errs, errors.New("breaker.failures must not be negative"))
	}
	if b.OpenFor < 0 {
		errs = append(errs, errors.New("breaker.open_for must not be negative"))
	}
	if b.HalfOpenRequests < 0 {
		errs = append(errs, errors.New("breaker.half_open_requests must not be negative"))
	}
	return errors.Join(errs...)
}
