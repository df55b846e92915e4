// Package keys issues and checks Ragway API keys. A key is shown once, when
// it is created or rotated; only a hash of its secret part is stored. Every
// read and write is scoped by tenant: another tenant's key id is
// policies.ErrNotFound.
//
// A key looks like rgw-<id>-<secret>: the id (16 base32 characters) is
// stored in clear and names the key in lists, logs and metrics; the secret
// (32 random bytes, 52 base32 characters) is stored only as SHA-256, or as
// HMAC-SHA-256 when a server pepper is configured, and compared in constant
// time.
//
// Rotation issues a new key (a new id whose RotatedFrom names the old one)
// and ends the old key after a grace period, 0 by default: the old key stops
// working at once. With a grace period the old key keeps working until
// RevokedAt, which rotation sets to the rotation time plus the grace.
package keys

import (
	"context"
	"io"
	"time"

	"github.com/ragway/ragway/llm"
)

// Record is an API key as lists and the admin API show it. It never holds
// the key or its hash.
type Record struct {
	ID     string   `json:"id"`
	Tenant string   `json:"tenant"`
	Name   string   `json:"name"`
	Roles  []string `json:"roles,omitempty"`
	// Models, when not empty, restricts the key to model names matching one
	// of these globs (path.Match syntax).
	Models    []string  `json:"models,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is zero for a key that never expires.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// RevokedAt is zero for an active key. It may lie in the future: a
	// rotated key keeps working until then.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// LastRotated is when this key was rotated (replaced by a new key).
	LastRotated time.Time `json:"last_rotated,omitzero"`
	// RotatedFrom is the id of the key this one replaced.
	RotatedFrom string `json:"rotated_from,omitempty"`
}

// Masked is the key's display form, "rgw-<id>-…": enough to recognise it,
// nothing of the secret.
func (r Record) Masked() string { return Prefix + r.ID + "-…" }

// Active reports whether the key may authenticate at now.
func (r Record) Active(now time.Time) bool {
	if !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt) {
		return false
	}
	return r.RevokedAt.IsZero() || now.Before(r.RevokedAt)
}

// Stored is a record with the hash of its secret, as a Store keeps it.
type Stored struct {
	Record
	// Hash is the digest of the key's id and secret under HashAlg.
	Hash    []byte `json:"-"`
	HashAlg string `json:"-"`
}

// Store keeps key records. Implementations: policies/keys/sqlite and
// policies/keys/postgres; policies/keys/keystest is the conformance suite
// they pass. Methods scoped by tenant return an error wrapping
// policies.ErrNotFound for an id the tenant does not own.
type Store interface {
	// Insert adds a new key.
	Insert(ctx context.Context, k Stored) error
	// Get returns one key of tenant.
	Get(ctx context.Context, tenant, id string) (Record, error)
	// List returns tenant's keys, oldest first.
	List(ctx context.Context, tenant string) ([]Record, error)
	// Revoke sets RevokedAt to at unless the key is already revoked by then;
	// revoking a revoked key is not an error.
	Revoke(ctx context.Context, tenant, id string, at time.Time) error
	// Rotate atomically marks the key id as rotated at and revoked at
	// revokeAt, and inserts next. It fails with ErrInactive when the key is
	// already revoked, rotated or expired at at.
	Rotate(ctx context.Context, tenant, id string, at, revokeAt time.Time, next Stored) error
	// Lookup returns a key by id alone, for authentication.
	Lookup(ctx context.Context, id string) (Stored, error)
	io.Closer
}

// ErrInactive is the error for rotating a key that is revoked, already
// rotated or expired. It is an invalid request (400).
var ErrInactive error = &llm.ParamError{Param: "id", Message: "key is revoked, rotated or expired"}
