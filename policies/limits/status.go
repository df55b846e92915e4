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
	// The keys are written in canonical form, as h.Set would store them,
	// without canonicalising them on every response; the six values share
	// one backing array.
	var vals [6]string
	if s.HasRequests {
		vals[0] = strconv.FormatInt(s.LimitRequests, 10)
		vals[1] = strconv.FormatInt(s.RemainingRequests, 10)
		vals[2] = FormatReset(s.ResetRequests)
	}
	if s.HasTokens {
		vals[3] = strconv.FormatInt(s.LimitTokens, 10)
		vals[4] = strconv.FormatInt(s.RemainingTokens, 10)
		vals[5] = FormatReset(s.ResetTokens)
	}
	shared := vals[:]
	for i, k := range headerKeys {
		if (i < 3 && s.HasRequests) || (i >= 3 && s.HasTokens) {
			h[k] = shared[i : i+1 : i+1]
		}
	}
}

// headerKeys are OpenAI's rate limit headers in canonical form.
var headerKeys = [6]string{
	"X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests", "X-Ratelimit-Reset-Requests",
	"X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Tokens",
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
