package tokens

import (
	"hash/maphash"
	"sync"
)

// Chat history is resent in full on every turn, and system prompts repeat
// across requests, so counts are cached: a bounded map per
// shard, keyed by a 64-bit hash of the text (a collision costs a wrong
// estimate, not a wrong answer to the client). A full shard is emptied.
const (
	cacheMinBytes  = 1
	cacheShards    = 16
	cacheShardSize = 2048
)

type cacheKey struct {
	enc  string
	hash uint64
	size int
}

type cacheShard struct {
	mu sync.Mutex
	m  map[cacheKey]int
}

var (
	cacheSeed = maphash.MakeSeed()
	cache     [cacheShards]cacheShard
)

func cachedCount(enc, text string, count func(string) int) int {
	if len(text) < cacheMinBytes {
		return count(text)
	}
	h := maphash.String(cacheSeed, text)
	k := cacheKey{enc: enc, hash: h, size: len(text)}
	s := &cache[h%cacheShards]
	s.mu.Lock()
	n, ok := s.m[k]
	s.mu.Unlock()
	if ok {
		return n
	}
	n = count(text)
	s.mu.Lock()
	if s.m == nil || len(s.m) >= cacheShardSize {
		s.m = make(map[cacheKey]int, cacheShardSize)
	}
	s.m[k] = n
	s.mu.Unlock()
	return n
}
