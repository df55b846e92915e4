//go:build !race

package resilience

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm"
)

// The success path allocates nothing of its own without a breaker, and only
// the breaker's outcome callback with one.
func TestGenerateAllocations(t *testing.T) {
	f := &fakeBackend{resp: &llm.Response{}}
	req := &llm.Request{}
	ctx := t.Context()

	plain := New(f, "t", DefaultRetry, Breaker{}, nil)
	require.Zero(t, testing.AllocsPerRun(100, func() { _, _ = plain.Generate(ctx, req) }))

	guarded := New(f, "t", DefaultRetry, Breaker{Failures: 5, OpenFor: time.Second}, nil)
	require.LessOrEqual(t, testing.AllocsPerRun(100, func() { _, _ = guarded.Generate(ctx, req) }), 1.0)
}
