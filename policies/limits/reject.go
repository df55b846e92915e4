package limits

import (
	"errors"
	"strings"
	"time"

	"github.com/ragway/ragway/policies"
)

// Reject is for implementations: the error for a request check c rejected.
func Reject(c *Check, retryAfter time.Duration) error {
	return &policies.LimitError{Limit: c.LimitName, Scope: c.Scope, RetryAfter: max(retryAfter, 0)}
}

// Unavailable is the rejection of a fail_closed limiter whose store failed:
// it is a *policies.LimitError (429 with Retry-After) and also matches
// ErrUnavailable.
func Unavailable(retryAfter time.Duration) error {
	return errors.Join(&policies.LimitError{Limit: "limiter_unavailable", Scope: ScopeGlobal, RetryAfter: retryAfter}, ErrUnavailable)
}

// ConcurrencyRetryAfter is the Retry-After of a concurrency rejection: when
// a slot frees up is unknown, so clients are told to come back shortly.
const ConcurrencyRetryAfter = time.Second

// IsTokenLimit reports whether err is a rejection by a token limit (tokens
// per minute or a budget): one that a smaller prompt might pass.
func IsTokenLimit(err error) bool {
	var le *policies.LimitError
	return errors.As(err, &le) && (le.Limit == LimitTokensPerMinute || strings.HasPrefix(le.Limit, LimitBudgetPrefix))
}
