package jwtauth

import (
	"errors"
	"strings"
	"unicode"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ragway/ragway/policies"
)

// Error is an authentication failure. Its message never says which check
// failed; Reason does, for debug logs only. Neither ever contains the token.
type Error struct {
	reason string
	detail string
}

// Error returns the same message for every failure.
func (e *Error) Error() string { return "jwt: " + policies.ErrUnauthenticated.Error() }

// Unwrap makes errors.Is(err, policies.ErrUnauthenticated) true.
func (e *Error) Unwrap() error { return policies.ErrUnauthenticated }

// Reason says which check failed, for debug logging. It may hold short,
// quoted fragments of the token's header or claims (a kid, a JSON decoding
// error), never the token itself.
func (e *Error) Reason() string {
	if e.detail == "" {
		return e.reason
	}
	return e.reason + ": " + e.detail
}

// Reasons, fixed phrases.
const (
	reasonEmpty        = "empty token"
	reasonTooLarge     = "token too large"
	reasonMalformed    = "malformed token"
	reasonUnknownIss   = "unknown or missing issuer"
	reasonAlgorithm    = "algorithm not allowed"
	reasonCrit         = "unsupported critical header"
	reasonUnknownKID   = "unknown key id"
	reasonNoKey        = "no usable key"
	reasonSignature    = "invalid signature"
	reasonExpired      = "token expired"
	reasonNotYetValid  = "token not yet valid"
	reasonFutureIat    = "token issued in the future"
	reasonIssuer       = "invalid issuer"
	reasonAudience     = "invalid audience"
	reasonMissingClaim = "required claim missing"
	reasonClaimType    = "claim has an invalid type"
	reasonTenant       = "missing or invalid tenant"
	reasonSubject      = "missing or invalid subject"
	reasonRoles        = "invalid roles claim"
	reasonScopes       = "invalid scopes claim"
	reasonClosed       = "authenticator closed"
	reasonInvalid      = "invalid token"
)

// Errors the key lookup returns; classify turns them into reasons.
var (
	errUnknownKID = errors.New("unknown kid")
	errNoKey      = errors.New("no key fits the algorithm")
)

func fail(reason string) error { return &Error{reason: reason} }

// maxDetail bounds the detail kept for logs.
const maxDetail = 200

// failFrom classifies a parse or validation error.
func failFrom(err error) error {
	return &Error{reason: classify(err), detail: sanitize(err.Error())}
}

func classify(err error) string {
	checks := []struct {
		target error
		reason string
	}{
		{errUnknownKID, reasonUnknownKID},
		{errNoKey, reasonNoKey},
		{jwt.ErrTokenMalformed, reasonMalformed},
		{jwt.ErrTokenSignatureInvalid, reasonSignature},
		{jwt.ErrInvalidType, reasonClaimType},
		{jwt.ErrTokenExpired, reasonExpired},
		{jwt.ErrTokenNotValidYet, reasonNotYetValid},
		{jwt.ErrTokenUsedBeforeIssued, reasonFutureIat},
		{jwt.ErrTokenInvalidIssuer, reasonIssuer},
		{jwt.ErrTokenInvalidAudience, reasonAudience},
		{jwt.ErrTokenRequiredClaimMissing, reasonMissingClaim},
		{jwt.ErrTokenUnverifiable, reasonNoKey},
	}
	for _, c := range checks {
		if errors.Is(err, c.target) {
			return c.reason
		}
	}
	return reasonInvalid
}

// sanitize keeps a detail printable and short, so a crafted token cannot
// forge log lines.
func sanitize(s string) string {
	if len(s) > maxDetail {
		s = s[:maxDetail] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
}
