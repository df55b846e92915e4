package gateway

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/ragway/ragway/gateway/config"
)

// redactedText replaces a credential found in log or error text.
const redactedText = "[REDACTED]"

// minSecretLen keeps very short values, which would match ordinary text,
// out of the redaction list.
const minSecretLen = 8

// secrets is the set of backend credentials the gateway has been configured
// with. Upstream error messages can quote the key they rejected; logs and
// client-facing messages pass through scrub so that it never shows.
// Credentials are only ever added: a reloaded-away key may still be in
// flight.
type secrets struct {
	mu   sync.RWMutex
	list []string
}

// add records every secret of cfg: backend keys, database DSNs, Redis
// passwords, the key pepper and JWT HMAC secrets.
func (s *secrets) add(cfg *config.Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	values := []string{
		cfg.Ingest.Embedder.APIKey.Reveal(), cfg.Ingest.PostgresDSN.Reveal(), cfg.Ingest.Redis.Password.Reveal(),
		cfg.Limits.Redis.Password.Reveal(), cfg.Auth.Keys.Postgres.DSN.Reveal(), cfg.Auth.Keys.Pepper.Reveal(),
		cfg.Ingest.Retrieval.Pgvector.DSN.Reveal(),
	}
	for _, b := range cfg.Backends {
		values = append(values, b.APIKey.Reveal())
	}
	for _, is := range cfg.Auth.JWT.Issuers {
		values = append(values, is.HMACSecret.Reveal())
	}
	for _, v := range values {
		if len(v) < minSecretLen {
			continue
		}
		found := false
		for _, have := range s.list {
			found = found || have == v
		}
		if !found {
			s.list = append(s.list, v)
		}
	}
	// Longest first: a secret that contains another must be replaced
	// whole, not around the shorter one.
	slices.SortStableFunc(s.list, func(a, b string) int { return len(b) - len(a) })
}

// scrub replaces every known credential in text.
func (s *secrets) scrub(text string) string {
	if s == nil {
		return text
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, v := range s.list {
		if strings.Contains(text, v) {
			text = strings.ReplaceAll(text, v, redactedText)
		}
	}
	return text
}

func (s *secrets) empty() bool {
	if s == nil {
		return true
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.list) == 0
}

// redactHandler is a slog.Handler that scrubs credentials from the message
// and from string, error and group attribute values before passing records
// on.
type redactHandler struct {
	next    slog.Handler
	secrets *secrets
}

func (h redactHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h redactHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.secrets.empty() {
		return h.next.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, h.secrets.scrub(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = h.attr(a)
	}
	return redactHandler{next: h.next.WithAttrs(out), secrets: h.secrets}
}

func (h redactHandler) WithGroup(name string) slog.Handler {
	return redactHandler{next: h.next.WithGroup(name), secrets: h.secrets}
}

func (h redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.secrets.scrub(v.String()))
	case slog.KindGroup:
		group := v.Group()
		out := make([]slog.Attr, len(group))
		for i, g := range group {
			out[i] = h.attr(g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	case slog.KindAny:
		if err, ok := v.Any().(error); ok && err != nil {
			return slog.String(a.Key, h.secrets.scrub(err.Error()))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// clientError maps err with toAPIError and scrubs credentials from the
// message a client will see: a backend passes 4xx messages on, and an
// upstream may quote the key it rejected.
func (s *Server) clientError(err error) *APIError {
	ae := toAPIError(err)
	if msg := s.secrets.scrub(ae.Message); msg != ae.Message {
		c := *ae
		c.Message = msg
		ae = &c
	}
	return ae
}
