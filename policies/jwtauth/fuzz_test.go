package jwtauth

import (
	"context"
	"errors"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ragway/ragway/policies"
)

// FuzzAuthenticate feeds arbitrary strings and single-byte mutations of
// valid tokens: nothing panics, every failure is the uniform error, and only
// an unmodified valid token authenticates.
func FuzzAuthenticate(f *testing.F) {
	k := testKeys(f)
	a := newTestAuth(f, testConfig(f))
	valid := []string{
		sign(f, jwt.SigningMethodRS256, k.rsa, "rsa1", claimsFor(issRSA)),
		sign(f, jwt.SigningMethodPS256, k.rsa, "", with(claimsFor(issRSA), "roles", "a b")),
		sign(f, jwt.SigningMethodES256, k.ec256, "ec1", claimsFor(issEC)),
		sign(f, jwt.SigningMethodEdDSA, k.ed, "", claimsFor(issEd)),
		sign(f, jwt.SigningMethodHS256, k.hmac, "", with(claimsFor(issHS), "roles", []string{"admin"})),
	}
	isValid := make(map[string]bool, len(valid))
	for _, v := range valid {
		isValid[v] = true
	}
	for i, v := range valid {
		f.Add(v, uint8(i), uint16(0), byte(0))
		f.Add(v[:len(v)/2], uint8(i), uint16(len(v)-1), byte('A'))
	}
	for _, s := range []string{
		"", ".", "..", "a.b.c", "e30.e30.", "eyJhbGciOiJub25lIn0.e30.",
		`{"alg":"none"}`, "\x00\xff.\x00.\x00", "Bearer x.y.z",
	} {
		f.Add(s, uint8(0), uint16(3), byte('.'))
	}
	ctx := context.Background()
	check := func(t *testing.T, token string) {
		p, err := a.Authenticate(ctx, token)
		if err == nil {
			if !isValid[token] {
				t.Fatalf("authenticated a token that is not one of the valid ones")
			}
			if p == nil || p.Method != "jwt" || p.Tenant == "" || p.Subject == "" {
				t.Fatalf("bad principal %+v", p)
			}
			return
		}
		var ae *Error
		if p != nil || !errors.Is(err, policies.ErrUnauthenticated) || !errors.As(err, &ae) ||
			err.Error() != "jwt: unauthenticated" || ae.Reason() == "" {
			t.Fatalf("bad failure: %v (%T)", err, err)
		}
	}
	f.Fuzz(func(t *testing.T, s string, which uint8, pos uint16, b byte) {
		check(t, s)
		v := valid[int(which)%len(valid)]
		i := int(pos) % len(v)
		if v[i] == b {
			return
		}
		mutated := []byte(v)
		mutated[i] = b
		if _, err := a.Authenticate(ctx, string(mutated)); err == nil {
			t.Fatalf("authenticated a token mutated at byte %d", i)
		}
		check(t, v[:i]+v[i+1:])
		check(t, v[:i]+string(b)+v[i:])
	})
}
