package jwtauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/policies"
)

func TestAuthenticateValid(t *testing.T) {
	k := testKeys(t)
	a := newTestAuth(t, testConfig(t))
	want := &policies.Principal{Method: "jwt", Tenant: "acme", Subject: "alice"}
	tests := []struct {
		name  string
		token string
	}{
		{"RS256", sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", claimsFor(issRSA))},
		{"RS384", sign(t, jwt.SigningMethodRS384, k.rsa, "rsa1", claimsFor(issRSA))},
		{"RS512", sign(t, jwt.SigningMethodRS512, k.rsa, "rsa1", claimsFor(issRSA))},
		{"PS256", sign(t, jwt.SigningMethodPS256, k.rsa, "rsa1", claimsFor(issRSA))},
		{"RS256 without kid", sign(t, jwt.SigningMethodRS256, k.rsa, "", claimsFor(issRSA))},
		{"ES256", sign(t, jwt.SigningMethodES256, k.ec256, "ec1", claimsFor(issEC))},
		{"ES384", sign(t, jwt.SigningMethodES384, k.ec384, "ec2", claimsFor(issEC))},
		{"ES256 without kid", sign(t, jwt.SigningMethodES256, k.ec256, "", claimsFor(issEC))},
		{"EdDSA", sign(t, jwt.SigningMethodEdDSA, k.ed, "", claimsFor(issEd))},
		{"HS256", sign(t, jwt.SigningMethodHS256, k.hmac, "", claimsFor(issHS))},
		{"HS384", sign(t, jwt.SigningMethodHS384, k.hmac, "", claimsFor(issHS))},
		{"HS512", sign(t, jwt.SigningMethodHS512, k.hmac, "any-kid", claimsFor(issHS))},
		{"second audience", sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1",
			with(claimsFor(issRSA), "aud", []string{"someone-else", "other-app"}))},
		{"expired within leeway", sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1",
			with(claimsFor(issRSA), "exp", testNow.Add(-20*time.Second).Unix()))},
		{"nbf within leeway", sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1",
			with(claimsFor(issRSA), "nbf", testNow.Add(20*time.Second).Unix()))},
		{"iat within leeway", sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1",
			with(claimsFor(issRSA), "iat", testNow.Add(20*time.Second).Unix()))},
		{"no nbf nor iat", sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1",
			with(claimsFor(issRSA), "nbf", nil, "iat", nil))},
		{"no exp when not required", sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1",
			with(claimsFor(issNoExp), "exp", nil))},
		{"unknown typ header accepted", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claimsFor(issRSA))
			tok.Header["typ"] = "at+jwt"
			s, err := tok.SignedString(k.rsa)
			require.NoError(t, err)
			return s
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := authenticate(a, tt.token)
			require.NoError(t, err)
			require.Equal(t, want, p)
		})
	}
}

func TestAuthenticateRejects(t *testing.T) {
	k := testKeys(t)
	a := newTestAuth(t, testConfig(t))
	valid := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", claimsFor(issRSA))
	rs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", c) }
	base := claimsFor(issRSA)
	tests := []struct {
		name   string
		token  string
		reason string
	}{
		{"empty", "", reasonEmpty},
		{"expired", rs(with(base, "exp", testNow.Add(-time.Minute).Unix())), reasonExpired},
		{"not yet valid", rs(with(base, "nbf", testNow.Add(2*time.Minute).Unix())), reasonNotYetValid},
		{"issued in the future", rs(with(base, "iat", testNow.Add(2*time.Minute).Unix())), reasonFutureIat},
		{"missing exp", rs(with(base, "exp", nil)), reasonMissingClaim},
		{"wrong issuer", rs(with(base, "iss", "https://evil.example")), reasonUnknownIss},
		{"missing issuer", rs(with(base, "iss", nil)), reasonUnknownIss},
		{"issuer as number", rs(with(base, "iss", 42)), reasonUnknownIss},
		{"wrong audience", rs(with(base, "aud", "someone-else")), reasonAudience},
		{"missing audience", rs(with(base, "aud", nil)), reasonMissingClaim},
		{"audience as number", rs(with(base, "aud", 7)), reasonMissingClaim},
		{"audience as object", rs(with(base, "aud", map[string]any{"ragway": true})), reasonMissingClaim},
		{"audience list with number", rs(with(base, "aud", []any{audience, 7})), reasonClaimType},
		{"bad signature (other RSA key)", sign(t, jwt.SigningMethodRS256, k.rsa2, "rsa1", base), reasonSignature},
		{"bad signature (other RSA key, no kid)", sign(t, jwt.SigningMethodRS256, k.rsa2, "", base), reasonSignature},
		{"bad signature (flipped byte)", flipSignature(t, valid), reasonSignature},
		{"bad signature (other EC key)", sign(t, jwt.SigningMethodES256, k.ec256b, "ec1", claimsFor(issEC)), reasonSignature},
		{"bad signature (other Ed25519 key)", sign(t, jwt.SigningMethodEdDSA, k.ed2, "", claimsFor(issEd)), reasonSignature},
		{"bad signature (other HMAC secret)", sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 64)), "", claimsFor(issHS)), reasonSignature},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rsa1", base), reasonAlgorithm},
		{"alg none by hand", rawToken(`{"alg":"none","typ":"JWT"}`, claimsJSON(t, base), nil), reasonAlgorithm},
		{"alg None by hand", rawToken(`{"alg":"None"}`, claimsJSON(t, base), []byte("x")), reasonAlgorithm},
		{"HS256 signed with the RSA public key", sign(t, jwt.SigningMethodHS256, []byte(k.rsaPEM), "rsa1", base), reasonAlgorithm},
		{"HS256 with the RSA public key, header says RS256", hmacAsRS256(t, []byte(k.rsaPEM), base), reasonSignature},
		{"ES256 on an RSA issuer", sign(t, jwt.SigningMethodES256, k.ec256, "rsa1", base), reasonAlgorithm},
		{"RS256 on an HMAC issuer", sign(t, jwt.SigningMethodRS256, k.rsa, "", claimsFor(issHS)), reasonAlgorithm},
		{"ES256 with the P-384 key's kid", sign(t, jwt.SigningMethodES256, k.ec256, "ec2", claimsFor(issEC)), reasonNoKey},
		{"unknown kid", sign(t, jwt.SigningMethodRS256, k.rsa, "nope", base), reasonUnknownKID},
		{"kid as number", rsWithHeader(t, k, "kid", 12, base), reasonUnknownKID},
		{"critical header", rsWithHeader(t, k, "crit", []string{"exp"}, base), reasonCrit},
		{"truncated in payload", valid[:len(valid)/3], reasonMalformed},
		{"truncated signature", valid[:len(valid)-2], reasonSignature},
		{"truncated by one character", valid[:len(valid)-1], reasonMalformed},
		{"signature removed", valid[:strings.LastIndexByte(valid, '.')+1], reasonSignature},
		{"not base64", "!!!." + valid[strings.IndexByte(valid, '.')+1:], reasonMalformed},
		{"base64 with padding", valid + "==", reasonMalformed},
		{"standard base64 alphabet", strings.ReplaceAll(valid, "_", "/") + "/", reasonMalformed},
		{"bad base64 length", "a" + valid, reasonMalformed},
		{"header not JSON", rawToken(`nope`, claimsJSON(t, base), []byte("sig")), reasonMalformed},
		{"header a JSON array", rawToken(`["a"]`, claimsJSON(t, base), []byte("sig")), reasonMalformed},
		{"claims a JSON string", rawToken(`{"alg":"RS256"}`, `"x"`, []byte("sig")), reasonMalformed},
		{"two segments", valid[:strings.LastIndexByte(valid, '.')], reasonMalformed},
		{"four segments", valid + ".abc", reasonMalformed},
		{"leading dot", "." + valid, reasonMalformed},
		{"whitespace", " " + valid, reasonMalformed},
		{"oversized", strings.Repeat("a", MaxTokenBytes+1), reasonTooLarge},
		{"oversized signed", rs(with(base, "pad", strings.Repeat("p", MaxTokenBytes))), reasonTooLarge},
		{"tenant as number", rs(with(base, "tid", 42)), reasonTenant},
		{"tenant missing", rs(with(base, "tid", nil)), reasonTenant},
		{"tenant empty", rs(with(base, "tid", "")), reasonTenant},
		{"tenant with control character", rs(with(base, "tid", "ac\nme")), reasonTenant},
		{"tenant too long", rs(with(base, "tid", strings.Repeat("t", 300))), reasonTenant},
		{"subject missing", rs(with(base, "sub", nil)), reasonSubject},
		{"subject as object", rs(with(base, "sub", map[string]any{"a": 1})), reasonSubject},
		{"subject as number", rs(with(base, "sub", 5)), reasonSubject},
		{"alg missing", rawToken(`{"typ":"JWT"}`, claimsJSON(t, base), []byte("x")), reasonAlgorithm},
		{"alg as number", rawToken(`{"alg":256}`, claimsJSON(t, base), []byte("x")), reasonAlgorithm},
		{"roles as object", rs(with(base, "roles", map[string]any{"admin": true})), reasonRoles},
		{"roles as number", rs(with(base, "roles", 1)), reasonRoles},
		{"roles with a number", rs(with(base, "roles", []any{"admin", 1})), reasonRoles},
		{"roles with null", rs(with(base, "roles", []any{"admin", nil})), reasonRoles},
		{"roles with empty string", rs(with(base, "roles", []any{""})), reasonRoles},
		{"too many roles", rs(with(base, "roles", strings.Repeat("r ", maxListItems+1))), reasonRoles},
		{"scopes as bool", rs(with(base, "scope", true)), reasonScopes},
		{"exp as string", rs(with(base, "exp", "tomorrow")), reasonClaimType},
		{"nbf as bool", rs(with(base, "nbf", true)), reasonClaimType},
		{"iat as array", rs(with(base, "iat", []int{1})), reasonClaimType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := authenticate(a, tt.token)
			requireRejected(t, p, err, tt.token, tt.reason)
		})
	}
}

// flipSignature changes one signature byte, keeping the encoding canonical.
func flipSignature(t *testing.T, token string) string {
	t.Helper()
	i := strings.LastIndexByte(token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	require.NoError(t, err)
	sig[len(sig)/2] ^= 0x01
	return token[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

// hmacAsRS256 forges a token whose header claims RS256 but whose signature
// is an HMAC with the RSA public key as secret.
func hmacAsRS256(t *testing.T, secret []byte, c jwt.MapClaims) string {
	t.Helper()
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(`{"alg":"RS256","kid":"rsa1","typ":"JWT"}`)) + "." +
		enc.EncodeToString([]byte(claimsJSON(t, c)))
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(m.Sum(nil))
}

func rsWithHeader(t *testing.T, k *testKeySet, name string, v any, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header[name] = v
	s, err := tok.SignedString(k.rsa)
	require.NoError(t, err)
	return s
}

func TestClaimMapping(t *testing.T) {
	k := testKeys(t)
	a := newTestAuth(t, testConfig(t))
	rs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", c) }
	base := claimsFor(issRSA)
	fixed := claimsFor(issFixed)
	tests := []struct {
		name  string
		token string
		want  policies.Principal
	}{
		{"roles array", rs(with(base, "roles", []string{"admin", "user"})),
			policies.Principal{Tenant: "acme", Subject: "alice", Roles: []string{"admin", "user"}}},
		{"roles space-separated", rs(with(base, "roles", "  admin   user ")),
			policies.Principal{Tenant: "acme", Subject: "alice", Roles: []string{"admin", "user"}}},
		{"roles null", rs(with(base, "roles", nil)),
			policies.Principal{Tenant: "acme", Subject: "alice"}},
		{"roles empty array", rs(with(base, "roles", []string{})),
			policies.Principal{Tenant: "acme", Subject: "alice", Roles: []string{}}},
		{"scope string", rs(with(base, "scope", "chat:write models:read")),
			policies.Principal{Tenant: "acme", Subject: "alice", Scopes: []string{"chat:write", "models:read"}}},
		{"scope array", rs(with(base, "scope", []string{"chat:write"})),
			policies.Principal{Tenant: "acme", Subject: "alice", Scopes: []string{"chat:write"}}},
		{"unicode tenant", rs(with(base, "tid", "société")),
			policies.Principal{Tenant: "société", Subject: "alice"}},
		{"fixed tenant and custom claim names", rs(with(fixed, "email", "bob@example.com",
			"groups", []string{"ops"}, "scp", "a b", "tid", "ignored", "roles", "ignored", "scope", "ignored")),
			policies.Principal{Tenant: "fixed-tenant", Subject: "bob@example.com", Roles: []string{"ops"}, Scopes: []string{"a", "b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := authenticate(a, tt.token)
			require.NoError(t, err)
			tt.want.Method = "jwt"
			require.Equal(t, &tt.want, p)
		})
	}
	t.Run("custom subject claim missing", func(t *testing.T) {
		tok := rs(fixed)
		p, err := authenticate(a, tok)
		requireRejected(t, p, err, tok, reasonSubject)
	})
}

func TestErrorMessagesAreUniform(t *testing.T) {
	k := testKeys(t)
	a := newTestAuth(t, testConfig(t))
	tokens := []string{
		"garbage",
		sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", with(claimsFor(issRSA), "exp", testNow.Add(-time.Hour).Unix())),
		sign(t, jwt.SigningMethodRS256, k.rsa2, "rsa1", claimsFor(issRSA)),
		sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", with(claimsFor(issRSA), "aud", "x")),
	}
	reasons := map[string]bool{}
	for _, tok := range tokens {
		_, err := authenticate(a, tok)
		require.Error(t, err)
		require.Equal(t, "jwt: unauthenticated", err.Error())
		var ae *Error
		require.ErrorAs(t, err, &ae)
		reasons[ae.Reason()] = true
	}
	require.Len(t, reasons, len(tokens), "each failure keeps its own reason for debug logs")
}

func TestReasonIsSanitized(t *testing.T) {
	a := newTestAuth(t, testConfig(t))
	k := testKeys(t)
	kid := "evil\nlog line" + strings.Repeat("k", 500)
	tok := rsWithHeader(t, k, "kid", kid, claimsFor(issRSA))
	p, err := authenticate(a, tok)
	requireRejected(t, p, err, tok, reasonUnknownKID)
	var ae *Error
	require.ErrorAs(t, err, &ae)
	require.NotContains(t, ae.Reason(), "\n")
	require.LessOrEqual(t, len(ae.Reason()), maxDetail+len(reasonUnknownKID)+8)
}

func TestClosedAuthenticatorRejects(t *testing.T) {
	k := testKeys(t)
	a, err := New(testConfig(t), WithClock(func() time.Time { return testNow }))
	require.NoError(t, err)
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", claimsFor(issRSA))
	_, err = a.Authenticate(context.Background(), tok)
	require.NoError(t, err)
	require.NoError(t, a.Close())
	require.NoError(t, a.Close())
	p, err := a.Authenticate(context.Background(), tok)
	requireRejected(t, p, err, tok, reasonClosed)
}

func TestNewRejectsBadConfig(t *testing.T) {
	a, err := New(Config{})
	require.Error(t, err)
	require.Nil(t, a)
}

func BenchmarkAuthenticate(b *testing.B) {
	k := testKeys(b)
	a := newTestAuth(b, testConfig(b))
	tokens := map[string]string{
		"RS256": sign(b, jwt.SigningMethodRS256, k.rsa, "rsa1", claimsFor(issRSA)),
		"ES256": sign(b, jwt.SigningMethodES256, k.ec256, "ec1", claimsFor(issEC)),
		"EdDSA": sign(b, jwt.SigningMethodEdDSA, k.ed, "", claimsFor(issEd)),
		"HS256": sign(b, jwt.SigningMethodHS256, k.hmac, "", claimsFor(issHS)),
	}
	for name, tok := range tokens {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				if _, err := a.Authenticate(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
