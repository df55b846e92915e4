package jwtauth

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ragway/ragway/policies"
)

// Bounds on mapped claims.
const (
	maxIdentityBytes = 256
	maxListItems     = 64
)

// principalFrom maps verified claims into a principal.
func principalFrom(is *Issuer, claims jwt.MapClaims) (*policies.Principal, error) {
	tenant := is.Tenant
	if tenant == "" {
		var ok bool
		tenant, ok = claims[is.Claims.Tenant].(string)
		if !ok || !validIdentity(tenant) {
			return nil, fail(reasonTenant)
		}
	}
	subject, ok := claims[is.Claims.Subject].(string)
	if !ok || !validIdentity(subject) {
		return nil, fail(reasonSubject)
	}
	roles, ok := stringList(claims, is.Claims.Roles)
	if !ok {
		return nil, fail(reasonRoles)
	}
	scopes, ok := stringList(claims, is.Claims.Scopes)
	if !ok {
		return nil, fail(reasonScopes)
	}
	return &policies.Principal{
		Method:  "jwt",
		Tenant:  tenant,
		Subject: subject,
		Roles:   roles,
		Scopes:  scopes,
	}, nil
}

// validIdentity accepts a non-empty, printable, valid UTF-8 string of at most
// maxIdentityBytes.
func validIdentity(s string) bool {
	if s == "" || len(s) > maxIdentityBytes || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// stringList reads a claim that is absent, a JSON array of strings or a
// space-separated string. Anything else, or an element that is not a valid
// identity, makes ok false.
func stringList(claims jwt.MapClaims, name string) (list []string, ok bool) {
	if name == "" {
		return nil, true
	}
	v, present := claims[name]
	if !present || v == nil {
		return nil, true
	}
	switch t := v.(type) {
	case string:
		fields := strings.Fields(t)
		if len(fields) > maxListItems {
			return nil, false
		}
		for _, f := range fields {
			if !validIdentity(f) {
				return nil, false
			}
		}
		return fields, true
	case []any:
		if len(t) > maxListItems {
			return nil, false
		}
		out := make([]string, 0, len(t))
		for _, e := range t {
			s, isString := e.(string)
			if !isString || !validIdentity(s) {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	default:
		return nil, false
	}
}
