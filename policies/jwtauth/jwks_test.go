package jwtauth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// leakCheck verifies, after every other cleanup of t, that t started no
// goroutine it did not stop.
func leakCheck(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// jwksServer serves a JWK Set that a test can replace, counting fetches.
type jwksServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	body    []byte
	status  int
	fetches atomic.Int64
}

func newJWKSServer(t *testing.T) *jwksServer {
	t.Helper()
	s := &jwksServer{status: http.StatusOK, body: []byte(`{"keys":[]}`)}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		body, status := s.body, s.status
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

type jwk struct {
	kid string
	pub any
	alg jwkset.ALG
}

func (s *jwksServer) serve(t *testing.T, keys ...jwk) {
	t.Helper()
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{}}
	for _, k := range keys {
		j, err := jwkset.NewJWKFromKey(k.pub, jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: k.alg, USE: jwkset.UseSig},
			Marshal:  jwkset.JWKMarshalOptions{Private: true},
		})
		require.NoError(t, err)
		set.Keys = append(set.Keys, j.Marshal())
	}
	body, err := json.Marshal(set)
	require.NoError(t, err)
	s.setRaw(http.StatusOK, body)
}

func (s *jwksServer) setRaw(status int, body []byte) {
	s.mu.Lock()
	s.status, s.body = status, body
	s.mu.Unlock()
}

func jwksConfig(url string, refresh, unknownKID time.Duration) Config {
	return Config{Issuers: []Issuer{{
		Issuer:                 issRSA,
		Audiences:              []string{audience},
		Algorithms:             []string{"RS256", "ES256", "EdDSA"},
		JWKSURL:                url,
		JWKSRefreshInterval:    refresh,
		JWKSUnknownKIDInterval: unknownKID,
		JWKSTimeout:            2 * time.Second,
	}}}
}

type rotationKeys struct {
	k1, k2, k3 *rsa.PrivateKey
}

func newRotationKeys(t *testing.T) rotationKeys {
	t.Helper()
	k := testKeys(t)
	k3, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return rotationKeys{k1: k.rsa, k2: k.rsa2, k3: k3}
}

func TestJWKSRotationOnUnknownKID(t *testing.T) {
	leakCheck(t)
	rk := newRotationKeys(t)
	k := testKeys(t)
	s := newJWKSServer(t)
	s.serve(t, jwk{"k1", &rk.k1.PublicKey, jwkset.AlgRS256}, jwk{"ec", &k.ec256.PublicKey, jwkset.AlgES256})
	a := newTestAuth(t, jwksConfig(s.srv.URL, time.Hour, time.Hour))
	require.EqualValues(t, 1, s.fetches.Load())

	tok1 := sign(t, jwt.SigningMethodRS256, rk.k1, "k1", claimsFor(issRSA))
	p, err := authenticate(a, tok1)
	require.NoError(t, err)
	require.Equal(t, "alice", p.Subject)
	_, err = authenticate(a, sign(t, jwt.SigningMethodES256, k.ec256, "ec", claimsFor(issRSA)))
	require.NoError(t, err)
	_, err = authenticate(a, sign(t, jwt.SigningMethodES256, k.ec256, "", claimsFor(issRSA)))
	require.NoError(t, err, "a token without kid tries every JWKS key of its family")

	// Rotate: k1 leaves the set, k2 joins. The unknown kid triggers a refresh.
	s.serve(t, jwk{"k2", &rk.k2.PublicKey, jwkset.AlgRS256})
	tok2 := sign(t, jwt.SigningMethodRS256, rk.k2, "k2", claimsFor(issRSA))
	_, err = authenticate(a, tok2)
	require.NoError(t, err)
	require.EqualValues(t, 2, s.fetches.Load())

	p, err = authenticate(a, tok1)
	requireRejected(t, p, err, tok1, reasonUnknownKID)

	// The unknown-kid refresh is rate limited: k3 is not fetched again now.
	s.serve(t, jwk{"k3", &rk.k3.PublicKey, jwkset.AlgRS256})
	tok3 := sign(t, jwt.SigningMethodRS256, rk.k3, "k3", claimsFor(issRSA))
	start := time.Now()
	p, err = authenticate(a, tok3)
	requireRejected(t, p, err, tok3, reasonUnknownKID)
	require.Less(t, time.Since(start), time.Second, "a rate-limited unknown kid fails at once")
	require.EqualValues(t, 2, s.fetches.Load())
}

func TestJWKSBackgroundRefresh(t *testing.T) {
	leakCheck(t)
	rk := newRotationKeys(t)
	s := newJWKSServer(t)
	s.serve(t, jwk{"k1", &rk.k1.PublicKey, jwkset.AlgRS256})
	a := newTestAuth(t, jwksConfig(s.srv.URL, MinJWKSInterval, time.Hour))

	// Spend the one unknown-kid refresh so only the background loop is left.
	unknown := sign(t, jwt.SigningMethodRS256, rk.k1, "kx", claimsFor(issRSA))
	_, err := authenticate(a, unknown)
	require.Error(t, err)

	s.serve(t, jwk{"k2", &rk.k2.PublicKey, jwkset.AlgRS256})
	tok1 := sign(t, jwt.SigningMethodRS256, rk.k1, "k1", claimsFor(issRSA))
	tok2 := sign(t, jwt.SigningMethodRS256, rk.k2, "k2", claimsFor(issRSA))
	require.Eventually(t, func() bool {
		_, err := authenticate(a, tok2)
		return err == nil
	}, 10*time.Second, 50*time.Millisecond)
	p, err := authenticate(a, tok1)
	requireRejected(t, p, err, tok1, reasonUnknownKID)
}

func TestJWKSUnavailableAtStart(t *testing.T) {
	leakCheck(t)
	rk := newRotationKeys(t)
	s := newJWKSServer(t)
	s.setRaw(http.StatusInternalServerError, []byte("down"))
	a := newTestAuth(t, jwksConfig(s.srv.URL, time.Hour, time.Hour))

	tok := sign(t, jwt.SigningMethodRS256, rk.k1, "", claimsFor(issRSA))
	p, err := authenticate(a, tok)
	requireRejected(t, p, err, tok, reasonNoKey)

	s.serve(t, jwk{"k1", &rk.k1.PublicKey, jwkset.AlgRS256})
	tok = sign(t, jwt.SigningMethodRS256, rk.k1, "k1", claimsFor(issRSA))
	_, err = authenticate(a, tok)
	require.NoError(t, err, "the unknown kid refresh picks up the recovered JWKS")
}

func TestJWKSRejectsBadKeys(t *testing.T) {
	leakCheck(t)
	k := testKeys(t)
	s := newJWKSServer(t)
	// An HMAC key in the JWKS with the RSA public key's kid must never verify
	// an HS256 token, nor an RS256 one.
	s.serve(t,
		jwk{"oct", []byte(k.rsaPEM), jwkset.AlgHS256},
		jwk{"ed", k.ed.Public(), jwkset.AlgEdDSA},
	)
	a := newTestAuth(t, jwksConfig(s.srv.URL, time.Hour, time.Hour))

	tests := []struct {
		name   string
		token  string
		reason string
	}{
		{"HS256 with a JWKS oct key", sign(t, jwt.SigningMethodHS256, []byte(k.rsaPEM), "oct", claimsFor(issRSA)), reasonAlgorithm},
		{"RS256 naming an oct key", sign(t, jwt.SigningMethodRS256, k.rsa, "oct", claimsFor(issRSA)), reasonUnknownKID},
		{"ES256 naming an Ed25519 key", sign(t, jwt.SigningMethodES256, k.ec256, "ed", claimsFor(issRSA)), reasonUnknownKID},
		{"EdDSA signed by another key", sign(t, jwt.SigningMethodEdDSA, k.ed2, "ed", claimsFor(issRSA)), reasonSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := authenticate(a, tt.token)
			requireRejected(t, p, err, tt.token, tt.reason)
		})
	}
	_, err := authenticate(a, sign(t, jwt.SigningMethodEdDSA, k.ed, "ed", claimsFor(issRSA)))
	require.NoError(t, err)
}

func TestJWKSBodyIsBounded(t *testing.T) {
	leakCheck(t)
	k := testKeys(t)
	s := newJWKSServer(t)
	j, err := jwkset.NewJWKFromKey(&k.rsa.PublicKey, jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: "k1", ALG: jwkset.AlgRS256},
	})
	require.NoError(t, err)
	one, err := json.Marshal(j.Marshal())
	require.NoError(t, err)
	// A valid set padded past MaxJWKSBytes with whitespace.
	body := `{"keys":[` + string(one) + `]` + strings.Repeat(" ", MaxJWKSBytes) + `}`
	s.setRaw(http.StatusOK, []byte(body))
	a := newTestAuth(t, jwksConfig(s.srv.URL, time.Hour, time.Hour))

	tok := sign(t, jwt.SigningMethodRS256, k.rsa, "k1", claimsFor(issRSA))
	p, err := authenticate(a, tok)
	requireRejected(t, p, err, tok, reasonUnknownKID)
}

func TestCloseStopsRefresh(t *testing.T) {
	leakCheck(t)
	s := newJWKSServer(t)
	a, err := New(jwksConfig(s.srv.URL, MinJWKSInterval, time.Hour), WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	require.NoError(t, a.Close())
	n := s.fetches.Load()
	// leakCheck proves the refresh goroutine is gone; no fetch may
	// follow Close either.
	require.Never(t, func() bool { return s.fetches.Load() != n }, 1500*time.Millisecond, 100*time.Millisecond)
}
