package gateway

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/policies"
)

type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func toModelObject(m llm.Model) modelObject {
	return modelObject{ID: m.ID, Object: "model", Created: m.Created, OwnedBy: m.OwnedBy}
}

// handleModels serves GET /v1/models.
func (s *Server) handleModels(c *gin.Context) {
	st := stateOf(c)
	ms := st.rt.models()
	data := make([]modelObject, 0, len(ms))
	for _, m := range ms {
		if st.rt.access.authz.Authorize(st.principal, policies.ActionUseModel, m.ID) == nil {
			data = append(data, toModelObject(m))
		}
	}
	s.writeJSON(c, http.StatusOK, struct {
		Object string        `json:"object"`
		Data   []modelObject `json:"data"`
	}{"list", data})
}

// handleModel serves GET /v1/models/{id}. Model names may contain slashes.
func (s *Server) handleModel(c *gin.Context) {
	id := c.Param("id")
	if len(id) > 0 && id[0] == '/' {
		id = id[1:]
	}
	st := stateOf(c)
	for _, m := range st.rt.models() {
		if m.ID == id && st.rt.access.authz.Authorize(st.principal, policies.ActionUseModel, m.ID) == nil {
			s.writeJSON(c, http.StatusOK, toModelObject(m))
			return
		}
	}
	s.fail(c, modelNotFound(id))
}

// reply answers 200 with v, or the OpenAI error for err.
func (s *Server) reply(c *gin.Context, v any, err error) {
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeJSON(c, http.StatusOK, v)
}

func (s *Server) writeJSON(c *gin.Context, status int, v any) {
	body, err := jsonMarshal(v)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.respond(c, status, "application/json", body)
}
