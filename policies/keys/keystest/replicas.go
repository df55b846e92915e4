package keystest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/policies"
	"github.com/ragway/ragway/policies/keys"
)

func testConcurrentCreates(t *testing.T, open Opener) {
	e := newEnv(t, open, "concurrent", keys.Options{})
	const workers, each = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	plain := make(chan string, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				_, key, err := e.svc.Create(e.ctx, keys.CreateRequest{Tenant: "acme", Name: fmt.Sprintf("w%d-%d", w, i)})
				errs <- err
				plain <- key.Reveal()
			}
		})
	}
	wg.Wait()
	close(errs)
	close(plain)
	for err := range errs {
		require.NoError(t, err)
	}
	list, err := e.svc.List(e.ctx, "acme")
	require.NoError(t, err)
	require.Len(t, list, workers*each)
	ids := map[string]bool{}
	for _, r := range list {
		require.False(t, ids[r.ID], "duplicate id %s", r.ID)
		ids[r.ID] = true
	}
	for key := range plain {
		p, err := e.svc.Authenticate(e.ctx, key)
		require.NoError(t, err)
		require.True(t, ids[p.KeyID])
	}
}

// testConcurrentRotates checks that of several replicas rotating one key at
// once exactly one succeeds.
func testConcurrentRotates(t *testing.T, open Opener) {
	e := newEnv(t, open, "rotates", keys.Options{})
	rec, _ := e.create(keys.CreateRequest{Tenant: "acme", Name: "k"})
	const n = 6
	svcs := make([]*keys.Service, n)
	for i := range svcs {
		svcs[i] = keys.NewService(open(t, "rotates"), keys.Options{Now: e.clock.Now})
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, _, errs[i] = svcs[i].Rotate(e.ctx, "acme", rec.ID) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		require.ErrorIs(t, err, keys.ErrInactive)
	}
	require.Equal(t, 1, ok)
	list, err := e.svc.List(e.ctx, "acme")
	require.NoError(t, err)
	require.Len(t, list, 2, "one new key, not several")
}

// testSecondReplica revokes a key through one replica and watches another
// replica's cache let go of it within its TTL.
func testSecondReplica(t *testing.T, open Opener) {
	const ttl = 2 * time.Second
	e := newEnv(t, open, "replicas", keys.Options{})
	rec, key := e.create(keys.CreateRequest{Tenant: "acme", Name: "k"})
	replicaB := keys.NewService(open(t, "replicas"), keys.Options{Now: e.clock.Now})
	cacheA := keys.NewCache(e.svc, keys.CacheOptions{TTL: ttl, Now: e.clock.Now})
	cacheB := keys.NewCache(replicaB, keys.CacheOptions{TTL: ttl, Now: e.clock.Now})

	for _, c := range []*keys.Cache{cacheA, cacheB} {
		p, err := c.Authenticate(e.ctx, key)
		require.NoError(t, err)
		require.Equal(t, rec.ID, p.KeyID)
	}
	require.NoError(t, e.svc.Revoke(e.ctx, "acme", rec.ID))
	cacheA.Invalidate(rec.ID)
	p, err := cacheA.Authenticate(e.ctx, key)
	requireRejected(t, p, err)

	// Replica B answers from its cache until the TTL runs out, then asks
	// the store and sees the revocation.
	e.clock.Advance(ttl - time.Millisecond)
	_, err = cacheB.Authenticate(e.ctx, key)
	require.NoError(t, err, "within the TTL the cached answer stands")
	e.clock.Advance(time.Millisecond)
	p, err = cacheB.Authenticate(e.ctx, key)
	requireRejected(t, p, err)

	// The same on the live clock: a short TTL, polled.
	_, key2 := e.create(keys.CreateRequest{Tenant: "acme", Name: "k2"})
	live := keys.NewCache(replicaB, keys.CacheOptions{TTL: 50 * time.Millisecond})
	_, err = live.Authenticate(e.ctx, key2)
	require.NoError(t, err)
	id2 := key2[len(keys.Prefix) : len(keys.Prefix)+keys.IDLen]
	require.NoError(t, e.svc.Revoke(e.ctx, "acme", id2))
	require.Eventually(t, func() bool {
		_, err := live.Authenticate(e.ctx, key2)
		return err != nil
	}, 5*time.Second, 10*time.Millisecond)
	pos, neg := live.Len()
	require.Equal(t, 0, pos)
	require.Equal(t, 1, neg)
}

// testConcurrentOpen opens one new database from several handles at once,
// as replicas starting together do; migrations must apply once and cleanly.
func testConcurrentOpen(t *testing.T, open Opener) {
	const n = 4
	stores := make([]keys.Store, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i] = open(t, "opens") })
	}
	wg.Wait()
	clock := NewClock()
	_, key, err := keys.NewService(stores[0], keys.Options{Now: clock.Now}).Create(t.Context(), keys.CreateRequest{Tenant: "acme", Name: "k"})
	require.NoError(t, err)
	for _, s := range stores {
		_, err := keys.NewService(s, keys.Options{Now: clock.Now}).Authenticate(t.Context(), key.Reveal())
		require.NoError(t, err)
	}
	// Reopening applies nothing twice.
	again := open(t, "opens")
	list, err := again.List(t.Context(), "acme")
	require.NoError(t, err)
	require.Len(t, list, 1)
}

// testStoreErrors checks that a failing store is an error, not a
// rejection, and is never cached as one.
func testStoreErrors(t *testing.T, open Opener) {
	e := newEnv(t, open, "errors", keys.Options{})
	_, key := e.create(keys.CreateRequest{Tenant: "acme", Name: "k"})
	broken := open(t, "errors")
	svc := keys.NewService(broken, keys.Options{Now: e.clock.Now})
	c := keys.NewCache(svc, keys.CacheOptions{Now: e.clock.Now})
	require.NoError(t, broken.Close())

	_, err := svc.Authenticate(e.ctx, key)
	require.Error(t, err)
	require.NotErrorIs(t, err, policies.ErrUnauthenticated)
	_, err = c.Authenticate(e.ctx, key)
	require.Error(t, err)
	require.NotErrorIs(t, err, policies.ErrUnauthenticated)
	pos, neg := c.Len()
	require.Zero(t, pos+neg, "store errors are not cached")
	_, _, err = svc.Create(e.ctx, keys.CreateRequest{Tenant: "acme", Name: "x"})
	require.Error(t, err)
}
