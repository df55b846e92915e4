package gateway

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/policies"
	"github.com/ragway/ragway/policies/keys"
	"github.com/ragway/ragway/policies/rbac"
	"github.com/ragway/ragway/policies/usage"
)

// adminRoutes are the admin API: API keys and usage, scoped to the caller's
// tenant (global admins may name another with ?tenant=).
func (s *Server) adminRoutes(g *gin.RouterGroup) {
	g.POST("/keys", s.handleKeyCreate)
	g.GET("/keys", s.handleKeyList)
	g.GET("/keys/:id", s.handleKeyGet)
	g.DELETE("/keys/:id", s.handleKeyRevoke)
	g.POST("/keys/:id/rotate", s.handleKeyRotate)
	g.GET("/usage", s.handleUsage)
}

// requireAdmin admits admins of the caller's tenant, and global admins.
func (s *Server) requireAdmin(c *gin.Context) {
	st := stateOf(c)
	if err := st.rt.access.authz.Authorize(st.principal, policies.ActionAdmin, "tenant"); err != nil {
		s.fail(c, err)
		c.Abort()
		return
	}
	c.Next()
}

// adminTenant is the tenant an admin request acts on.
func (s *Server) adminTenant(c *gin.Context) (string, error) {
	st := stateOf(c)
	t := c.Query("tenant")
	if t == "" || t == st.principal.Tenant {
		return st.principal.Tenant, nil
	}
	if err := st.rt.access.authz.Authorize(st.principal, policies.ActionAdmin, "global"); err != nil {
		return "", policies.ErrNotFound
	}
	return t, nil
}

type keyCreateBody struct {
	Name      string   `json:"name"`
	Roles     []string `json:"roles"`
	Models    []string `json:"models"`
	ExpiresIn string   `json:"expires_in"`
}

// keyWithSecret is a key record with its plaintext, shown once.
type keyWithSecret struct {
	keys.Record
	Key string `json:"key"`
}

func (s *Server) handleKeyCreate(c *gin.Context) {
	tenant, err := s.adminTenant(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var body keyCreateBody
	if err := c.ShouldBindJSON(&body); err != nil {
		s.fail(c, invalid("", "We could not parse the JSON body of your request."))
		return
	}
	req := keys.CreateRequest{Tenant: tenant, Name: body.Name, Roles: body.Roles, Models: body.Models}
	if body.ExpiresIn != "" {
		if req.ExpiresIn, err = time.ParseDuration(body.ExpiresIn); err != nil {
			s.fail(c, invalid("expires_in", "Invalid 'expires_in': %q is not a duration such as 720h.", body.ExpiresIn))
			return
		}
	}
	if err := s.checkGrantable(c, req.Roles); err != nil {
		s.fail(c, err)
		return
	}
	if err := checkModelsGrantable(stateOf(c).principal, req.Models); err != nil {
		s.fail(c, err)
		return
	}
	rec, secret, err := s.keySvc.Create(c.Request.Context(), req)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeJSON(c, http.StatusCreated, keyWithSecret{Record: rec, Key: secret.Reveal()})
}

// checkGrantable refuses roles that are unknown or would lift the key above
// its creator. Global admins grant any role; a tenant admin grants the roles
// it holds itself, and roles that carry no admin or force_target power.
func (s *Server) checkGrantable(c *gin.Context, roles []string) error {
	st := stateOf(c)
	authz := st.rt.access.authz
	global := authz.Authorize(st.principal, policies.ActionAdmin, "global") == nil
	for _, name := range roles {
		r, ok := authz.Role(name)
		if !ok {
			return llm.InvalidRequest("roles", "Unknown role %q.", name)
		}
		powerful := r.Admin || r.GlobalAdmin || r.ForceTarget
		if powerful && !global && !slices.Contains(st.principal.Roles, name) {
			return policies.ErrForbidden
		}
	}
	return nil
}

// checkModelsGrantable keeps a key created by a caller whose own key is
// limited to some models within those models: each of the new key's globs
// must be one of the caller's, or a plain name one of them matches.
func checkModelsGrantable(p *policies.Principal, models []string) error {
	if len(p.Models) == 0 {
		return nil
	}
	if len(models) == 0 {
		return llm.InvalidRequest("models", "Your key is limited to some models; the new key must be too.")
	}
	for _, m := range models {
		if !slices.Contains(p.Models, m) && (strings.ContainsAny(m, "*?[\\") || !rbac.MatchAny(p.Models, m)) {
			return llm.InvalidRequest("models", "Model %q is outside the models your key may use.", m)
		}
	}
	return nil
}

func (s *Server) handleKeyList(c *gin.Context) {
	tenant, err := s.adminTenant(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	recs, err := s.keySvc.List(c.Request.Context(), tenant)
	if err != nil {
		s.fail(c, err)
		return
	}
	if recs == nil {
		recs = []keys.Record{}
	}
	s.writeJSON(c, http.StatusOK, gin.H{"object": "list", "data": recs})
}

func (s *Server) handleKeyGet(c *gin.Context) {
	tenant, err := s.adminTenant(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	rec, err := s.keySvc.Get(c.Request.Context(), tenant, c.Param("id"))
	s.reply(c, rec, err)
}

func (s *Server) handleKeyRevoke(c *gin.Context) {
	tenant, err := s.adminTenant(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	id := c.Param("id")
	if err := s.keySvc.Revoke(c.Request.Context(), tenant, id); err != nil {
		s.fail(c, err)
		return
	}
	s.keyAuth.Invalidate(id)
	s.writeJSON(c, http.StatusOK, gin.H{"id": id, "object": "key.revoked", "revoked": true})
}

func (s *Server) handleKeyRotate(c *gin.Context) {
	tenant, err := s.adminTenant(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	id := c.Param("id")
	rec, secret, err := s.keySvc.Rotate(c.Request.Context(), tenant, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.keyAuth.Invalidate(id)
	s.writeJSON(c, http.StatusOK, keyWithSecret{Record: rec, Key: secret.Reveal()})
}

// handleUsage serves GET /admin/usage?from=&to=&group_by=&step=&key=&model=.
func (s *Server) handleUsage(c *gin.Context) {
	tenant, err := s.adminTenant(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	now := time.Now().UTC()
	q := usage.Query{Tenant: tenant, Key: c.Query("key"), Model: c.Query("model"), GroupBy: c.Query("group_by"),
		From: now.Add(-24 * time.Hour), To: now, Step: time.Hour}
	for name, dst := range map[string]*time.Time{"from": &q.From, "to": &q.To} {
		if v := c.Query(name); v != "" {
			if *dst, err = time.Parse(time.RFC3339, v); err != nil {
				s.fail(c, invalid(name, "Invalid '%s': expected an RFC 3339 time.", name))
				return
			}
		}
	}
	if v := c.Query("step"); v != "" {
		if q.Step, err = time.ParseDuration(v); err != nil || q.Step < time.Minute {
			s.fail(c, invalid("step", "Invalid 'step': expected a duration of at least 1m."))
			return
		}
	}
	switch q.GroupBy {
	case "", "model", "key":
	default:
		s.fail(c, invalid("group_by", "Invalid 'group_by': expected model or key."))
		return
	}
	if !q.From.Before(q.To) {
		s.fail(c, invalid("from", "'from' must be before 'to'."))
		return
	}
	rows, err := s.usage.Query(c.Request.Context(), q)
	if err != nil {
		s.fail(c, err)
		return
	}
	if rows == nil {
		rows = []usage.Row{}
	}
	s.writeJSON(c, http.StatusOK, gin.H{"object": "list", "tenant": tenant, "data": rows})
}
