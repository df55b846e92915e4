package consumers

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestRunStopsOnContextAndOnClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	g := New()
	var running atomic.Int32
	work := func(ctx context.Context) {
		running.Add(1)
		<-ctx.Done()
		running.Add(-1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, 3, work) }()
	require.Eventually(t, func() bool { return running.Load() == 3 }, 5*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done, "a cancelled context is a clean stop")
	require.Zero(t, running.Load())

	go func() { done <- g.Run(context.Background(), 2, work) }()
	require.Eventually(t, func() bool { return running.Load() == 2 }, 5*time.Second, time.Millisecond)
	require.True(t, g.Close())
	require.ErrorIs(t, <-done, ErrClosed)
	require.Zero(t, running.Load(), "Close waits for every worker")
	require.False(t, g.Close())
	require.True(t, g.Closed())
	require.ErrorIs(t, g.Run(context.Background(), 1, work), ErrClosed)
}
