package keys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/policies"
)

var _ policies.Authenticator = (*Service)(nil)

// errInvalidKey is the one error every failed authentication returns, so
// nothing tells a caller whether the id, the secret, the expiry or a
// revocation failed.
var errInvalidKey = fmt.Errorf("invalid api key: %w", policies.ErrUnauthenticated)

// Options configure a Service.
type Options struct {
	// Pepper, when set, hashes new keys with HMAC-SHA-256 under it.
	// Keys hashed with a pepper stop working if it is removed or changed.
	Pepper llm.Secret
	// RotationGrace is how long a rotated key keeps working; 0 ends it at
	// once.
	RotationGrace time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Rand is the source of key material; crypto/rand when nil.
	Rand io.Reader
}

// Service creates, lists, revokes, rotates and authenticates API keys over
// a Store. It is what the CLI and the admin API call. Authenticate reads the
// store on every call; put a Cache in front of it on the request path.
type Service struct {
	store  Store
	hasher hasher
	grace  time.Duration
	now    func() time.Time
	rand   io.Reader
}

// NewService returns a Service over store. It does not own store.
func NewService(store Store, o Options) *Service {
	s := &Service{store: store, hasher: hasher{pepper: []byte(o.Pepper.Reveal())}, grace: o.RotationGrace, now: o.Now, rand: o.Rand}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = defaultRand
	}
	return s
}

// CreateRequest describes a new key.
type CreateRequest struct {
	Tenant string
	Name   string
	Roles  []string
	// Models, when not empty, restricts the key to model names matching
	// one of these globs.
	Models []string
	// ExpiresIn, when positive, makes the key expire that long after
	// creation; 0 means never.
	ExpiresIn time.Duration
}

// clock returns the current time at the precision every store keeps.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Create issues a new key and returns its record and the key itself. The
// key is never available again: show it once (Reveal) and drop it.
// Invalid requests fail with an error wrapping llm.ErrInvalidRequest.
func (s *Service) Create(ctx context.Context, req CreateRequest) (Record, llm.Secret, error) {
	req, err := req.normalize()
	if err != nil {
		return Record{}, "", fmt.Errorf("create key: %w", err)
	}
	now := s.clock()
	rec := Record{Tenant: req.Tenant, Name: req.Name, Roles: req.Roles, Models: req.Models, CreatedAt: now}
	if req.ExpiresIn > 0 {
		rec.ExpiresAt = now.Add(req.ExpiresIn)
	}
	st, key, err := s.issue(rec)
	if err != nil {
		return Record{}, "", fmt.Errorf("create key: %w", err)
	}
	if err := s.store.Insert(ctx, st); err != nil {
		return Record{}, "", fmt.Errorf("create key: %w", err)
	}
	return st.Record, key, nil
}

// issue draws a new id and secret for rec.
func (s *Service) issue(rec Record) (Stored, llm.Secret, error) {
	id, secret, err := newCredential(s.rand)
	if err != nil {
		return Stored{}, "", err
	}
	rec.ID = id
	alg := s.hasher.alg()
	digest, _ := s.hasher.sum(alg, id, secret)
	return Stored{Record: rec, Hash: digest, HashAlg: alg}, llm.Secret(formatCredential(id, secret)), nil
}

// Get returns one of tenant's keys, or an error wrapping
// policies.ErrNotFound.
func (s *Service) Get(ctx context.Context, tenant, id string) (Record, error) {
	if tenant == "" || !validID(id) {
		return Record{}, fmt.Errorf("get key: %w", policies.ErrNotFound)
	}
	rec, err := s.store.Get(ctx, tenant, id)
	if err != nil {
		return Record{}, fmt.Errorf("get key: %w", err)
	}
	return rec, nil
}

// List returns tenant's keys, oldest first, revoked ones included.
func (s *Service) List(ctx context.Context, tenant string) ([]Record, error) {
	if tenant == "" {
		return nil, fmt.Errorf("list keys: %w", llm.InvalidRequest("tenant", "tenant is required"))
	}
	recs, err := s.store.List(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return recs, nil
}

// Revoke ends one of tenant's keys now. Revoking a revoked key is not an
// error. Caches in front of other replicas notice within their TTL.
func (s *Service) Revoke(ctx context.Context, tenant, id string) error {
	if tenant == "" || !validID(id) {
		return fmt.Errorf("revoke key: %w", policies.ErrNotFound)
	}
	if err := s.store.Revoke(ctx, tenant, id, s.clock()); err != nil {
		return fmt.Errorf("revoke key: %w", err)
	}
	return nil
}

// Rotate replaces one of tenant's keys with a new one carrying the same
// name, roles, models and expiry, and returns the new record and key. The
// old key stops working after the rotation grace (at once by default).
// Rotating a revoked, rotated or expired key fails with ErrInactive.
func (s *Service) Rotate(ctx context.Context, tenant, id string) (Record, llm.Secret, error) {
	old, err := s.Get(ctx, tenant, id)
	if err != nil {
		return Record{}, "", fmt.Errorf("rotate key: %w", err)
	}
	now := s.clock()
	if !old.RevokedAt.IsZero() || !old.Active(now) {
		return Record{}, "", fmt.Errorf("rotate key: %w", ErrInactive)
	}
	next := Record{Tenant: old.Tenant, Name: old.Name, Roles: old.Roles, Models: old.Models,
		CreatedAt: now, ExpiresAt: old.ExpiresAt, RotatedFrom: old.ID}
	st, key, err := s.issue(next)
	if err != nil {
		return Record{}, "", fmt.Errorf("rotate key: %w", err)
	}
	if err := s.store.Rotate(ctx, tenant, id, now, now.Add(s.grace), st); err != nil {
		return Record{}, "", fmt.Errorf("rotate key: %w", err)
	}
	return st.Record, key, nil
}

// Authenticate checks a key. Every bad, unknown, expired or revoked key
// gets the same error wrapping policies.ErrUnauthenticated; a store failure
// is returned wrapped as is.
func (s *Service) Authenticate(ctx context.Context, credential string) (*policies.Principal, error) {
	p, _, err := s.Verify(ctx, credential)
	return p, err
}

// Verify is Authenticate that also says until when the answer holds (the
// key's expiry or scheduled revocation; zero when neither is set), so a
// cache never keeps a key past its end.
func (s *Service) Verify(ctx context.Context, credential string) (*policies.Principal, time.Time, error) {
	id, secret, err := parseCredential(credential)
	if err != nil {
		return nil, time.Time{}, errInvalidKey
	}
	k, err := s.store.Lookup(ctx, id)
	if errors.Is(err, policies.ErrNotFound) {
		s.hasher.verify(s.hasher.alg(), id, secret, nil) // same work as a known id
		return nil, time.Time{}, errInvalidKey
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("authenticate key: %w", err)
	}
	if !s.hasher.verify(k.HashAlg, id, secret, k.Hash) || !k.Active(s.clock()) {
		return nil, time.Time{}, errInvalidKey
	}
	return principal(k.Record), validUntil(k.Record), nil
}

func principal(r Record) *policies.Principal {
	return &policies.Principal{Method: "api_key", Tenant: r.Tenant, Subject: r.ID, KeyID: r.ID,
		Roles: slices.Clone(r.Roles), Models: slices.Clone(r.Models)}
}

// validUntil is the earliest of the key's expiry and revocation.
func validUntil(r Record) time.Time {
	switch {
	case r.ExpiresAt.IsZero():
		return r.RevokedAt
	case r.RevokedAt.IsZero() || r.ExpiresAt.Before(r.RevokedAt):
		return r.ExpiresAt
	}
	return r.RevokedAt
}
