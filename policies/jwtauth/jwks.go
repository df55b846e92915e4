package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/MicahParks/keyfunc/v3"
	"golang.org/x/time/rate"
)

// newJWKS starts the JWKS cache of an issuer: one fetch now (a failure is
// logged, not returned, so a down identity provider does not stop the
// gateway), a refresh every JWKSRefreshInterval until ctx ends, and a
// rate-limited refresh when a token names an unknown kid.
func newJWKS(ctx context.Context, is *Issuer, client *http.Client, log *slog.Logger) (keyfunc.Keyfunc, error) {
	issuer := is.Issuer
	onError := func(u string) func(context.Context, error) {
		return func(ctx context.Context, err error) {
			log.WarnContext(ctx, "jwks refresh failed", "issuer", issuer, "url", u, "error", err)
		}
	}
	noErrorFirst := true
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{is.JWKSURL}, keyfunc.Override{
		Client:                    client,
		HTTPTimeout:               is.JWKSTimeout,
		NoErrorReturnFirstHTTPReq: &noErrorFirst,
		// An unknown kid waits at most this long for the limiter and the
		// fetch; when the limiter has no token left it fails at once.
		RateLimitWaitMax:        is.JWKSTimeout,
		RefreshErrorHandlerFunc: onError,
		RefreshInterval:         is.JWKSRefreshInterval,
		RefreshUnknownKID:       rate.NewLimiter(rate.Every(is.JWKSUnknownKIDInterval), 1),
	})
	if err != nil {
		return nil, fmt.Errorf("start jwks for issuer %q: %w", issuer, err)
	}
	return kf, nil
}

// newHTTPClient returns the client used for JWKS fetches: redirects are not
// followed and response bodies are bounded by MaxJWKSBytes.
func newHTTPClient(base *http.Client) *http.Client {
	var c http.Client
	if base != nil {
		c = *base
	}
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport.(*http.Transport).Clone()
	}
	c.Transport = &limitTransport{base: rt, limit: MaxJWKSBytes}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// limitTransport fails a response body read past limit bytes.
type limitTransport struct {
	base  http.RoundTripper
	limit int64
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.limit}
	return resp, nil
}

// CloseIdleConnections forwards to the wrapped transport.
func (t *limitTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

var errJWKSTooLarge = errors.New("jwks response too large")

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errJWKSTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
