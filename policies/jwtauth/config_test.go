package jwtauth

import (
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/ragway/ragway/llm"
)

func TestConfigDecodeYAML(t *testing.T) {
	k := testKeys(t)
	src := `
issuers:
  - issuer: https://idp.example
    audiences: [ragway]
    algorithms: [RS256, ES256]
    keys:
      - kid: k1
        pem: |
` + indent(k.rsaPEM, "          ") + `
    jwks_url: https://idp.example/.well-known/jwks.json
    jwks_refresh_interval: 10m
    jwks_unknown_kid_interval: 30s
    jwks_timeout: 5s
    leeway: 45s
    require_exp: false
    claims: {tenant: org, subject: uid, roles: groups, scopes: scp}
  - issuer: https://hs.example
    audiences: [ragway]
    algorithms: [HS256]
    hmac_secret_env: RAGWAY_JWT_SECRET
    tenant: acme
`
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&cfg))
	cfg.Issuers[1].HMACSecret = llm.Secret(strings.Repeat("s", 32))
	cfg = cfg.WithDefaults()
	require.NoError(t, cfg.Validate())

	rsa := cfg.Issuers[0]
	require.Equal(t, 10*time.Minute, rsa.JWKSRefreshInterval)
	require.Equal(t, 30*time.Second, rsa.JWKSUnknownKIDInterval)
	require.Equal(t, 5*time.Second, rsa.JWKSTimeout)
	require.Equal(t, 45*time.Second, rsa.Leeway)
	require.False(t, rsa.requireExp())
	require.Equal(t, Claims{Tenant: "org", Subject: "uid", Roles: "groups", Scopes: "scp"}, rsa.Claims)
	require.Equal(t, "k1", rsa.Keys[0].KID)

	hs := cfg.Issuers[1]
	require.Equal(t, "RAGWAY_JWT_SECRET", hs.HMACSecretEnv)
	require.Equal(t, DefaultLeeway, hs.Leeway)
	require.True(t, hs.requireExp())
	require.Equal(t, Claims{Subject: "sub", Roles: "roles", Scopes: "scope"}, hs.Claims)
	require.Zero(t, hs.JWKSRefreshInterval)

	out, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	require.NotContains(t, string(out), strings.Repeat("s", 32))
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}

func TestConfigDefaults(t *testing.T) {
	is := Issuer{JWKSURL: "https://x"}.WithDefaults()
	require.Equal(t, DefaultLeeway, is.Leeway)
	require.True(t, is.requireExp())
	require.Equal(t, DefaultJWKSRefreshInterval, is.JWKSRefreshInterval)
	require.Equal(t, DefaultJWKSUnknownKIDInterval, is.JWKSUnknownKIDInterval)
	require.Equal(t, DefaultJWKSTimeout, is.JWKSTimeout)
	require.Equal(t, Claims{Tenant: "tid", Subject: "sub", Roles: "roles", Scopes: "scope"}, is.Claims)

	fixed := Issuer{Tenant: "t"}.WithDefaults()
	require.Empty(t, fixed.Claims.Tenant)
}

func TestConfigValidate(t *testing.T) {
	k := testKeys(t)
	good := func() Issuer {
		return Issuer{
			Issuer: "https://idp", Audiences: []string{"a"}, Algorithms: []string{"RS256"},
			Keys: []Key{{KID: "k", PEM: k.rsaPEM}},
		}
	}
	tests := []struct {
		name   string
		mutate func(*Issuer)
		want   []string // substrings of the error; empty means valid
	}{
		{"good", func(*Issuer) {}, nil},
		{"good jwks only", func(is *Issuer) { is.Keys = nil; is.JWKSURL = "https://idp/jwks" }, nil},
		{"good loopback http jwks", func(is *Issuer) { is.JWKSURL = "http://127.0.0.1:8080/jwks" }, nil},
		{"good hmac", func(is *Issuer) {
			is.Algorithms = []string{"HS256"}
			is.Keys = nil
			is.HMACSecret = llm.Secret(strings.Repeat("s", 32))
		}, nil},
		{"missing issuer", func(is *Issuer) { is.Issuer = "" }, []string{"issuer is required"}},
		{"no audience", func(is *Issuer) { is.Audiences = nil }, []string{"at least one audience"}},
		{"empty audience", func(is *Issuer) { is.Audiences = []string{""} }, []string{"an audience is empty"}},
		{"no algorithm", func(is *Issuer) { is.Algorithms = nil }, []string{"at least one algorithm"}},
		{"alg none", func(is *Issuer) { is.Algorithms = []string{"RS256", "none"} }, []string{`"none" is never accepted`}},
		{"unknown alg", func(is *Issuer) { is.Algorithms = []string{"RS256", "ES512"} }, []string{`unsupported algorithm "ES512"`}},
		{"mixed hmac and rsa", func(is *Issuer) {
			is.Algorithms = []string{"RS256", "HS256"}
		}, []string{"cannot be mixed"}},
		{"hmac without secret", func(is *Issuer) { is.Algorithms = []string{"HS256"}; is.Keys = nil }, []string{"HMAC secret is required"}},
		{"hmac short secret", func(is *Issuer) {
			is.Algorithms = []string{"HS512"}
			is.Keys = nil
			is.HMACSecret = llm.Secret(strings.Repeat("s", 32))
		}, []string{"at least 64 bytes"}},
		{"hmac with keys", func(is *Issuer) {
			is.Algorithms = []string{"HS256"}
			is.HMACSecret = llm.Secret(strings.Repeat("s", 32))
		}, []string{"asymmetric algorithms only"}},
		{"rsa with secret", func(is *Issuer) { is.HMACSecretEnv = "X" }, []string{"HS* algorithms only"}},
		{"no keys", func(is *Issuer) { is.Keys = nil }, []string{"keys or jwks_url is required"}},
		{"duplicate kid", func(is *Issuer) { is.Keys = append(is.Keys, is.Keys[0]) }, []string{`kid "k" is listed twice`}},
		{"bad pem", func(is *Issuer) { is.Keys[0].PEM = "nope" }, []string{"no PEM block"}},
		{"private key pem", func(is *Issuer) {
			is.Keys[0].PEM = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
		}, []string{"must be a PUBLIC KEY"}},
		{"key of wrong family", func(is *Issuer) { is.Keys[0].PEM = k.ecPEM }, []string{"fits none"}},
		{"http jwks", func(is *Issuer) { is.JWKSURL = "http://idp.example/jwks" }, []string{"must use https"}},
		{"jwks with credentials", func(is *Issuer) { is.JWKSURL = "https://u:p@idp/jwks" }, []string{"without credentials"}},
		{"relative jwks", func(is *Issuer) { is.JWKSURL = "/jwks" }, []string{"absolute URL"}},
		{"jwks intervals", func(is *Issuer) {
			is.JWKSURL = "https://idp/jwks"
			is.JWKSRefreshInterval = time.Millisecond
			is.JWKSUnknownKIDInterval = time.Millisecond
			is.JWKSTimeout = time.Hour
		}, []string{"jwks_refresh_interval", "jwks_unknown_kid_interval", "jwks_timeout"}},
		{"leeway too large", func(is *Issuer) { is.Leeway = time.Hour }, []string{"leeway must be"}},
		{"negative leeway", func(is *Issuer) { is.Leeway = -time.Second }, []string{"leeway must be"}},
		{"tenant twice", func(is *Issuer) { is.Tenant = "t"; is.Claims.Tenant = "tid" }, []string{"either tenant or claims.tenant"}},
		{"bad fixed tenant", func(is *Issuer) { is.Tenant = "a\nb"; is.Claims.Tenant = "" }, []string{"tenant must be printable"}},
		{"everything wrong at once", func(is *Issuer) {
			*is = Issuer{Algorithms: []string{"none"}, Leeway: time.Hour}
		}, []string{"issuer is required", "at least one audience", `"none"`, "leeway must be"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := good()
			tt.mutate(&is)
			err := Config{Issuers: []Issuer{is}}.WithDefaults().Validate()
			if len(tt.want) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
			require.Contains(t, err.Error(), "jwt.issuers[0]")
		})
	}
}

func TestConfigValidateAcrossIssuers(t *testing.T) {
	require.ErrorContains(t, Config{}.Validate(), "at least one issuer")
	k := testKeys(t)
	is := Issuer{
		Issuer: "https://idp", Audiences: []string{"a"}, Algorithms: []string{"EdDSA"},
		Keys: []Key{{PEM: pemOf(k.ed.Public())}},
	}
	err := Config{Issuers: []Issuer{is, is}}.WithDefaults().Validate()
	require.ErrorContains(t, err, `jwt.issuers[1]: issuer "https://idp" is listed twice`)
}

func TestSecretNeverPrinted(t *testing.T) {
	is := Issuer{HMACSecret: llm.Secret("super-secret-value-that-is-long!")}
	out, err := yaml.Marshal(is)
	require.NoError(t, err)
	require.NotContains(t, string(out), "super-secret")
}

func TestParsePublicKeyPEM(t *testing.T) {
	k := testKeys(t)
	_, err := parsePublicKeyPEM(k.rsaPEM + k.rsaPEM)
	require.ErrorContains(t, err, "exactly one PEM block")
	_, err = parsePublicKeyPEM("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
	require.ErrorContains(t, err, "cannot parse")
	pub, err := parsePublicKeyPEM(k.ecPEM)
	require.NoError(t, err)
	require.True(t, keyFits("ES256", pub))
	require.False(t, keyFits("ES384", pub))
	require.False(t, keyFits("RS256", pub))
	require.False(t, keyFits("HS256", pub))
	require.False(t, keyFits("none", pub))
	require.False(t, keyFits("RS256", []byte(k.rsaPEM)))
	require.False(t, keyFits("HS256", []byte{}))

	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	require.False(t, keyFits("RS256", &small.PublicKey), "RSA keys under 2048 bits are refused")
	require.True(t, keyFits("RS256", &k.rsa.PublicKey))
}
