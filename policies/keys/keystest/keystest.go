// Package keystest is the conformance suite every keys.Store passes, run
// through keys.Service and keys.Cache as the gateway uses them.
package keystest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/policies/keys"
)

// Opener returns a new handle on the database named db, creating it empty
// on first use. Handles with the same name share data (as replicas share
// one database); different names never do. The handle is closed by a
// t.Cleanup registered by the Opener.
type Opener func(t *testing.T, db string) keys.Store

// Clock is a settable clock for tests.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at a fixed instant.
func NewClock() *Clock { return &Clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is what one subtest works with.
type env struct {
	t     *testing.T
	ctx   context.Context
	clock *Clock
	store keys.Store
	svc   *keys.Service
}

func newEnv(t *testing.T, open Opener, db string, o keys.Options) *env {
	t.Helper()
	clock := NewClock()
	o.Now = clock.Now
	store := open(t, db)
	return &env{t: t, ctx: t.Context(), clock: clock, store: store, svc: keys.NewService(store, o)}
}

// Run runs every conformance test against stores from open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"CreateAuthenticate", testCreateAuthenticate},
		{"RejectsBadKeys", testRejectsBadKeys},
		{"Expired", testExpired},
		{"Revoked", testRevoked},
		{"Rotated", testRotated},
		{"RotationGrace", testRotationGrace},
		{"ListMasks", testListMasks},
		{"TenantIsolation", testTenantIsolation},
		{"ConcurrentCreates", testConcurrentCreates},
		{"ConcurrentRotates", testConcurrentRotates},
		{"SecondReplica", testSecondReplica},
		{"ConcurrentOpen", testConcurrentOpen},
		{"Pepper", testPepper},
		{"InvalidRequests", testInvalidRequests},
		{"StoreErrorsAreNotRejections", testStoreErrors},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// create makes a key and returns its record and plaintext.
func (e *env) create(req keys.CreateRequest) (keys.Record, string) {
	e.t.Helper()
	rec, key, err := e.svc.Create(e.ctx, req)
	require.NoError(e.t, err)
	return rec, key.Reveal()
}
