package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/sse"
	"github.com/ragway/ragway/policies/routing"
	"github.com/ragway/ragway/policies/tokens"
)

// handleGenerate serves POST /v1/chat/completions and /v1/completions.
func (s *Server) handleGenerate(ep llm.Endpoint) gin.HandlerFunc {
	return func(c *gin.Context) {
		st := stateOf(c)
		body, err := readBody(c.Writer, c.Request, s.maxBody)
		if err != nil {
			s.fail(c, err)
			return
		}
		req, err := decodeGenerate(body, ep)
		if err != nil {
			s.fail(c, err)
			return
		}
		st.route, st.stream = req.Model, req.Stream
		if s.logPrompts {
			st.prompt = promptOf(req)
		}
		rt := st.rt
		if !rt.has(req.Model) {
			s.fail(c, modelNotFound(req.Model))
			return
		}
		count := func() (int, error) {
			if ep == llm.ChatCompletions {
				return s.tokens.Chat(req.Model, req.Messages, req.Tools)
			}
			return s.tokens.Prompt(req.Model, req.Fields["prompt"])
		}
		bound := func() (int, bool) {
			if ep == llm.ChatCompletions {
				return tokens.ChatBound(req.Messages, req.Tools)
			}
			return tokens.PromptBound(req.Fields["prompt"])
		}
		if err := s.admit(c, st, req.Model, count, bound, req.MaxTokens); err != nil {
			s.fail(c, err)
			return
		}
		st.admitted = true
		caller, forced := s.caller(st, req.User, c), s.forcedTarget(c, st, req.Model)
		s.shadow(rt, req, st)
		if req.Stream {
			s.serveStream(c, rt, req, caller, forced)
			return
		}
		var resp *llm.Response
		err = s.dispatch(c.Request.Context(), rt, req.Model, caller, forced, st, func(ctx context.Context, t target) error {
			r := req.Request
			r.Model = t.Model
			var err error
			resp, err = t.backend.Generate(ctx, &r)
			return err
		})
		if err != nil {
			s.fail(c, err)
			return
		}
		st.usage, st.respModel = resp.Usage, resp.Model
		s.respond(c, http.StatusOK, "application/json", resp.Body)
	}
}

// serveStream relays a streamed generation as SSE. Headers are written only
// once the first chunk arrived, so every failure before it can still be
// retried, fall back, or be answered with a plain JSON error.
func (s *Server) serveStream(c *gin.Context, rt *runtime, req *genRequest, caller routing.Caller, forced string) {
	st := stateOf(c)
	ctx := c.Request.Context()
	var stream llm.Stream
	err := s.dispatch(ctx, rt, req.Model, caller, forced, st, func(ctx context.Context, t target) error {
		r := req.Request
		r.Model = t.Model
		var err error
		stream, err = t.backend.GenerateStream(ctx, &r)
		return err
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	defer stream.Close()
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	s.begin(c, st, http.StatusOK)
	w := c.Writer
	for {
		ch, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			_ = sse.WriteData(w, sse.Done)
			w.Flush()
			return
		}
		if err != nil {
			s.streamFailed(c, st, err)
			return
		}
		if ch.Usage != nil {
			st.usage = *ch.Usage
		}
		if ch.UsageOnly && !req.IncludeUsage {
			continue
		}
		if err := sse.WriteData(w, ch.Data); err != nil {
			s.streamFailed(c, st, err)
			return
		}
		w.Flush()
		if st.ttft == 0 {
			st.ttft = time.Since(st.start)
		}
	}
}

// streamFailed ends a stream that had begun: an SSE error event in the
// OpenAI error shape, unless the client is gone.
func (s *Server) streamFailed(c *gin.Context, st *reqState, err error) {
	if c.Request.Context().Err() != nil {
		st.err = toAPIError(context.Canceled)
		return
	}
	ae := s.clientError(err)
	st.err = ae
	s.metrics.streamErrors.WithLabelValues(st.target, errorKind(err)).Inc()
	body, _ := jsonMarshal(ae.body())
	_ = sse.WriteEvent(c.Writer, "error", body)
	c.Writer.Flush()
}

// caller identifies the client for sticky routing: the tenant and key or
// subject of its credential, the body's user field and headers.
func (s *Server) caller(st *reqState, user string, c *gin.Context) routing.Caller {
	call := routing.Caller{User: user, Header: c.GetHeader}
	if st.principal != nil {
		call.Key = st.principal.Tenant + "/" + callerKey(st.principal)
	}
	return call
}

// forcedTarget returns X-Ragway-Target when the caller may force a target.
func (s *Server) forcedTarget(c *gin.Context, st *reqState, route string) string {
	h := c.GetHeader(HeaderTarget)
	if h == "" || !s.mayForceTarget(st, route) {
		return ""
	}
	return h
}

func promptOf(req *genRequest) []byte {
	if m, ok := req.Fields["messages"]; ok {
		return m
	}
	return req.Fields["prompt"]
}
