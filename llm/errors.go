package llm

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Sentinel errors. Wrap them with fmt.Errorf("...: %w", err); the gateway maps
// them to HTTP statuses in one place.
var (
	// ErrInvalidRequest is a request the backend cannot honour (bad field,
	// unsupported parameter). Use InvalidRequest to build one.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrUnavailable means no upstream could take the call: connection
	// refused, no healthy replica, circuit open.
	ErrUnavailable = errors.New("backend unavailable")
	// ErrTimeout means the upstream did not answer in time.
	ErrTimeout = errors.New("backend timeout")
	// ErrBadUpstream means the upstream answered with something that is not
	// the protocol it should speak (garbage, truncated stream).
	ErrBadUpstream = errors.New("bad upstream response")
)

// ParamError is an invalid request naming the offending parameter.
type ParamError struct {
	Param   string
	Message string
}

func (e *ParamError) Error() string { return e.Message }

// Unwrap makes errors.Is(err, ErrInvalidRequest) true.
func (e *ParamError) Unwrap() error { return ErrInvalidRequest }

// InvalidRequest returns a *ParamError for param with a formatted message.
func InvalidRequest(param, format string, args ...any) error {
	return &ParamError{Param: param, Message: fmt.Sprintf(format, args...)}
}

// UpstreamError is an error status returned by an upstream server.
type UpstreamError struct {
	// Status is the upstream HTTP status.
	Status int
	// Type, Code and Message come from the upstream's error body when it had
	// one. Message is safe to show to clients: it never contains credentials.
	Type    string
	Code    string
	Param   string
	Message string
	// RetryAfter is the upstream's Retry-After, if any.
	RetryAfter time.Duration
}

func (e *UpstreamError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("upstream status %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("upstream status %d", e.Status)
}

// Retryable reports whether the call may succeed if tried again.
func (e *UpstreamError) Retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// Retryable reports whether err is worth retrying on the same or another
// replica: transport failures, timeouts before output, 429 and 5xx. Invalid
// requests and client cancellation are never retried.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, ErrInvalidRequest) {
		return false
	}
	var ue *UpstreamError
	if errors.As(err, &ue) {
		return ue.Retryable()
	}
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrBadUpstream)
}
