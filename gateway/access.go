package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/ragway/ragway/gateway/config"
	"github.com/ragway/ragway/policies"
	"github.com/ragway/ragway/policies/jwtauth"
	"github.com/ragway/ragway/policies/keys"
	"github.com/ragway/ragway/policies/limits"
	"github.com/ragway/ragway/policies/limits/limiters"
	"github.com/ragway/ragway/policies/rbac"
	"github.com/ragway/ragway/policies/tokens"
)

// access is the reloadable part of access control: who may call (JWT
// issuers, the anonymous principal), what they may do (roles) and how much
// (limits). API keys live in a database and outlive reloads.
type access struct {
	anonymous *policies.Principal
	jwt       *jwtauth.Authenticator
	authz     *rbac.Authorizer
	limiter   limits.Limiter
	// tokenPlan is set when a token rule (tokens per minute, a budget)
	// exists: a prompt is counted only when one applies to its caller.
	tokenPlan *limits.Plan
	metered   bool
}

func openAccess(cfg *config.Config, prev *runtime, opts limits.Options) (*access, error) {
	a := &access{authz: rbac.New(cfg.Roles), metered: len(cfg.Limits.Rules) > 0}
	if an := cfg.Auth.Anonymous; an.Enabled {
		a.anonymous = &policies.Principal{Tenant: an.Tenant, Subject: "anonymous", Method: "anonymous", Roles: an.Roles}
	}
	for _, r := range cfg.Limits.Rules {
		if r.TokensPerMinute > 0 || r.Budget != nil {
			a.tokenPlan = limits.NewPlan(cfg.Limits.WithDefaults())
			break
		}
	}
	if a.tokenPlan != nil {
		// Load the tokenizer tables now rather than on the first request.
		if err := tokens.Preload(); err != nil {
			return nil, fmt.Errorf("load tokenizer: %w", err)
		}
	}
	var err error
	if prev != nil && prev.access != nil {
		a.limiter, err = limiters.Reload(prev.access.limiter, prev.cfg.Limits, cfg.Limits, opts)
	} else {
		a.limiter, err = limiters.Open(cfg.Limits, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("limits: %w", err)
	}
	if len(cfg.Auth.JWT.Issuers) > 0 {
		a.jwt, err = jwtauth.New(cfg.Auth.JWT, jwtauth.WithLogger(opts.Logger))
		if err != nil {
			_ = a.limiter.Close()
			return nil, fmt.Errorf("jwt: %w", err)
		}
	}
	return a, nil
}

func (a *access) close() {
	if a.jwt != nil {
		_ = a.jwt.Close()
	}
	// A reloaded limiter may share state with its successor: memlimit and
	// redislimit Close only what is theirs alone.
	_ = a.limiter.Close()
}

// bearer returns the credential of "Authorization: Bearer ...".
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false
	}
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(cred) == "" {
		return "", true // present but malformed: rejected, never anonymous
	}
	return strings.TrimSpace(cred), true
}

var errNoCredential = &APIError{Status: http.StatusUnauthorized, Type: "invalid_request_error", Code: "missing_api_key",
	Message: "You didn't provide an API key. Provide it in an Authorization header using Bearer auth (Authorization: Bearer YOUR_KEY)."}

// authenticate is the middleware that establishes the caller's principal.
func (s *Server) authenticate(c *gin.Context) {
	st := stateOf(c)
	rt := s.rt.Load()
	st.rt = rt
	cred, present := bearer(c.Request)
	if !present {
		if rt.access.anonymous == nil {
			s.fail(c, errNoCredential)
			c.Abort()
			return
		}
		st.principal = rt.access.anonymous
		c.Next()
		return
	}
	var p *policies.Principal
	err := error(policies.ErrUnauthenticated)
	switch {
	case cred == "":
	case keys.IsKey(cred) && s.keyAuth != nil:
		p, err = s.keyAuth.Authenticate(c.Request.Context(), cred)
	case rt.access.jwt != nil && strings.Count(cred, ".") == 2:
		p, err = rt.access.jwt.Authenticate(c.Request.Context(), cred)
	}
	if err != nil {
		var je *jwtauth.Error
		if errors.As(err, &je) {
			s.log.Debug("jwt rejected", "request_id", st.id, "reason", je.Reason())
		}
		s.fail(c, err)
		c.Abort()
		return
	}
	st.principal = p
	c.Next()
}

// admit checks that the caller may use model and takes its limits. The
// lease is released when the request finishes (see settle).
//
// When a token rule applies, the prompt is metered in one of two ways.
// When bound reports an upper bound of the count (byte lengths, see
// tokens.ChatBound), the limits are taken for the bound, which admits
// only what the exact count would admit too, and the prompt is counted
// while the request goes on (countDuring): the count then overlaps the
// call to the backend instead of adding to its latency, and the lease is
// refined to it at once. A bound that a token limit rejects, or no bound,
// falls back to counting before the limits are taken.
func (s *Server) admit(c *gin.Context, st *reqState, model string, count func() (int, error), bound func() (int, bool), maxTokens int) error {
	acc := st.rt.access
	if err := acc.authz.Authorize(st.principal, policies.ActionUseModel, model); err != nil {
		// Not 403: whether a model someone else may use exists is not the
		// caller's business.
		return modelNotFound(model)
	}
	if !acc.metered {
		return nil
	}
	ctx := c.Request.Context()
	req := limits.Request{Tenant: st.principal.Tenant, Key: callerKey(st.principal), Model: model, MaxTokens: maxTokens}
	if acc.tokenPlan != nil && acc.tokenPlan.CountsTokens(req) {
		if b, ok := bound(); ok {
			req.PromptTokens = b
			lease, err := acc.limiter.Acquire(ctx, req)
			if err == nil {
				st.lease = lease
				s.countDuring(st, lease, b, count)
				return nil
			}
			if !limits.IsTokenLimit(err) {
				return err
			}
		}
		n, err := count()
		if err != nil {
			return err
		}
		req.PromptTokens = n
	}
	lease, err := acc.limiter.Acquire(ctx, req)
	if err != nil {
		return err
	}
	st.lease = lease
	return nil
}

// countDuring counts the prompt of a request its limits admitted by an
// upper bound, in a goroutine of its own, and refines the lease to the
// count. The response headers (begin) and the release (settle) wait for it.
// A count that fails leaves the bound reserved: too much, never too little.
func (s *Server) countDuring(st *reqState, lease *limits.Lease, bound int, count func() (int, error)) {
	done := make(chan struct{})
	st.counting = done
	id := st.id
	go func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("prompt count panicked; the bound stays reserved", "request_id", id, "panic", r)
			}
		}()
		n, err := count()
		if err != nil {
			s.log.Warn("prompt count failed; the bound stays reserved", "request_id", id, "error", err)
			return
		}
		if err := lease.Refine(context.Background(), bound, n); err != nil {
			s.log.Warn("limit refine failed", "request_id", id, "error", err)
		}
	}()
}

// callerKey identifies the caller for key-scoped limits and usage.
func callerKey(p *policies.Principal) string {
	if p.KeyID != "" {
		return p.KeyID
	}
	return p.Method + ":" + p.Subject
}

// settle releases the request's limits with the usage the backend reported
// and records usage. It runs once the response is complete.
func (s *Server) settle(st *reqState) {
	if st.principal == nil || st.route == "" || !st.admitted {
		return
	}
	st.awaitCount()
	u := st.usage
	if lease := st.lease; lease != nil {
		charged := limits.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens}
		if charged == (limits.Usage{}) && (st.err == nil || st.ttft > 0) {
			// The backend served the call but reported no usage (or the
			// client left a stream before its usage chunk): keep the
			// reservation rather than refund tokens that were spent.
			charged.PromptTokens = lease.ReservedTokens()
		}
		// Inline: memlimit releases in memory, and redislimit queues the
		// release for its next Acquire's round trip.
		s.release(lease, charged, st.id)
	}
	key := callerKey(st.principal)
	s.metrics.usageRequests.WithLabelValues(st.principal.Tenant, key, st.route).Inc()
	if u.PromptTokens > 0 {
		s.metrics.usageTokens.WithLabelValues(st.principal.Tenant, key, st.route, "prompt").Add(float64(u.PromptTokens))
	}
	if u.CompletionTokens > 0 {
		s.metrics.usageTokens.WithLabelValues(st.principal.Tenant, key, st.route, "completion").Add(float64(u.CompletionTokens))
	}
	if s.usage != nil {
		s.usage.Record(st.principal.Tenant, key, st.route, u.PromptTokens, u.CompletionTokens, st.start)
	}
}

// release returns a lease with the usage charged. No deadline: memlimit
// releases in memory and redislimit queues the release (a closed one
// bounds its own call), so a timer per request would be spent for nothing.
func (s *Server) release(lease *limits.Lease, charged limits.Usage, requestID string) {
	if err := lease.Release(context.Background(), charged); err != nil {
		s.log.Warn("limit release failed", "request_id", requestID, "error", err)
	}
}

// mayForceTarget reports whether the caller may pick a target with
// X-Ragway-Target.
func (s *Server) mayForceTarget(st *reqState, route string) bool {
	if s.allowTargetHeader {
		return true
	}
	return st.principal != nil && st.rt.access.authz.Authorize(st.principal, policies.ActionForceTarget, route) == nil
}
