package jwtauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/policies"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Issuers of the test config.
const (
	issRSA   = "https://rsa.example"
	issEC    = "https://ec.example"
	issEd    = "https://ed.example"
	issHS    = "https://hs.example"
	issFixed = "https://fixed.example"
	issNoExp = "https://noexp.example"
	audience = "ragway"
)

// testNow is the clock of every test authenticator.
var testNow = time.Unix(1_700_000_000, 0)

type testKeySet struct {
	rsa, rsa2     *rsa.PrivateKey
	ec256, ec384  *ecdsa.PrivateKey
	ec256b        *ecdsa.PrivateKey
	ed, ed2       ed25519.PrivateKey
	hmac          []byte
	rsaPEM, ecPEM string
}

var (
	keysOnce sync.Once
	keysVal  *testKeySet
)

// testKeys generates the test keys once per test binary.
func testKeys(t testing.TB) *testKeySet {
	t.Helper()
	keysOnce.Do(func() {
		k := &testKeySet{hmac: make([]byte, 64)}
		check := func(err error) {
			if err != nil {
				panic(err)
			}
		}
		var err error
		k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
		check(err)
		k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048)
		check(err)
		k.ec256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		check(err)
		k.ec256b, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		check(err)
		k.ec384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		check(err)
		_, k.ed, err = ed25519.GenerateKey(rand.Reader)
		check(err)
		_, k.ed2, err = ed25519.GenerateKey(rand.Reader)
		check(err)
		_, err = rand.Read(k.hmac)
		check(err)
		k.rsaPEM = pemOf(&k.rsa.PublicKey)
		k.ecPEM = pemOf(&k.ec256.PublicKey)
		keysVal = k
	})
	require.NotNil(t, keysVal)
	return keysVal
}

func pemOf(pub any) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// testConfig has one issuer per key family plus claim mapping variants.
func testConfig(t testing.TB) Config {
	k := testKeys(t)
	noExp := false
	return Config{Issuers: []Issuer{
		{
			Issuer: issRSA, Audiences: []string{audience, "other-app"},
			Algorithms: []string{"RS256", "RS384", "RS512", "PS256"},
			Keys:       []Key{{KID: "rsa1", PEM: k.rsaPEM}},
		},
		{
			Issuer: issEC, Audiences: []string{audience},
			Algorithms: []string{"ES256", "ES384"},
			Keys: []Key{
				{KID: "ec1", PEM: k.ecPEM},
				{KID: "ec2", PEM: pemOf(&k.ec384.PublicKey)},
			},
		},
		{
			Issuer: issEd, Audiences: []string{audience},
			Algorithms: []string{"EdDSA"},
			Keys:       []Key{{PEM: pemOf(k.ed.Public())}},
		},
		{
			Issuer: issHS, Audiences: []string{audience},
			Algorithms: []string{"HS256", "HS384", "HS512"},
			HMACSecret: llm.Secret(k.hmac),
		},
		{
			Issuer: issFixed, Audiences: []string{audience},
			Algorithms: []string{"RS256"},
			Keys:       []Key{{KID: "rsa1", PEM: k.rsaPEM}},
			Tenant:     "fixed-tenant",
			Claims:     Claims{Subject: "email", Roles: "groups", Scopes: "scp"},
		},
		{
			Issuer: issNoExp, Audiences: []string{audience},
			Algorithms: []string{"RS256"},
			Keys:       []Key{{KID: "rsa1", PEM: k.rsaPEM}},
			RequireExp: &noExp,
		},
	}}
}

// newTestAuth builds an authenticator from cfg on the fixed test clock.
func newTestAuth(t testing.TB, cfg Config) *Authenticator {
	t.Helper()
	a, err := New(cfg, WithClock(func() time.Time { return testNow }), WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, a.Close()) })
	return a
}

// claimsFor returns valid claims for iss on the test clock.
func claimsFor(iss string) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": iss,
		"aud": audience,
		"sub": "alice",
		"tid": "acme",
		"iat": testNow.Unix(),
		"nbf": testNow.Unix(),
		"exp": testNow.Add(5 * time.Minute).Unix(),
	}
}

// with returns a copy of c with the given changes; a nil value deletes.
func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		name := kv[i].(string)
		if kv[i+1] == nil {
			delete(out, name)
			continue
		}
		out[name] = kv[i+1]
	}
	return out
}

// sign signs claims with method and key, setting kid when not empty.
func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

// rawToken assembles a token from raw header and claims JSON and a raw
// signature, without signing.
func rawToken(header, claims string, sig []byte) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims)) + "." + enc.EncodeToString(sig)
}

func claimsJSON(t testing.TB, c jwt.MapClaims) string {
	t.Helper()
	b, err := json.Marshal(c)
	require.NoError(t, err)
	return string(b)
}

// requireRejected checks that err is the uniform authentication failure with
// the wanted reason, and that nothing reveals the token.
func requireRejected(t *testing.T, p *policies.Principal, err error, token, reason string) {
	t.Helper()
	require.Nil(t, p)
	require.Error(t, err)
	require.ErrorIs(t, err, policies.ErrUnauthenticated)
	require.Equal(t, "jwt: unauthenticated", err.Error())
	var ae *Error
	require.True(t, errors.As(err, &ae), "error is %T", err)
	require.True(t, strings.HasPrefix(ae.Reason(), reason), "reason %q, want prefix %q", ae.Reason(), reason)
	if len(token) > 16 {
		require.NotContains(t, ae.Reason(), token)
		for _, seg := range strings.Split(token, ".") {
			if len(seg) > 16 {
				require.NotContains(t, ae.Reason(), seg)
			}
		}
	}
}

func authenticate(a *Authenticator, token string) (*policies.Principal, error) {
	return a.Authenticate(context.Background(), token)
}
