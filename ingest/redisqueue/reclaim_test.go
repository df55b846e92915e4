package redisqueue

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/policies/limits/limitstest"
)

// TestReclaimReachesDeadEntriesBehindLiveOnes: XAUTOCLAIM scans a bounded
// number of pending entries per call, so a dead consumer's entry behind
// many live ones is found only if the scan moves on between calls.
func TestReclaimReachesDeadEntriesBehindLiveOnes(t *testing.T) {
	addr := limitstest.RedisAddr(t)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { require.NoError(t, rdb.Close()) })
	q, err := New(ctx, rdb, Config{Prefix: limitstest.RedisPrefix(t, addr), Consumer: "reclaimer", Lease: time.Minute, Block: 10 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, q.Close()) })

	for i := 0; i < 40; i++ {
		require.NoError(t, rdb.XAdd(ctx, &redis.XAddArgs{Stream: q.stream, Values: map[string]any{"job": fmt.Sprint(i)}}).Err())
	}
	// A live consumer holds the first 39 entries, freshly.
	streams, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: q.cfg.Group, Consumer: "live", Streams: []string{q.stream, ">"}, Count: 39}).Result()
	require.NoError(t, err)
	require.Len(t, streams[0].Messages, 39)
	// A dead consumer took the last one an hour ago.
	streams, err = rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: q.cfg.Group, Consumer: "dead", Streams: []string{q.stream, ">"}, Count: 1}).Result()
	require.NoError(t, err)
	dead := streams[0].Messages[0].ID
	require.NoError(t, rdb.Do(ctx, "XCLAIM", q.stream, q.cfg.Group, "dead", 0, dead, "IDLE", time.Hour.Milliseconds()).Err())

	cursor := "0-0"
	var got string
	for i := 0; i < 10 && got == ""; i++ {
		msg, err := q.next(ctx, &cursor)
		require.NoError(t, err)
		if msg != nil && msg.ID == dead {
			got = msg.ID
		}
	}
	require.Equal(t, dead, got, "the dead consumer's entry is reclaimed within a few scans")
}
