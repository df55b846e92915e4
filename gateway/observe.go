package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/upstream"
	"github.com/ragway/ragway/policies"
	"github.com/ragway/ragway/policies/limits"
)

// Response headers the gateway adds.
const (
	HeaderTarget    = "X-Ragway-Target"
	HeaderOverhead  = "X-Ragway-Overhead-Ms"
	HeaderRequestID = "X-Request-Id"
)

const stateKey = "ragway.state"

// reqState follows one request through the gateway, for the overhead header,
// metrics, the access log and the trace span.
type reqState struct {
	id       string
	start    time.Time
	endpoint string
	route    string
	target   string
	provider string
	stream   bool
	// upstream is the time spent waiting on backends before the response
	// started; the rest of the time to the first byte is gateway overhead.
	upstream  time.Duration
	overhead  time.Duration
	ttft      time.Duration
	usage     llm.Usage
	respModel string
	err       *APIError
	prompt    []byte
	span      trace.Span

	// rt is the runtime the request started with; principal the caller.
	rt        *runtime
	principal *policies.Principal
	lease     *limits.Lease
	// counting, while not nil, is closed once the prompt count that
	// refines lease is done (see countDuring).
	counting chan struct{}
	// admitted is true once the caller passed authorization and limits.
	admitted bool
}

// stateCtxKey carries a request's state in its context. The context is
// replaced anyway (for the span), where gin's c.Set would allocate a map
// for every request.
type stateCtxKey struct{}

func stateOf(c *gin.Context) *reqState {
	if st, ok := c.Request.Context().Value(stateCtxKey{}).(*reqState); ok {
		return st
	}
	if v, ok := c.Get(stateKey); ok {
		return v.(*reqState)
	}
	st := &reqState{start: time.Now()}
	c.Set(stateKey, st)
	return st
}

// awaitCount waits for the prompt count of countDuring, if one runs.
func (st *reqState) awaitCount() {
	if st.counting != nil {
		<-st.counting
		st.counting = nil
	}
}

// observe is the middleware that wraps every /v1 request with a span,
// metrics and an access log line.
func (s *Server) observe(endpoint string) gin.HandlerFunc {
	return func(c *gin.Context) {
		st := &reqState{start: time.Now(), endpoint: endpoint, id: requestID(c.Request)}
		// The caller's trace context (traceparent, baggage) makes this span
		// a child of the caller's; with tracing off it still reaches the
		// backend, as the parent of the backend's spans.
		ctx := upstream.Propagator.Extract(c.Request.Context(), propagation.HeaderCarrier(c.Request.Header))
		ctx, span := s.tracer.Start(ctx, endpoint, trace.WithSpanKind(trace.SpanKindServer))
		st.span = span
		c.Request = c.Request.WithContext(context.WithValue(ctx, stateCtxKey{}, st))
		s.metrics.inflight.Inc()
		s.requests.Add(1)
		defer s.requests.Done()
		c.Next()
		if c.Writer.Written() {
			// The response is complete: send it before releasing limits,
			// recording usage and logging.
			c.Writer.Flush()
		}
		s.metrics.inflight.Dec()
		s.settle(st)
		s.finish(c, st)
	}
}

// respond writes a whole response body with its length, so that the
// middleware can flush it to the client before the bookkeeping after it.
func (s *Server) respond(c *gin.Context, status int, contentType string, body []byte) {
	h := c.Writer.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	s.begin(c, stateOf(c), status)
	_, _ = c.Writer.Write(body)
}

// begin writes the response headers: the rate limit figures, which target
// served, the request id and the gateway's own overhead so far.
func (s *Server) begin(c *gin.Context, st *reqState, status int) {
	h := c.Writer.Header()
	if st.lease != nil {
		st.awaitCount()
		st.lease.Status().SetHeaders(h)
	}
	st.overhead = time.Since(st.start) - st.upstream
	if st.overhead < 0 {
		st.overhead = 0
	}
	h.Set(HeaderOverhead, strconv.FormatFloat(msFloat(st.overhead), 'f', 3, 64))
	h.Set(HeaderRequestID, st.id)
	if st.target != "" {
		h.Set(HeaderTarget, st.target)
	}
	c.Writer.WriteHeader(status)
}

// fail writes err as an OpenAI error response, or records it when the
// response has already started.
func (s *Server) fail(c *gin.Context, err error) {
	st := stateOf(c)
	ae := s.clientError(err)
	st.err = ae
	if c.Writer.Written() || ae.Status == StatusClientClosed {
		return
	}
	ae.headers(c.Writer.Header())
	body, _ := jsonMarshal(ae.body())
	s.respond(c, ae.Status, "application/json", body)
}

func (s *Server) finish(c *gin.Context, st *reqState) {
	status := c.Writer.Status()
	if st.err != nil && st.err.Status == StatusClientClosed {
		status = StatusClientClosed
	}
	elapsed := time.Since(st.start)
	route := st.route
	if route == "" || (st.err != nil && st.err.Code == "model_not_found") {
		route = "unknown"
	}
	code := strconv.Itoa(status)
	s.metrics.requests.WithLabelValues(st.endpoint, route, st.target, code).Inc()
	s.metrics.duration.WithLabelValues(st.endpoint, route, strconv.FormatBool(st.stream)).Observe(elapsed.Seconds())
	s.metrics.overhead.WithLabelValues(st.endpoint).Observe(st.overhead.Seconds())
	s.metrics.observeUsage(route, st.target, st.usage.PromptTokens, st.usage.CompletionTokens)
	if st.stream && st.ttft > 0 {
		s.metrics.ttft.WithLabelValues(route, st.target).Observe(st.ttft.Seconds())
	}

	// Attributes are built only for a span that records: building them
	// for the no-op span allocated about 600 bytes a request.
	if span := st.span; span.IsRecording() {
		s.annotate(span, st, route, status)
	}
	st.span.End()

	if !s.log.Enabled(c.Request.Context(), slog.LevelInfo) {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", st.id),
		slog.String("method", c.Request.Method),
		slog.String("path", c.Request.URL.Path),
		slog.Int("status", status),
		slog.Float64("duration_ms", msFloat(elapsed)),
		slog.Float64("overhead_ms", msFloat(st.overhead)),
		slog.String("route", st.route),
		slog.String("target", st.target),
		slog.Bool("stream", st.stream),
		slog.Int("prompt_tokens", st.usage.PromptTokens),
		slog.Int("completion_tokens", st.usage.CompletionTokens),
	}
	if st.stream && st.ttft > 0 {
		attrs = append(attrs, slog.Float64("ttft_ms", msFloat(st.ttft)))
	}
	if st.err != nil {
		attrs = append(attrs, slog.Any("error", st.err))
	}
	if s.logPrompts && len(st.prompt) > 0 {
		attrs = append(attrs, slog.String("prompt", truncate(st.prompt, 4096)))
	}
	s.log.LogAttrs(c.Request.Context(), slog.LevelInfo, "request", attrs...)
}

func genAIOperation(endpoint string) string {
	switch endpoint {
	case "chat.completions":
		return "chat"
	case "completions":
		return "text_completion"
	case "embeddings":
		return "embeddings"
	}
	return endpoint
}

// requestID keeps a sane client-supplied X-Request-Id or makes one.
func requestID(r *http.Request) string {
	if id := r.Header.Get(HeaderRequestID); id != "" && len(id) <= 128 && printable(id) {
		return id
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}

func msFloat(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// annotate sets the OpenTelemetry GenAI attributes and the status of a
// request's span.
func (s *Server) annotate(span trace.Span, st *reqState, route string, status int) {
	span.SetAttributes(
		attrGenAIOperation.String(genAIOperation(st.endpoint)),
		attrGenAIRequestModel.String(st.route),
		attrRagwayRoute.String(route),
		attrRagwayTarget.String(st.target),
		attrRagwayStream.Bool(st.stream),
		attribute.Int("http.response.status_code", status),
	)
	if st.provider != "" {
		span.SetAttributes(attrGenAIProvider.String(st.provider))
	}
	if st.respModel != "" {
		span.SetAttributes(attrGenAIResponseModel.String(st.respModel))
	}
	if st.usage.PromptTokens > 0 || st.usage.CompletionTokens > 0 {
		span.SetAttributes(attrGenAIInputTokens.Int(st.usage.PromptTokens), attrGenAIOutputTokens.Int(st.usage.CompletionTokens))
	}
	if st.err != nil && status >= 500 {
		span.SetStatus(codes.Error, st.err.Message)
	}
}
