package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/ragway/ragway/policies"
)

var _ policies.Authenticator = (*Authenticator)(nil)

// Authenticator verifies JWT bearer tokens against the configured issuers.
// It is safe for concurrent use. Close stops its JWKS refreshes.
type Authenticator struct {
	issuers map[string]*issuer
	// peek reads the unverified issuer; it never validates anything.
	peek   *jwt.Parser
	ctx    context.Context
	cancel context.CancelFunc
	client *http.Client
	once   sync.Once
}

// issuer is the runtime form of one configured issuer.
type issuer struct {
	cfg     Issuer
	algs    map[string]bool
	parser  *jwt.Parser
	hmac    []byte
	keys    map[string]any // by kid
	allKeys []any
	jwks    keyfunc.Keyfunc // nil without jwks_url
}

// Option customises New.
type Option func(*options)

type options struct {
	client *http.Client
	log    *slog.Logger
	now    func() time.Time
}

// WithHTTPClient sets the client used to fetch JWKS (proxy, TLS roots).
// Redirects are never followed and bodies are bounded whatever the client.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithLogger sets the logger for JWKS refresh failures.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithClock sets the time source for exp, nbf and iat checks.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// New applies the defaults, validates cfg and starts a JWKS cache for every
// issuer with a jwks_url (fetching each once, bounded by its jwks_timeout).
// Close releases them.
func New(cfg Config, opts ...Option) (*Authenticator, error) {
	o := options{log: slog.Default(), now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("jwt config: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &Authenticator{
		issuers: make(map[string]*issuer, len(cfg.Issuers)),
		peek:    jwt.NewParser(jwt.WithStrictDecoding()),
		ctx:     ctx,
		cancel:  cancel,
		client:  newHTTPClient(o.client),
	}
	for i := range cfg.Issuers {
		is, err := a.newIssuer(&cfg.Issuers[i], o)
		if err != nil {
			_ = a.Close()
			return nil, err
		}
		a.issuers[is.cfg.Issuer] = is
	}
	return a, nil
}

func (a *Authenticator) newIssuer(c *Issuer, o options) (*issuer, error) {
	parserOpts := []jwt.ParserOption{
		jwt.WithValidMethods(c.Algorithms),
		jwt.WithIssuer(c.Issuer),
		jwt.WithAudience(c.Audiences...),
		jwt.WithLeeway(c.Leeway),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(o.now),
	}
	if c.requireExp() {
		parserOpts = append(parserOpts, jwt.WithExpirationRequired())
	}
	is := &issuer{
		cfg:    *c,
		algs:   make(map[string]bool, len(c.Algorithms)),
		parser: jwt.NewParser(parserOpts...),
		keys:   make(map[string]any, len(c.Keys)),
	}
	for _, alg := range c.Algorithms {
		is.algs[alg] = true
	}
	if c.hmacOnly() {
		is.hmac = []byte(c.HMACSecret.Reveal())
		return is, nil
	}
	for _, k := range c.Keys {
		pub, err := parsePublicKeyPEM(k.PEM)
		if err != nil {
			return nil, fmt.Errorf("jwt issuer %q: %w", c.Issuer, err)
		}
		if k.KID != "" {
			is.keys[k.KID] = pub
		}
		is.allKeys = append(is.allKeys, pub)
	}
	if c.JWKSURL != "" {
		kf, err := newJWKS(a.ctx, c, a.client, o.log)
		if err != nil {
			return nil, err
		}
		is.jwks = kf
	}
	return is, nil
}

// Close stops the JWKS refreshes and releases idle connections. Later calls
// to Authenticate fail. It is safe to call more than once.
func (a *Authenticator) Close() error {
	a.once.Do(func() {
		a.cancel()
		a.client.CloseIdleConnections()
	})
	return nil
}

// Authenticate verifies token and maps its claims into a principal. Every
// failure is an *Error wrapping policies.ErrUnauthenticated.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (*policies.Principal, error) {
	switch {
	case token == "":
		return nil, fail(reasonEmpty)
	case len(token) > MaxTokenBytes:
		return nil, fail(reasonTooLarge)
	case !wellFormed(token):
		return nil, fail(reasonMalformed)
	case a.ctx.Err() != nil:
		return nil, fail(reasonClosed)
	}
	unverified, _, err := a.peek.ParseUnverified(token, jwt.MapClaims{})
	if err != nil {
		if errors.Is(err, jwt.ErrTokenUnverifiable) {
			// The header names no algorithm, or one this library lacks.
			return nil, fail(reasonAlgorithm)
		}
		return nil, failFrom(err)
	}
	iss, ok := unverified.Claims.(jwt.MapClaims)["iss"].(string)
	if !ok {
		return nil, fail(reasonUnknownIss)
	}
	is := a.issuers[iss]
	if is == nil {
		return nil, fail(reasonUnknownIss)
	}
	if !is.algs[unverified.Method.Alg()] {
		return nil, fail(reasonAlgorithm)
	}
	if _, crit := unverified.Header["crit"]; crit {
		return nil, fail(reasonCrit)
	}
	claims := jwt.MapClaims{}
	if _, err := is.parser.ParseWithClaims(token, claims, is.keyfunc(ctx)); err != nil {
		return nil, failFrom(err)
	}
	return principalFrom(&is.cfg, claims)
}

// wellFormed accepts exactly three unpadded base64url segments, the first
// two non-empty.
func wellFormed(token string) bool {
	dots := 0
	for i := 0; i < len(token); i++ {
		c := token[i]
		switch {
		case c == '.':
			dots++
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return dots == 2 && !strings.HasPrefix(token, ".") && !strings.Contains(token, "..")
}

// keyfunc returns the verification key(s) for a token whose algorithm is
// already known to be allowed: the HMAC secret, the configured key with the
// token's kid, the JWKS key with that kid, or, without a kid, every known key
// that fits the algorithm. A key never serves an algorithm of another family.
func (is *issuer) keyfunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		alg := t.Method.Alg()
		if is.hmac != nil {
			return is.hmac, nil
		}
		if rawKID, has := t.Header["kid"]; has {
			kid, ok := rawKID.(string)
			if !ok {
				return nil, errUnknownKID
			}
			return is.keyByID(ctx, t, alg, kid)
		}
		var set jwt.VerificationKeySet
		for _, k := range is.allKeys {
			if keyFits(alg, k) {
				set.Keys = append(set.Keys, k)
			}
		}
		if is.jwks != nil {
			remote, err := is.jwks.VerificationKeySet(ctx)
			if err == nil {
				for _, k := range remote.Keys {
					if keyFits(alg, k) {
						set.Keys = append(set.Keys, k)
					}
				}
			}
		}
		if len(set.Keys) == 0 {
			return nil, errNoKey
		}
		return set, nil
	}
}

func (is *issuer) keyByID(ctx context.Context, t *jwt.Token, alg, kid string) (any, error) {
	if k, ok := is.keys[kid]; ok {
		if !keyFits(alg, k) {
			return nil, errNoKey
		}
		return k, nil
	}
	if is.jwks == nil {
		return nil, errUnknownKID
	}
	k, err := is.jwks.KeyfuncCtx(ctx)(t)
	if err != nil {
		return nil, errors.Join(errUnknownKID, err)
	}
	if !keyFits(alg, k) {
		return nil, errNoKey
	}
	return k, nil
}
