package keys

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/ragway/ragway/policies"
)

var _ policies.Authenticator = (*Cache)(nil)

// Verifier checks a key and says until when the answer holds; *Service is
// one.
type Verifier interface {
	Verify(ctx context.Context, credential string) (*policies.Principal, time.Time, error)
}

// Cache defaults.
const (
	DefaultCacheTTL         = 2 * time.Second
	DefaultNegativeCacheTTL = time.Second
	DefaultCacheSize        = 10000
)

// CacheOptions configure a Cache. Zero fields take the defaults above.
type CacheOptions struct {
	// TTL bounds how long a verified key is trusted without asking the
	// store: a revocation reaches every replica within TTL.
	TTL time.Duration
	// NegativeTTL is how long a rejected well-formed key is remembered.
	NegativeTTL time.Duration
	// MaxEntries bounds each of the positive and negative tables.
	MaxEntries int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Cache authenticates keys through a Verifier and remembers the answers
// briefly, so the request path does not hit the store on every call. It is
// keyed by a SHA-256 of the whole key and never holds the key itself.
// Rejections are cached apart from acceptances, so a flood of bad keys
// cannot push good ones out. Store errors are never cached.
type Cache struct {
	next   Verifier
	ttl    time.Duration
	negTTL time.Duration
	max    int
	now    func() time.Time

	mu  sync.Mutex
	pos map[[sha256.Size]byte]cached
	neg map[[sha256.Size]byte]time.Time
	// gen counts invalidations: an answer verified before one is not
	// cached after it, so a revocation cannot be undone by a slow check.
	gen uint64
}

type cached struct {
	p       *policies.Principal
	expires time.Time
}

// NewCache returns a Cache in front of next.
func NewCache(next Verifier, o CacheOptions) *Cache {
	c := &Cache{next: next, ttl: o.TTL, negTTL: o.NegativeTTL, max: o.MaxEntries, now: o.Now,
		pos: make(map[[sha256.Size]byte]cached), neg: make(map[[sha256.Size]byte]time.Time)}
	if c.ttl <= 0 {
		c.ttl = DefaultCacheTTL
	}
	if c.negTTL <= 0 {
		c.negTTL = DefaultNegativeCacheTTL
	}
	if c.max <= 0 {
		c.max = DefaultCacheSize
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// Authenticate implements policies.Authenticator.
func (c *Cache) Authenticate(ctx context.Context, credential string) (*policies.Principal, error) {
	if _, _, err := parseCredential(credential); err != nil {
		return nil, errInvalidKey
	}
	sum := sha256.Sum256([]byte(credential))
	now := c.now()
	p, hit, gen := c.lookup(sum, now)
	if hit {
		if p == nil {
			return nil, errInvalidKey
		}
		return p, nil
	}
	p, until, err := c.next.Verify(ctx, credential)
	switch {
	case errors.Is(err, policies.ErrUnauthenticated):
		c.store(sum, nil, now.Add(c.negTTL), gen)
		return nil, errInvalidKey
	case err != nil:
		return nil, err
	}
	exp := now.Add(c.ttl)
	if !until.IsZero() && until.Before(exp) {
		exp = until
	}
	c.store(sum, clonePrincipal(p), exp, gen)
	return p, nil
}

// lookup returns a cached answer: a principal, or nil for a rejection.
func (c *Cache) lookup(sum [sha256.Size]byte, now time.Time) (p *policies.Principal, hit bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.pos[sum]; ok {
		if now.Before(e.expires) {
			return clonePrincipal(e.p), true, c.gen
		}
		delete(c.pos, sum)
	}
	if exp, ok := c.neg[sum]; ok {
		if now.Before(exp) {
			return nil, true, c.gen
		}
		delete(c.neg, sum)
	}
	return nil, false, c.gen
}

// store remembers p (nil for a rejection) until exp.
func (c *Cache) store(sum [sha256.Size]byte, p *policies.Principal, exp time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return // invalidated while this answer was being verified
	}
	if p == nil {
		makeRoom(c.neg, c.max, func(e time.Time) time.Time { return e }, c.now())
		c.neg[sum] = exp
		return
	}
	delete(c.neg, sum)
	makeRoom(c.pos, c.max, func(e cached) time.Time { return e.expires }, c.now())
	c.pos[sum] = cached{p: p, expires: exp}
}

// makeRoom drops expired entries when m is full, then arbitrary ones until
// one more fits.
func makeRoom[V any](m map[[sha256.Size]byte]V, max int, expires func(V) time.Time, now time.Time) {
	if len(m) < max {
		return
	}
	for k, v := range m {
		if !now.Before(expires(v)) {
			delete(m, k)
		}
	}
	for k := range m {
		if len(m) < max {
			return
		}
		delete(m, k)
	}
}

// Invalidate forgets every cached answer for key id, so a revocation or
// rotation made through this replica takes effect here at once.
func (c *Cache) Invalidate(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.pos {
		if e.p.KeyID == id {
			delete(c.pos, k)
		}
	}
}

// Len returns the number of cached acceptances and rejections.
func (c *Cache) Len() (positive, negative int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pos), len(c.neg)
}

func clonePrincipal(p *policies.Principal) *policies.Principal {
	q := *p
	q.Roles = slices.Clone(p.Roles)
	q.Scopes = slices.Clone(p.Scopes)
	q.Models = slices.Clone(p.Models)
	return &q
}
