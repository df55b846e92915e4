package gateway

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/policies"
	"github.com/ragway/ragway/policies/routing"
)

// dispatch runs call on the target picked for model, then on the targets of
// its fallback routes in order while the failure is one another route may not
// share (unavailable, timeout, 429, 5xx). The target that answered is
// recorded in st; the error is the last failure.
func (s *Server) dispatch(ctx context.Context, rt *runtime, model string, caller routing.Caller, forced string,
	st *reqState, call func(context.Context, target) error) error {
	chain := rt.chain(model)
	var lastErr error
	for i, route := range chain {
		f := ""
		if i == 0 {
			f = forced
		}
		if i > 0 && st.principal != nil && rt.access.authz.Authorize(st.principal, policies.ActionUseModel, route) != nil {
			continue // a fallback the caller may not use is skipped
		}
		t, found, err := rt.pick(route, caller, f)
		if !found {
			continue
		}
		if err != nil {
			return err
		}
		st.target, st.provider = t.Label(), t.provider
		if i > 0 {
			s.metrics.fallbacks.WithLabelValues(chain[i-1], route).Inc()
			s.log.Warn("falling back", "request_id", st.id, "from", chain[i-1], "to", route, "error", lastErr)
		}
		start := time.Now()
		err = call(ctx, t)
		st.upstream += time.Since(start)
		if err == nil {
			return nil
		}
		s.metrics.upstreamErrors.WithLabelValues(t.Label(), errorKind(err)).Inc()
		lastErr = err
		if ctx.Err() != nil || !fallbackable(err) {
			return err
		}
	}
	if lastErr == nil {
		return modelNotFound(model)
	}
	return lastErr
}

func fallbackable(err error) bool {
	return llm.Retryable(err) || errors.Is(err, llm.ErrUnavailable)
}

// errorKind is a bounded label for an upstream failure.
func errorKind(err error) string {
	var ue *llm.UpstreamError
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &ue):
		if ue.Status == 429 {
			return "rate_limited"
		}
		if ue.Status >= 500 {
			return "status_5xx"
		}
		return "status_4xx"
	case errors.Is(err, llm.ErrInvalidRequest):
		return "invalid_request"
	case errors.Is(err, llm.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, llm.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, llm.ErrBadUpstream):
		return "bad_response"
	}
	return "other"
}

// shadow sends a sampled copy of req to the route's shadow target, if it has
// one. The copy runs detached from the client, bounded in time and in number;
// its answer is drained, recorded and dropped.
func (s *Server) shadow(rt *runtime, req *genRequest, st *reqState) {
	st0, ok := rt.table.Shadow(req.Model)
	if !ok {
		return
	}
	label := st0.Label()
	select {
	case s.shadowSem <- struct{}{}:
	default:
		s.metrics.shadow.WithLabelValues(req.Model, label, "dropped").Inc()
		return
	}
	t, err := rt.resolve(st0)
	if err != nil {
		<-s.shadowSem
		s.metrics.shadow.WithLabelValues(req.Model, label, "error").Inc()
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer func() { <-s.shadowSem }()
		defer s.recoverBackground("shadow")
		ctx, cancel := context.WithTimeout(s.bgCtx, s.shadowTimeout)
		defer cancel()
		start := time.Now()
		usage, err := runShadow(ctx, t, req)
		outcome := "ok"
		if err != nil {
			outcome = "error"
		}
		s.metrics.shadow.WithLabelValues(req.Model, label, outcome).Inc()
		s.metrics.observeUsage(req.Model, label, usage.PromptTokens, usage.CompletionTokens)
		s.log.Info("shadow request", "request_id", st.id, "route", req.Model, "target", label, "outcome", outcome,
			"duration_ms", msFloat(time.Since(start)), "completion_tokens", usage.CompletionTokens, "error", errString(err))
	}()
}

func runShadow(ctx context.Context, t target, req *genRequest) (llm.Usage, error) {
	r := req.Request
	r.Model = t.Model
	if !r.Stream {
		resp, err := t.backend.Generate(ctx, &r)
		if err != nil {
			return llm.Usage{}, err
		}
		return resp.Usage, nil
	}
	stream, err := t.backend.GenerateStream(ctx, &r)
	if err != nil {
		return llm.Usage{}, err
	}
	defer stream.Close()
	var usage llm.Usage
	for {
		ch, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return usage, nil
		}
		if err != nil {
			return usage, err
		}
		if ch.Usage != nil {
			usage = *ch.Usage
		}
	}
}

func (s *Server) recoverBackground(what string) {
	if r := recover(); r != nil {
		s.log.Error("background task panicked", "task", what, "panic", r)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
