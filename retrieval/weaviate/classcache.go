package weaviate

import (
	"context"
	"maps"
	"sync"
	"time"
)

// maxCachedClasses bounds the class cache; when full it starts over.
const maxCachedClasses = 4096

// classCache keeps the class definitions searches read, so a search makes
// no schema request. This process's schema changes bump the generation and
// drop their entry; changes made by other processes are seen once an entry
// is older than the TTL. A missing class is never cached, so a collection
// created elsewhere is found at once.
type classCache struct {
	ttl time.Duration // 0: no caching

	mu      sync.Mutex
	gen     uint64
	entries map[string]cachedClass
}

type cachedClass struct {
	c  *class
	at time.Time
}

func newClassCache(ttl time.Duration) *classCache {
	return &classCache{ttl: max(ttl, 0), entries: map[string]cachedClass{}}
}

// get returns a fresh entry's copy, safe to change.
func (cc *classCache) get(name string) *class {
	if cc.ttl == 0 {
		return nil
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e, ok := cc.entries[name]
	if !ok {
		return nil
	}
	if time.Since(e.at) >= cc.ttl {
		delete(cc.entries, name)
		return nil
	}
	return e.c.clone()
}

// generation is the value to pass to put for a class about to be read.
func (cc *classCache) generation() uint64 {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.gen
}

// put caches c (nil: forgets name) as read at generation gen; a read that
// raced with a schema change of this process is not kept.
func (cc *classCache) put(name string, c *class, gen uint64, at time.Time) {
	if cc.ttl == 0 {
		return
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if gen != cc.gen {
		return
	}
	if c == nil {
		delete(cc.entries, name)
		return
	}
	if len(cc.entries) >= maxCachedClasses {
		clear(cc.entries)
	}
	cc.entries[name] = cachedClass{c: c.clone(), at: at}
}

// invalidate forgets name and makes reads in flight uncacheable; call it
// after changing a class's schema.
func (cc *classCache) invalidate(name string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.gen++
	delete(cc.entries, name)
}

func (c *class) clone() *class {
	cp := *c
	cp.props = maps.Clone(c.props)
	return &cp
}

// searchClass returns the class a search reads: cached when fresh enough
// (cached reports it), else read and cached.
func (s *Store) searchClass(ctx context.Context, name string, reload bool) (c *class, cached bool, err error) {
	if !reload {
		if c := s.classes.get(name); c != nil {
			return c, true, nil
		}
	}
	c, err = s.getClass(ctx, name)
	return c, false, err
}
