package keys

import (
	"path"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ragway/ragway/llm"
)

// Bounds on what a key may carry.
const (
	MaxTenantLen = 128
	MaxNameLen   = 128
	MaxRoles     = 32
	MaxRoleLen   = 64
	MaxModels    = 64
	MaxModelLen  = 256
	// MaxExpiresIn bounds --expires.
	MaxExpiresIn = 10 * 365 * 24 * time.Hour
)

// normalize validates the request and drops duplicate roles and models.
func (r CreateRequest) normalize() (CreateRequest, error) {
	switch {
	case !printable(r.Tenant, MaxTenantLen, false):
		return r, llm.InvalidRequest("tenant", "tenant must be 1 to %d printable characters without spaces", MaxTenantLen)
	case !printable(r.Name, MaxNameLen, true):
		return r, llm.InvalidRequest("name", "name must be 1 to %d printable characters", MaxNameLen)
	case len(r.Roles) > MaxRoles:
		return r, llm.InvalidRequest("roles", "at most %d roles", MaxRoles)
	case len(r.Models) > MaxModels:
		return r, llm.InvalidRequest("models", "at most %d model globs", MaxModels)
	case r.ExpiresIn < 0 || r.ExpiresIn > MaxExpiresIn:
		return r, llm.InvalidRequest("expires", "expiry must be between 0 (never) and %s", MaxExpiresIn)
	}
	for _, role := range r.Roles {
		if !printable(role, MaxRoleLen, false) || strings.Contains(role, ",") {
			return r, llm.InvalidRequest("roles", "role %q must be 1 to %d printable characters without spaces or commas", clip(role), MaxRoleLen)
		}
	}
	for _, m := range r.Models {
		if !printable(m, MaxModelLen, false) || strings.Contains(m, ",") {
			return r, llm.InvalidRequest("models", "model glob %q must be 1 to %d printable characters without spaces or commas", clip(m), MaxModelLen)
		}
		if _, err := path.Match(m, ""); err != nil {
			return r, llm.InvalidRequest("models", "model glob %q: %v", clip(m), err)
		}
	}
	r.Roles = dedupe(r.Roles)
	r.Models = dedupe(r.Models)
	return r, nil
}

// printable reports whether s is valid UTF-8 of 1 to max bytes without
// control characters (and without spaces unless spaces is set).
func printable(s string, max int, spaces bool) bool {
	if s == "" || len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if !unicode.IsPrint(c) || (!spaces && unicode.IsSpace(c)) || (c == ' ' && !spaces) {
			return false
		}
	}
	return true
}

// dedupe drops repeats, keeping the first occurrence; nil for none.
func dedupe(in []string) []string {
	var out []string
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// clip bounds a value quoted back in an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
