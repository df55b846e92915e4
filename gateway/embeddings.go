package gateway

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/policies/limits"
	"github.com/ragway/ragway/policies/tokens"
)

// handleEmbeddings serves POST /v1/embeddings.
func (s *Server) handleEmbeddings(c *gin.Context) {
	st := stateOf(c)
	body, err := readBody(c.Writer, c.Request, s.maxBody)
	if err != nil {
		s.fail(c, err)
		return
	}
	req, err := decodeEmbed(body)
	if err != nil {
		s.fail(c, err)
		return
	}
	st.route = req.RouteModel
	rt := st.rt
	if !rt.has(req.RouteModel) {
		s.fail(c, modelNotFound(req.RouteModel))
		return
	}
	count := func() (int, error) { return s.tokens.Embedding(req.RouteModel, req.Input) }
	bound := func() (int, bool) { return tokens.EmbeddingBound(req.Input), true }
	if err := s.admit(c, st, req.RouteModel, count, bound, limits.NoCompletion); err != nil {
		s.fail(c, err)
		return
	}
	st.admitted = true
	var resp *llm.EmbedResponse
	caller := s.caller(st, req.User, c)
	err = s.dispatch(c.Request.Context(), rt, req.RouteModel, caller, s.forcedTarget(c, st, req.RouteModel), st, func(ctx context.Context, t target) error {
		r := req.EmbedRequest
		r.Model = t.Model
		var err error
		resp, err = t.backend.Embed(ctx, &r)
		return err
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	st.usage, st.respModel = resp.Usage, resp.Model
	model := resp.Model
	if model == "" {
		model = req.RouteModel
	}
	out := encodeEmbeddings(resp, model, req.Base64)
	s.respond(c, http.StatusOK, "application/json", out)
}

// encodeEmbeddings writes the OpenAI embeddings list by hand: it is large and
// all numbers, where encoding/json is slow.
func encodeEmbeddings(resp *llm.EmbedResponse, model string, b64 bool) []byte {
	size := 128 + len(model)
	for _, v := range resp.Vectors {
		size += 64 + len(v)*12
	}
	out := make([]byte, 0, size)
	out = append(out, `{"object":"list","data":[`...)
	for i, v := range resp.Vectors {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"object":"embedding","index":`...)
		out = strconv.AppendInt(out, int64(i), 10)
		out = append(out, `,"embedding":`...)
		if b64 {
			raw := make([]byte, 4*len(v))
			for j, f := range v {
				binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(f))
			}
			out = append(out, '"')
			out = base64.StdEncoding.AppendEncode(out, raw)
			out = append(out, '"')
		} else {
			out = append(out, '[')
			for j, f := range v {
				if j > 0 {
					out = append(out, ',')
				}
				out = appendFloat32(out, f)
			}
			out = append(out, ']')
		}
		out = append(out, '}')
	}
	out = append(out, `],"model":`...)
	m, _ := json.Marshal(model)
	out = append(out, m...)
	out = append(out, `,"usage":{"prompt_tokens":`...)
	out = strconv.AppendInt(out, int64(resp.Usage.PromptTokens), 10)
	out = append(out, `,"total_tokens":`...)
	total := resp.Usage.TotalTokens
	if total == 0 {
		total = resp.Usage.PromptTokens
	}
	out = strconv.AppendInt(out, int64(total), 10)
	out = append(out, "}}"...)
	return out
}

func appendFloat32(out []byte, f float32) []byte {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return append(out, '0')
	}
	return strconv.AppendFloat(out, float64(f), 'g', -1, 32)
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
