// Package jwtauth authenticates JWT bearer tokens: per-issuer pinned
// algorithms, keys from config or a JWKS URL with kid rotation, issuer,
// audience and time checks, and configurable claim names for tenant,
// subject, roles and scopes.
package jwtauth

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/ragway/ragway/llm"
)

// Limits and defaults.
const (
	// MaxTokenBytes bounds the size of a token; larger ones are rejected
	// before any decoding.
	MaxTokenBytes = 16 << 10
	// DefaultLeeway is the clock skew allowed on exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// MaxLeeway is the largest leeway Validate accepts.
	MaxLeeway = 5 * time.Minute
	// DefaultJWKSRefreshInterval is how often a JWKS is fetched again.
	DefaultJWKSRefreshInterval = 15 * time.Minute
	// DefaultJWKSUnknownKIDInterval is the minimum gap between the extra
	// refreshes a token with an unknown kid triggers.
	DefaultJWKSUnknownKIDInterval = time.Minute
	// DefaultJWKSTimeout bounds one JWKS fetch.
	DefaultJWKSTimeout = 10 * time.Second
	// MinJWKSInterval is the smallest refresh interval Validate accepts.
	MinJWKSInterval = time.Second
	// MaxJWKSBytes bounds a JWKS response body.
	MaxJWKSBytes = 1 << 20
)

// Default claim names.
const (
	DefaultTenantClaim  = "tid"
	DefaultSubjectClaim = "sub"
	DefaultRolesClaim   = "roles"
	DefaultScopesClaim  = "scope"
)

// Config is the JWT section of the config file.
type Config struct {
	Issuers []Issuer `yaml:"issuers"`
}

// Issuer is one trusted token issuer.
type Issuer struct {
	// Issuer is the exact "iss" value of the issuer's tokens.
	Issuer string `yaml:"issuer"`
	// Audiences are the accepted "aud" values; a token must name one.
	Audiences []string `yaml:"audiences"`
	// Algorithms pins the accepted "alg" values: HMAC (HS256, HS384,
	// HS512) or asymmetric (RS*, PS256, ES256, ES384, EdDSA), never both.
	Algorithms []string `yaml:"algorithms"`
	// Keys are public keys in PEM (PKIX, PKCS#1 RSA or a certificate).
	Keys []Key `yaml:"keys"`
	// HMACSecretEnv names the environment variable holding the HMAC secret;
	// the composition root resolves it into HMACSecret.
	HMACSecretEnv string     `yaml:"hmac_secret_env"`
	HMACSecret    llm.Secret `yaml:"-"`
	// JWKSURL is fetched at start, then every JWKSRefreshInterval, and again
	// (at most once per JWKSUnknownKIDInterval) when a token names an
	// unknown kid. It must be https, or http on a loopback host.
	JWKSURL                string        `yaml:"jwks_url"`
	JWKSRefreshInterval    time.Duration `yaml:"jwks_refresh_interval"`
	JWKSUnknownKIDInterval time.Duration `yaml:"jwks_unknown_kid_interval"`
	JWKSTimeout            time.Duration `yaml:"jwks_timeout"`
	// Leeway is the clock skew allowed on exp, nbf and iat (0 means
	// DefaultLeeway).
	Leeway time.Duration `yaml:"leeway"`
	// RequireExp rejects tokens without "exp"; nil means true.
	RequireExp *bool `yaml:"require_exp"`
	// Tenant, when set, is the tenant of every token of this issuer, and
	// Claims.Tenant must be empty.
	Tenant string `yaml:"tenant"`
	Claims Claims `yaml:"claims"`
}

// Key is a public verification key.
type Key struct {
	// KID matches the token header's "kid"; tokens without a kid try every
	// key.
	KID string `yaml:"kid"`
	PEM string `yaml:"pem"`
}

// Claims names the claims read into the principal. Roles and scopes may be
// a JSON array of strings or a space-separated string.
type Claims struct {
	Tenant  string `yaml:"tenant"`
	Subject string `yaml:"subject"`
	Roles   string `yaml:"roles"`
	Scopes  string `yaml:"scopes"`
}

// WithDefaults fills zero fields of every issuer.
func (c Config) WithDefaults() Config {
	out := Config{Issuers: make([]Issuer, len(c.Issuers))}
	for i, is := range c.Issuers {
		out.Issuers[i] = is.WithDefaults()
	}
	return out
}

// WithDefaults fills zero fields with the defaults.
func (is Issuer) WithDefaults() Issuer {
	if is.Leeway == 0 {
		is.Leeway = DefaultLeeway
	}
	if is.RequireExp == nil {
		t := true
		is.RequireExp = &t
	}
	if is.JWKSURL != "" {
		if is.JWKSRefreshInterval == 0 {
			is.JWKSRefreshInterval = DefaultJWKSRefreshInterval
		}
		if is.JWKSUnknownKIDInterval == 0 {
			is.JWKSUnknownKIDInterval = DefaultJWKSUnknownKIDInterval
		}
		if is.JWKSTimeout == 0 {
			is.JWKSTimeout = DefaultJWKSTimeout
		}
	}
	if is.Claims.Tenant == "" && is.Tenant == "" {
		is.Claims.Tenant = DefaultTenantClaim
	}
	if is.Claims.Subject == "" {
		is.Claims.Subject = DefaultSubjectClaim
	}
	if is.Claims.Roles == "" {
		is.Claims.Roles = DefaultRolesClaim
	}
	if is.Claims.Scopes == "" {
		is.Claims.Scopes = DefaultScopesClaim
	}
	return is
}

// Validate reports every problem of every issuer. Call it on the result of
// WithDefaults.
func (c Config) Validate() error {
	var errs []error
	if len(c.Issuers) == 0 {
		errs = append(errs, errors.New("jwt.issuers: at least one issuer is required"))
	}
	seen := make(map[string]bool, len(c.Issuers))
	for i, is := range c.Issuers {
		where := fmt.Sprintf("jwt.issuers[%d]", i)
		if is.Issuer != "" && seen[is.Issuer] {
			errs = append(errs, fmt.Errorf("%s: issuer %q is listed twice", where, is.Issuer))
		}
		seen[is.Issuer] = true
		if err := is.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
	}
	return errors.Join(errs...)
}

// Validate reports every problem of the issuer.
func (is Issuer) Validate() error {
	var errs []error
	if is.Issuer == "" {
		errs = append(errs, errors.New("issuer is required"))
	}
	if len(is.Audiences) == 0 {
		errs = append(errs, errors.New("audiences: at least one audience is required"))
	}
	for _, a := range is.Audiences {
		if a == "" {
			errs = append(errs, errors.New("audiences: an audience is empty"))
		}
	}
	errs = append(errs, is.validateAlgorithms()...)
	errs = append(errs, is.validateKeys()...)
	errs = append(errs, is.validateJWKS()...)
	if is.Leeway < 0 || is.Leeway > MaxLeeway {
		errs = append(errs, fmt.Errorf("leeway must be between 0 and %s", MaxLeeway))
	}
	errs = append(errs, is.validateClaims()...)
	return errors.Join(errs...)
}

func (is Issuer) validateAlgorithms() []error {
	var errs []error
	if len(is.Algorithms) == 0 {
		errs = append(errs, errors.New("algorithms: at least one algorithm is required"))
	}
	var hmac, asym bool
	for _, alg := range is.Algorithms {
		switch fam := familyOf(alg); fam {
		case familyHMAC:
			hmac = true
		case familyUnknown:
			if alg == "none" || alg == "None" || alg == "NONE" {
				errs = append(errs, errors.New(`algorithms: "none" is never accepted`))
			} else {
				errs = append(errs, fmt.Errorf("algorithms: unsupported algorithm %q", alg))
			}
		default:
			asym = true
		}
	}
	if hmac && asym {
		errs = append(errs, errors.New("algorithms: HMAC and asymmetric algorithms cannot be mixed in one issuer"))
	}
	return errs
}

func (is Issuer) validateKeys() []error {
	var errs []error
	hmac := is.hmacOnly()
	if hmac {
		if is.HMACSecret == "" {
			errs = append(errs, errors.New("hmac_secret_env: an HMAC secret is required for HS* algorithms"))
		} else if need := minHMACBytes(is.Algorithms); len(is.HMACSecret.Reveal()) < need {
			errs = append(errs, fmt.Errorf("hmac_secret_env: the HMAC secret must be at least %d bytes", need))
		}
		if len(is.Keys) > 0 || is.JWKSURL != "" {
			errs = append(errs, errors.New("keys and jwks_url are for asymmetric algorithms only"))
		}
		return errs
	}
	if is.HMACSecret != "" || is.HMACSecretEnv != "" {
		errs = append(errs, errors.New("hmac_secret_env is for HS* algorithms only"))
	}
	if len(is.Keys) == 0 && is.JWKSURL == "" {
		errs = append(errs, errors.New("keys or jwks_url is required"))
	}
	kids := make(map[string]bool, len(is.Keys))
	for i, k := range is.Keys {
		if k.KID != "" && kids[k.KID] {
			errs = append(errs, fmt.Errorf("keys[%d]: kid %q is listed twice", i, k.KID))
		}
		kids[k.KID] = true
		pub, err := parsePublicKeyPEM(k.PEM)
		if err != nil {
			errs = append(errs, fmt.Errorf("keys[%d]: %w", i, err))
			continue
		}
		if !keyFitsAny(is.Algorithms, pub) {
			errs = append(errs, fmt.Errorf("keys[%d]: the key fits none of the issuer's algorithms", i))
		}
	}
	return errs
}

func (is Issuer) validateJWKS() []error {
	var errs []error
	if is.JWKSURL == "" {
		return nil
	}
	if err := checkJWKSURL(is.JWKSURL); err != nil {
		errs = append(errs, err)
	}
	if is.JWKSRefreshInterval < MinJWKSInterval {
		errs = append(errs, fmt.Errorf("jwks_refresh_interval must be at least %s", MinJWKSInterval))
	}
	if is.JWKSUnknownKIDInterval < MinJWKSInterval {
		errs = append(errs, fmt.Errorf("jwks_unknown_kid_interval must be at least %s", MinJWKSInterval))
	}
	if is.JWKSTimeout <= 0 || is.JWKSTimeout > time.Minute {
		errs = append(errs, errors.New("jwks_timeout must be between 0 and 1m"))
	}
	return errs
}

func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("jwks_url is not a valid URL")
	}
	if u.Host == "" || u.User != nil {
		return errors.New("jwks_url must be an absolute URL without credentials")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return errors.New("jwks_url must use https (http only on a loopback host)")
	default:
		return errors.New("jwks_url must use https")
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (is Issuer) validateClaims() []error {
	var errs []error
	switch {
	case is.Tenant != "" && is.Claims.Tenant != "":
		errs = append(errs, errors.New("set either tenant or claims.tenant, not both"))
	case is.Tenant == "" && is.Claims.Tenant == "":
		errs = append(errs, errors.New("tenant or claims.tenant is required"))
	}
	if is.Tenant != "" && !validIdentity(is.Tenant) {
		errs = append(errs, errors.New("tenant must be printable and at most 256 bytes"))
	}
	if is.Claims.Subject == "" {
		errs = append(errs, errors.New("claims.subject is required"))
	}
	return errs
}

// hmacOnly reports whether the issuer's algorithms are all HMAC.
func (is Issuer) hmacOnly() bool {
	if len(is.Algorithms) == 0 {
		return false
	}
	for _, alg := range is.Algorithms {
		if familyOf(alg) != familyHMAC {
			return false
		}
	}
	return true
}

// requireExp reports the effective require_exp.
func (is Issuer) requireExp() bool { return is.RequireExp == nil || *is.RequireExp }
