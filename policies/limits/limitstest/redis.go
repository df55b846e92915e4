package limitstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// RedisAddr returns the test Redis address from RAGWAY_TEST_REDIS_ADDR. When
// it is unset the test fails, unless RAGWAY_TEST_NO_SERVICES=1 lets it skip.
func RedisAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("RAGWAY_TEST_REDIS_ADDR")
	if addr != "" {
		return addr
	}
	if os.Getenv("RAGWAY_TEST_NO_SERVICES") == "1" {
		t.Skip("RAGWAY_TEST_REDIS_ADDR is unset and RAGWAY_TEST_NO_SERVICES=1")
	}
	t.Fatal(`RAGWAY_TEST_REDIS_ADDR is unset: run eval "$(deploy/dev/services.sh up)" first`)
	return ""
}

// RedisPrefix returns a key prefix no other test uses and deletes its keys
// when the test ends.
func RedisPrefix(t testing.TB, addr string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "ragway-test:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer func() { _ = c.Close() }()
		ctx := context.Background()
		var keys []string
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		require.NoError(t, iter.Err())
		if len(keys) > 0 {
			require.NoError(t, c.Del(ctx, keys...).Err())
		}
	})
	return prefix
}
