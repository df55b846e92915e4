package tokens

import (
	"hash/maphash"
	"sync"
)

// Chat history is resent in full on every turn, and system prompts repeat
// across requests, so counts are cached: a bounded map per
// shard, keyed by a 64-bit hash of the text (a collision costs a wrong
// estimate, not a wrong answer to the client). A full shard is emptied in
// place.
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
	switch {
	case s.m == nil:
		s.m = make(map[cacheKey]int, cacheShardSize)
	case len(s.m) >= cacheShardSize:
		// Emptied in place: a new map would be 100 KB more garbage and
		// fresh pages for the first requests to fault in.
		clear(s.m)
	}
	s.m[k] = n
	s.mu.Unlock()
	return n
}
