package keystest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/policies"
	"github.com/ragway/ragway/policies/keys"
)

func testCreateAuthenticate(t *testing.T, open Opener) {
	e := newEnv(t, open, "create", keys.Options{})
	rec, key := e.create(keys.CreateRequest{Tenant: "acme", Name: "ci bot", Roles: []string{"user", "user", "batch"},
		Models: []string{"gpt-*", "llama3"}, ExpiresIn: time.Hour})
	require.True(t, keys.IsKey(key))
	require.Len(t, key, keys.KeyLen)
	require.Contains(t, key, rec.ID)
	require.Equal(t, []string{"user", "batch"}, rec.Roles, "duplicate roles dropped")
	require.Equal(t, e.clock.Now().Add(time.Hour), rec.ExpiresAt)

	got, err := e.svc.Get(e.ctx, "acme", rec.ID)
	require.NoError(t, err)
	require.Equal(t, rec, got)

	p, err := e.svc.Authenticate(e.ctx, key)
	require.NoError(t, err)
	require.Equal(t, &policies.Principal{Method: "api_key", Tenant: "acme", Subject: rec.ID, KeyID: rec.ID,
		Roles: []string{"user", "batch"}, Models: []string{"gpt-*", "llama3"}}, p)

	// Only a hash is stored: neither the key nor its secret appears.
	st, err := e.store.Lookup(e.ctx, rec.ID)
	require.NoError(t, err)
	secret := key[len(keys.Prefix)+keys.IDLen+1:]
	require.NotContains(t, string(st.Hash), secret)
	require.Len(t, st.Hash, 32)
	require.Equal(t, keys.HashSHA256, st.HashAlg)

	// A key with no expiry, roles or models.
	bare, bareKey := e.create(keys.CreateRequest{Tenant: "acme", Name: "bare"})
	require.True(t, bare.ExpiresAt.IsZero())
	p, err = e.svc.Authenticate(e.ctx, bareKey)
	require.NoError(t, err)
	require.Nil(t, p.Roles)
	require.Nil(t, p.Models)
}

// requireRejected checks the one rejection every bad key gets.
func requireRejected(t *testing.T, p *policies.Principal, err error) {
	t.Helper()
	require.ErrorIs(t, err, policies.ErrUnauthenticated)
	require.Nil(t, p)
	require.Equal(t, "invalid api key: unauthenticated", err.Error(), "one message for every failure")
}

func testRejectsBadKeys(t *testing.T, open Opener) {
	e := newEnv(t, open, "reject", keys.Options{})
	rec, key := e.create(keys.CreateRequest{Tenant: "acme", Name: "k"})
	flip := func(s string, i int) string {
		c := byte('a')
		if s[i] == 'a' {
			c = 'b'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	cases := map[string]string{
		"wrong secret":      flip(key, len(key)-1),
		"wrong secret head": flip(key, len(keys.Prefix)+keys.IDLen+1),
		"unknown id":        flip(key, len(keys.Prefix)),
		"truncated":         key[:len(key)-1],
		"extended":          key + "a",
		"uppercase":         strings.ToUpper(key),
		"no prefix":         strings.TrimPrefix(key, keys.Prefix),
		"empty":             "",
		"bearer":            "Bearer " + key,
		"id only":           keys.Prefix + rec.ID,
	}
	for name, cred := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := e.svc.Authenticate(e.ctx, cred)
			requireRejected(t, p, err)
			c := keys.NewCache(e.svc, keys.CacheOptions{Now: e.clock.Now})
			p, err = c.Authenticate(e.ctx, cred)
			requireRejected(t, p, err)
		})
	}
	_, err := e.svc.Authenticate(e.ctx, key)
	require.NoError(t, err, "the real key still works")
}

func testExpired(t *testing.T, open Opener) {
	e := newEnv(t, open, "expired", keys.Options{})
	_, key := e.create(keys.CreateRequest{Tenant: "acme", Name: "short", ExpiresIn: time.Hour})
	e.clock.Advance(time.Hour - time.Microsecond)
	_, err := e.svc.Authenticate(e.ctx, key)
	require.NoError(t, err)

	// A cache never keeps a key past its expiry, whatever its TTL.
	c := keys.NewCache(e.svc, keys.CacheOptions{TTL: time.Minute, Now: e.clock.Now})
	_, err = c.Authenticate(e.ctx, key)
	require.NoError(t, err)
	e.clock.Advance(time.Microsecond)
	p, err := e.svc.Authenticate(e.ctx, key)
	requireRejected(t, p, err)
	p, err = c.Authenticate(e.ctx, key)
	requireRejected(t, p, err)
}

func testRevoked(t *testing.T, open Opener) {
	e := newEnv(t, open, "revoked", keys.Options{})
	rec, key := e.create(keys.CreateRequest{Tenant: "acme", Name: "k"})
	_, other := e.create(keys.CreateRequest{Tenant: "acme", Name: "other"})
	require.NoError(t, e.svc.Revoke(e.ctx, "acme", rec.ID))
	p, err := e.svc.Authenticate(e.ctx, key)
	requireRejected(t, p, err)
	_, err = e.svc.Authenticate(e.ctx, other)
	require.NoError(t, err, "revoking one key leaves others alone")

	got, err := e.svc.Get(e.ctx, "acme", rec.ID)
	require.NoError(t, err)
	require.Equal(t, e.clock.Now(), got.RevokedAt)

	e.clock.Advance(time.Minute)
	require.NoError(t, e.svc.Revoke(e.ctx, "acme", rec.ID), "revoking twice is fine")
	got, err = e.svc.Get(e.ctx, "acme", rec.ID)
	require.NoError(t, err)
	require.Equal(t, e.clock.Now().Add(-time.Minute), got.RevokedAt, "the first revocation time stays")

	_, _, err = e.svc.Rotate(e.ctx, "acme", rec.ID)
	require.ErrorIs(t, err, keys.ErrInactive)
	require.ErrorIs(t, err, llm.ErrInvalidRequest)
	require.ErrorIs(t, e.svc.Revoke(e.ctx, "acme", "aaaaaaaaaaaaaaaa"), policies.ErrNotFound)
	require.ErrorIs(t, e.svc.Revoke(e.ctx, "acme", "not an id"), policies.ErrNotFound)
}

func testRotated(t *testing.T, open Opener) {
	e := newEnv(t, open, "rotated", keys.Options{})
	old, oldKey := e.create(keys.CreateRequest{Tenant: "acme", Name: "k", Roles: []string{"admin"},
		Models: []string{"m-*"}, ExpiresIn: 24 * time.Hour})
	e.clock.Advance(time.Minute)
	next, nextSecret, err := e.svc.Rotate(e.ctx, "acme", old.ID)
	require.NoError(t, err)
	newKey := nextSecret.Reveal()
	require.NotEqual(t, oldKey, newKey)
	require.NotEqual(t, old.ID, next.ID)
	require.Equal(t, old.ID, next.RotatedFrom)
	require.Equal(t, old.Roles, next.Roles)
	require.Equal(t, old.Models, next.Models)
	require.Equal(t, old.ExpiresAt, next.ExpiresAt, "rotation keeps the expiry")
	require.Equal(t, "k", next.Name)

	p, err := e.svc.Authenticate(e.ctx, oldKey)
	requireRejected(t, p, err)
	p, err = e.svc.Authenticate(e.ctx, newKey)
	require.NoError(t, err)
	require.Equal(t, next.ID, p.KeyID)

	was, err := e.svc.Get(e.ctx, "acme", old.ID)
	require.NoError(t, err)
	require.Equal(t, e.clock.Now(), was.LastRotated)
	require.Equal(t, e.clock.Now(), was.RevokedAt)

	_, _, err = e.svc.Rotate(e.ctx, "acme", old.ID)
	require.ErrorIs(t, err, keys.ErrInactive, "a rotated key cannot be rotated again")
	_, _, err = e.svc.Rotate(e.ctx, "acme", next.ID)
	require.NoError(t, err, "the new key can be rotated in turn")
}

func testRotationGrace(t *testing.T, open Opener) {
	e := newEnv(t, open, "grace", keys.Options{RotationGrace: 10 * time.Minute})
	old, oldKey := e.create(keys.CreateRequest{Tenant: "acme", Name: "k"})
	_, nextSecret, err := e.svc.Rotate(e.ctx, "acme", old.ID)
	require.NoError(t, err)
	e.clock.Advance(10*time.Minute - time.Microsecond)
	_, err = e.svc.Authenticate(e.ctx, oldKey)
	require.NoError(t, err, "the old key works during the grace period")
	_, _, err = e.svc.Rotate(e.ctx, "acme", old.ID)
	require.ErrorIs(t, err, keys.ErrInactive)
	e.clock.Advance(time.Microsecond)
	p, err := e.svc.Authenticate(e.ctx, oldKey)
	requireRejected(t, p, err)
	_, err = e.svc.Authenticate(e.ctx, nextSecret.Reveal())
	require.NoError(t, err)

	// Revoking during the grace period ends the old key at once.
	old2, oldKey2 := e.create(keys.CreateRequest{Tenant: "acme", Name: "k2"})
	_, _, err = e.svc.Rotate(e.ctx, "acme", old2.ID)
	require.NoError(t, err)
	require.NoError(t, e.svc.Revoke(e.ctx, "acme", old2.ID))
	p, err = e.svc.Authenticate(e.ctx, oldKey2)
	requireRejected(t, p, err)
}

func testListMasks(t *testing.T, open Opener) {
	e := newEnv(t, open, "list", keys.Options{})
	var created []keys.Record
	var plain []string
	for i := range 3 {
		rec, key := e.create(keys.CreateRequest{Tenant: "acme", Name: fmt.Sprintf("k%d", i)})
		created = append(created, rec)
		plain = append(plain, key)
		e.clock.Advance(time.Second)
	}
	require.NoError(t, e.svc.Revoke(e.ctx, "acme", created[1].ID))
	list, err := e.svc.List(e.ctx, "acme")
	require.NoError(t, err)
	require.Len(t, list, 3)
	for i, r := range list {
		require.Equal(t, created[i].ID, r.ID, "oldest first")
		require.Equal(t, keys.Prefix+r.ID+"-…", r.Masked())
		secret := plain[i][len(keys.Prefix)+keys.IDLen+1:]
		require.NotContains(t, r.Masked(), secret[:4])
		js, err := json.Marshal(r)
		require.NoError(t, err)
		require.NotContains(t, string(js), secret)
		require.NotContains(t, fmt.Sprintf("%+v", r), secret)
	}
	require.False(t, list[1].RevokedAt.IsZero(), "revoked keys are listed")
	empty, err := e.svc.List(e.ctx, "nobody")
	require.NoError(t, err)
	require.Empty(t, empty)
	_, err = e.svc.List(e.ctx, "")
	require.ErrorIs(t, err, llm.ErrInvalidRequest)
}

func testTenantIsolation(t *testing.T, open Opener) {
	e := newEnv(t, open, "tenants", keys.Options{})
	a, aKey := e.create(keys.CreateRequest{Tenant: "tenant-a", Name: "a"})
	b, _ := e.create(keys.CreateRequest{Tenant: "tenant-b", Name: "b"})

	_, err := e.svc.Get(e.ctx, "tenant-b", a.ID)
	require.ErrorIs(t, err, policies.ErrNotFound)
	require.ErrorIs(t, e.svc.Revoke(e.ctx, "tenant-b", a.ID), policies.ErrNotFound)
	_, _, err = e.svc.Rotate(e.ctx, "tenant-b", a.ID)
	require.ErrorIs(t, err, policies.ErrNotFound)
	_, err = e.svc.Get(e.ctx, "tenant-a-", a.ID)
	require.ErrorIs(t, err, policies.ErrNotFound, "no prefix matching")

	listB, err := e.svc.List(e.ctx, "tenant-b")
	require.NoError(t, err)
	require.Len(t, listB, 1)
	require.Equal(t, b.ID, listB[0].ID)

	p, err := e.svc.Authenticate(e.ctx, aKey)
	require.NoError(t, err, "tenant B's attempts changed nothing")
	require.Equal(t, "tenant-a", p.Tenant)
	got, err := e.svc.Get(e.ctx, "tenant-a", a.ID)
	require.NoError(t, err)
	require.Equal(t, a, got)
}

func testPepper(t *testing.T, open Opener) {
	pepper := llm.Secret("a server pepper of enough length")
	e := newEnv(t, open, "pepper", keys.Options{Pepper: pepper})
	rec, key := e.create(keys.CreateRequest{Tenant: "acme", Name: "peppered"})
	st, err := e.store.Lookup(e.ctx, rec.ID)
	require.NoError(t, err)
	require.Equal(t, keys.HashHMACSHA256, st.HashAlg)
	_, err = e.svc.Authenticate(e.ctx, key)
	require.NoError(t, err)

	for name, o := range map[string]keys.Options{
		"no pepper":    {Now: e.clock.Now},
		"other pepper": {Now: e.clock.Now, Pepper: "another pepper of enough length"},
	} {
		p, err := keys.NewService(e.store, o).Authenticate(e.ctx, key)
		requireRejected(t, p, err)
		_ = name
	}
	// Keys made before the pepper keep working after it is added.
	_, plainKey := e.create(keys.CreateRequest{Tenant: "acme", Name: "x"})
	_, err = keys.NewService(e.store, keys.Options{Now: e.clock.Now, Pepper: pepper}).Authenticate(e.ctx, plainKey)
	require.NoError(t, err)
}

func testInvalidRequests(t *testing.T, open Opener) {
	e := newEnv(t, open, "invalid", keys.Options{})
	long := strings.Repeat("x", 300)
	cases := map[string]keys.CreateRequest{
		"no tenant":      {Name: "n"},
		"no name":        {Tenant: "t"},
		"tenant space":   {Tenant: "a b", Name: "n"},
		"tenant control": {Tenant: "a\x00", Name: "n"},
		"long tenant":    {Tenant: long, Name: "n"},
		"long name":      {Tenant: "t", Name: long},
		"bad utf8":       {Tenant: "t", Name: "\xff"},
		"bad glob":       {Tenant: "t", Name: "n", Models: []string{"gpt-["}},
		"comma role":     {Tenant: "t", Name: "n", Roles: []string{"a,b"}},
		"empty role":     {Tenant: "t", Name: "n", Roles: []string{""}},
		"negative ttl":   {Tenant: "t", Name: "n", ExpiresIn: -time.Second},
		"huge ttl":       {Tenant: "t", Name: "n", ExpiresIn: keys.MaxExpiresIn + 1},
		"many roles":     {Tenant: "t", Name: "n", Roles: strings.Split(strings.Repeat("r,", keys.MaxRoles+1), ",")},
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			_, key, err := e.svc.Create(e.ctx, req)
			require.ErrorIs(t, err, llm.ErrInvalidRequest)
			var pe *llm.ParamError
			require.True(t, errors.As(err, &pe))
			require.Empty(t, key)
		})
	}
	list, err := e.svc.List(e.ctx, "t")
	require.NoError(t, err)
	require.Empty(t, list, "nothing was stored")
}
