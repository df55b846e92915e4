package tokens

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCacheBounded counts more distinct texts than the cache holds: every
// count stays right, each shard stays within its bound and keeps its map
// (emptied in place when full), and a text just counted is a hit.
func TestCacheBounded(t *testing.T) {
	calls := 0
	count := func(s string) int { calls++; return len(s) }
	const texts = cacheShards * cacheShardSize * 2
	maps := map[int]map[cacheKey]int{}
	for i := range texts {
		text := "text " + strconv.Itoa(i)
		require.Equal(t, len(text), cachedCount("bound-test", text, count))
		for j := range cache {
			s := &cache[j]
			s.mu.Lock()
			require.LessOrEqual(t, len(s.m), cacheShardSize)
			if s.m != nil {
				if prev, ok := maps[j]; ok {
					require.True(t, sameMap(prev, s.m), "shard %d was replaced, not emptied", j)
				}
				maps[j] = s.m
			}
			s.mu.Unlock()
		}
	}
	require.Equal(t, texts, calls, "every text was new")
	require.Equal(t, 4, cachedCount("bound-test", "text", count))
	require.Equal(t, 4, cachedCount("bound-test", "text", count))
	require.Equal(t, texts+1, calls, "the second count of a text is a hit")
}

// sameMap reports whether a and b are the same map value: an entry written
// through one is seen through the other.
func sameMap(a, b map[cacheKey]int) bool {
	k := cacheKey{enc: "same-map-probe"}
	a[k] = 1
	_, ok := b[k]
	delete(a, k)
	return ok
}
