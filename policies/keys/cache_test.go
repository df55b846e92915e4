package keys

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/policies"
)

// countingVerifier accepts the keys in good and counts calls.
type countingVerifier struct {
	good  map[string]*policies.Principal
	until time.Time
	err   error
	calls atomic.Int64
}

func (v *countingVerifier) Verify(_ context.Context, cred string) (*policies.Principal, time.Time, error) {
	v.calls.Add(1)
	if v.err != nil {
		return nil, time.Time{}, v.err
	}
	if p, ok := v.good[cred]; ok {
		return clonePrincipal(p), v.until, nil
	}
	return nil, time.Time{}, errInvalidKey
}

func testKey(i int) string {
	id := fmt.Sprintf("%016d", i)
	id = strings.Map(func(r rune) rune { return rune('a' + (r - '0')) }, id)
	return formatCredential(id, strings.Repeat("s", SecretLen))
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func TestCacheHitsMissesAndExpiry(t *testing.T) {
	clock := &testClock{t: time.Unix(1000, 0)}
	good := testKey(1)
	v := &countingVerifier{good: map[string]*policies.Principal{good: {KeyID: "k1", Roles: []string{"a"}}}}
	c := NewCache(v, CacheOptions{TTL: 2 * time.Second, NegativeTTL: time.Second, Now: clock.Now})

	for range 3 {
		p, err := c.Authenticate(t.Context(), good)
		require.NoError(t, err)
		require.Equal(t, "k1", p.KeyID)
		p.Roles[0] = "mutated"
	}
	require.EqualValues(t, 1, v.calls.Load(), "answered from the cache")
	p, err := c.Authenticate(t.Context(), good)
	require.NoError(t, err)
	require.Equal(t, []string{"a"}, p.Roles, "callers get copies")

	bad := testKey(2)
	for range 3 {
		_, err := c.Authenticate(t.Context(), bad)
		require.ErrorIs(t, err, policies.ErrUnauthenticated)
	}
	require.EqualValues(t, 2, v.calls.Load(), "rejections are cached")
	clock.add(time.Second)
	_, err = c.Authenticate(t.Context(), bad)
	require.ErrorIs(t, err, policies.ErrUnauthenticated)
	require.EqualValues(t, 3, v.calls.Load(), "negative entries expire")

	clock.add(time.Second)
	_, err = c.Authenticate(t.Context(), good)
	require.NoError(t, err)
	require.EqualValues(t, 4, v.calls.Load(), "positive entries expire after the TTL")

	_, err = c.Authenticate(t.Context(), "garbage")
	require.ErrorIs(t, err, policies.ErrUnauthenticated)
	require.EqualValues(t, 4, v.calls.Load(), "malformed keys never reach the store")
	pos, neg := c.Len()
	require.Equal(t, 1, pos)
	require.Equal(t, 1, neg)

	c.Invalidate("k1")
	pos, _ = c.Len()
	require.Zero(t, pos)
}

func TestCacheHonoursValidUntil(t *testing.T) {
	clock := &testClock{t: time.Unix(1000, 0)}
	good := testKey(1)
	v := &countingVerifier{good: map[string]*policies.Principal{good: {KeyID: "k1"}}, until: time.Unix(1000, 500_000_000)}
	c := NewCache(v, CacheOptions{TTL: time.Minute, Now: clock.Now})
	_, err := c.Authenticate(t.Context(), good)
	require.NoError(t, err)
	clock.add(500 * time.Millisecond)
	_, err = c.Authenticate(t.Context(), good)
	require.NoError(t, err)
	require.EqualValues(t, 2, v.calls.Load(), "the entry ended with the key")
}

func TestCacheIsBounded(t *testing.T) {
	good := map[string]*policies.Principal{}
	for i := range 20 {
		good[testKey(i)] = &policies.Principal{KeyID: fmt.Sprint(i)}
	}
	v := &countingVerifier{good: good}
	c := NewCache(v, CacheOptions{MaxEntries: 5})
	for k := range good {
		_, err := c.Authenticate(t.Context(), k)
		require.NoError(t, err)
	}
	for i := 100; i < 200; i++ {
		_, err := c.Authenticate(t.Context(), testKey(i))
		require.ErrorIs(t, err, policies.ErrUnauthenticated)
	}
	pos, neg := c.Len()
	require.Equal(t, 5, pos, "a flood of bad keys does not evict good ones")
	require.Equal(t, 5, neg)
}

func TestCacheDoesNotCacheStoreErrors(t *testing.T) {
	boom := errors.New("database down")
	v := &countingVerifier{err: boom}
	c := NewCache(v, CacheOptions{})
	for range 2 {
		_, err := c.Authenticate(t.Context(), testKey(1))
		require.ErrorIs(t, err, boom)
		require.NotErrorIs(t, err, policies.ErrUnauthenticated)
	}
	require.EqualValues(t, 2, v.calls.Load())
}

func TestCacheConcurrentUse(t *testing.T) {
	good := map[string]*policies.Principal{testKey(1): {KeyID: "1"}, testKey(2): {KeyID: "2"}}
	c := NewCache(&countingVerifier{good: good}, CacheOptions{MaxEntries: 2, TTL: time.Millisecond})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := testKey(1 + (w+i)%4)
				p, err := c.Authenticate(context.Background(), k)
				if good[k] != nil {
					if assert.NoError(t, err) {
						assert.Equal(t, good[k].KeyID, p.KeyID)
					}
				} else {
					assert.Error(t, err)
				}
			}
		})
	}
	wg.Wait()
}

// gatedVerifier answers with the principal once released, as a slow
// database would.
type gatedVerifier struct {
	p       *policies.Principal
	entered chan struct{}
	release chan struct{}
}

func (v *gatedVerifier) Verify(context.Context, string) (*policies.Principal, time.Time, error) {
	close(v.entered)
	<-v.release
	return clonePrincipal(v.p), time.Time{}, nil
}

func TestInvalidateDuringVerifyIsNotUndone(t *testing.T) {
	key := testKey(7)
	v := &gatedVerifier{p: &policies.Principal{KeyID: "k7"}, entered: make(chan struct{}), release: make(chan struct{})}
	c := NewCache(v, CacheOptions{TTL: time.Hour})
	done := make(chan error, 1)
	go func() {
		_, err := c.Authenticate(t.Context(), key)
		done <- err
	}()
	<-v.entered
	c.Invalidate("k7") // the key is revoked while the check is in flight
	close(v.release)
	require.NoError(t, <-done)
	pos, _ := c.Len()
	require.Zero(t, pos, "the answer verified before the revocation must not be cached")
}
