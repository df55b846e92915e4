// Package policies owns declarative policy: who a caller is (API keys, JWT),
// what it may do (RBAC over models, collections and admin operations), and
// how much (rate, token, concurrency and budget limits), loaded from YAML and
// hot-reloaded. The gateway asks; policies decide.
package policies

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors; the gateway maps them to 401, 403 and 429.
var (
	// ErrUnauthenticated means no valid credential. Its message never says
	// which check failed.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden means the caller is known but not allowed.
	ErrForbidden = errors.New("forbidden")
	// ErrLimited means a limit rejected the request; see *LimitError.
	ErrLimited = errors.New("limit exceeded")
	// ErrNotFound is a key, tenant or other record that does not exist (or
	// that the caller may not see).
	ErrNotFound = errors.New("not found")
)

// Principal is an authenticated caller.
type Principal struct {
	// Tenant owns the caller's keys, collections and usage.
	Tenant string
	// Subject identifies the caller within its tenant: the API key id or the
	// JWT subject.
	Subject string
	// KeyID is the API key id, empty for JWT callers.
	KeyID string
	// Method is "api_key" or "jwt".
	Method string
	// Roles name RBAC roles.
	Roles []string
	// Scopes are JWT scopes, if any.
	Scopes []string
	// Models, when not empty, further restricts the caller (an API key's
	// --models globs) beyond what its roles grant.
	Models []string
}

// Authenticator turns a bearer credential into a Principal.
type Authenticator interface {
	// Authenticate returns ErrUnauthenticated (wrapped) for every bad,
	// expired, revoked or unknown credential.
	Authenticate(ctx context.Context, credential string) (*Principal, error)
}

// Action is what a caller wants to do.
type Action string

// Actions.
const (
	ActionUseModel      Action = "model"      // resource: the model (route) name
	ActionUseCollection Action = "collection" // resource: the collection name
	ActionAdmin         Action = "admin"      // resource: the admin operation
	ActionForceTarget   Action = "force_target"
)

// Authorizer decides whether a principal may act on a resource.
type Authorizer interface {
	// Authorize returns nil, or an error wrapping ErrForbidden.
	Authorize(p *Principal, action Action, resource string) error
}

// LimitError says which limit rejected a request and when to retry.
type LimitError struct {
	// Limit names the limit: "requests_per_minute", "tokens_per_minute",
	// "concurrency", "budget_day", ...
	Limit string
	// Scope is "key", "tenant", "model" or "global".
	Scope      string
	RetryAfter time.Duration
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s limit %s exceeded", e.Scope, e.Limit)
}

// Unwrap makes errors.Is(err, ErrLimited) true.
func (e *LimitError) Unwrap() error { return ErrLimited }
