package resilience

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ragway/ragway/llm"
)

// wait decides whether the try numbered attempt, which failed with err, is
// retried. It returns nil after waiting out the backoff, or the error the
// call should return: err itself when it is not retried, or the context's
// error when ctx ended during the wait.
func (t *Target) wait(ctx context.Context, attempt int, err error) error {
	if attempt >= t.retry.Attempts || !llm.Retryable(err) || ctx.Err() != nil {
		return err
	}
	d := t.backoff(attempt)
	var ue *llm.UpstreamError
	if errors.As(err, &ue) && ue.RetryAfter > 0 {
		if ue.RetryAfter > t.retry.MaxBackoff {
			return err
		}
		d = ue.RetryAfter
	}
	t.obs.Retried(t.target, attempt+1, err)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("retry %s after %v: %w", t.target, err, ctx.Err())
	case <-timer.C:
		return nil
	}
}

// backoff returns the wait after the try numbered attempt: a uniformly random
// duration between zero and InitialBackoff doubled attempt-1 times, capped at
// MaxBackoff ("full jitter").
func (t *Target) backoff(attempt int) time.Duration {
	return fullJitter(t.retry.InitialBackoff, t.retry.MaxBackoff, attempt)
}

func fullJitter(initial, maxBackoff time.Duration, attempt int) time.Duration {
	ceil := initial
	for i := 1; i < attempt && ceil < maxBackoff; i++ {
		if ceil > maxBackoff/2 {
			ceil = maxBackoff
			break
		}
		ceil *= 2
	}
	ceil = min(ceil, maxBackoff)
	if ceil <= 0 {
		return 0
	}
	return time.Duration(rand.Uint64N(uint64(ceil) + 1))
}
