package limits

import (
	"net/http"
	"strconv"
	"time"
)

// Status holds the figures of OpenAI's x-ratelimit-* headers, each from the
// tightest applicable limit (the one with the fewest remaining).
type Status struct {
	// HasRequests is true when a request rate limit applied.
	HasRequests       bool
	LimitRequests     int64
	RemainingRequests int64
	// ResetRequests is how long until the request limit is fully replenished.
	ResetRequests time.Duration
	// HasTokens is true when a token limit (per minute or budget) applied.
	HasTokens       bool
	LimitTokens     int64
	RemainingTokens int64
	ResetTokens     time.Duration
}

// SetHeaders writes the x-ratelimit-* headers that apply.
func (s Status) SetHeaders(h http.Header) {
	if s.HasRequests {
		h.Set("x-ratelimit-limit-requests", strconv.FormatInt(s.LimitRequests, 10))
		h.Set("x-ratelimit-remaining-requests", strconv.FormatInt(s.RemainingRequests, 10))
		h.Set("x-ratelimit-reset-requests", FormatReset(s.ResetRequests))
	}
	if s.HasTokens {
		h.Set("x-ratelimit-limit-tokens", strconv.FormatInt(s.LimitTokens, 10))
		h.Set("x-ratelimit-remaining-tokens", strconv.FormatInt(s.RemainingTokens, 10))
		h.Set("x-ratelimit-reset-tokens", FormatReset(s.ResetTokens))
	}
}

// FormatReset formats a reset duration as OpenAI does ("1s", "6m0s",
// "120ms"): whole milliseconds under a second, else rounded to the
// millisecond.
func FormatReset(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	return d.Round(time.Millisecond).String()
}

// Observe is for implementations: it folds the figures of check c into s,
// keeping the tightest.
func (s *Status) Observe(c *Check, remaining int64, reset time.Duration) {
	switch c.Kind {
	case KindRequests:
		if !s.HasRequests || remaining < s.RemainingRequests {
			s.HasRequests, s.LimitRequests, s.RemainingRequests, s.ResetRequests = true, c.Limit, remaining, reset
		}
	case KindTokens, KindBudget:
		if !s.HasTokens || remaining < s.RemainingTokens {
			s.HasTokens, s.LimitTokens, s.RemainingTokens, s.ResetTokens = true, c.Limit, remaining, reset
		}
	case KindConcurrency:
	}
}
