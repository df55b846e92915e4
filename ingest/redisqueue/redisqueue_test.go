package redisqueue_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/ingest"
	"github.com/ragway/ragway/ingest/queuetest"
	"github.com/ragway/ragway/ingest/redisqueue"
	"github.com/ragway/ragway/policies/limits/limitstest"
)

func TestConformance(t *testing.T) {
	addr := limitstest.RedisAddr(t)
	queuetest.Run(t, func(t *testing.T) queuetest.Opener {
		prefix := limitstest.RedisPrefix(t, addr)
		return func(t *testing.T) ingest.Queue {
			rdb := redis.NewClient(&redis.Options{Addr: addr})
			q, err := redisqueue.New(context.Background(), rdb, redisqueue.Config{
				Prefix: prefix, Lease: 1500 * time.Millisecond, Block: 50 * time.Millisecond,
				Workers: 3, RetryInitial: 50 * time.Millisecond,
			})
			require.NoError(t, err)
			t.Cleanup(func() {
				require.NoError(t, q.Close())
				require.NoError(t, rdb.Close())
			})
			return q
		}
	})
}
