package gateway

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// collector is an OTLP/HTTP trace receiver: it decodes what the gateway's
// exporter posts to /v1/traces.
type collector struct {
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var req coltrace.ExportTraceServiceRequest
	if err != nil || r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			c.spans = append(c.spans, ss.Spans...)
		}
	}
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

func (c *collector) named(name string) []*tracepb.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*tracepb.Span
	for _, s := range c.spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// attrs flattens a span's attributes to strings.
func attrs(s *tracepb.Span) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes {
		m[kv.Key] = anyValue(kv.Value)
	}
	return m
}

func anyValue(v *commonpb.AnyValue) string {
	switch x := v.Value.(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return fmt.Sprint(x.IntValue)
	case *commonpb.AnyValue_BoolValue:
		return fmt.Sprint(x.BoolValue)
	}
	return v.String()
}

// TestTracesCarryGenAIAttributes exports the gateway's spans over OTLP/HTTP
// to a collector in the test and checks the GenAI attributes of a chat, and
// the error status of a failed one.
func TestTracesCarryGenAIAttributes(t *testing.T) {
	col := &collector{}
	cs := httptest.NewServer(col)
	defer cs.Close()
	h := startGateway(t, fakeConfig+fmt.Sprintf("telemetry: {otlp_endpoint: %q, insecure: true, sample_ratio: 1}\n", cs.URL))

	status, _, body := h.post("/v1/chat/completions", chatBody("chat", "Say hello."), "traceparent", callerTraceparent)
	require.Equal(t, http.StatusOK, status, body)
	status, _, body = h.post("/v1/chat/completions", chatBody("no-such-model", "Say hello."))
	require.Equal(t, http.StatusNotFound, status, body)
	up, found := h.fake.LastRequest("/v1/chat/completions")
	require.True(t, found)
	h.stop() // flushes the batch of spans

	spans := col.named("chat.completions")
	require.Len(t, spans, 2, "one server span per request")
	var ok, missing *tracepb.Span
	for _, s := range spans {
		if attrs(s)["http.response.status_code"] == "200" {
			ok = s
		} else {
			missing = s
		}
	}
	require.NotNil(t, ok, "the span of the answered chat")
	require.NotNil(t, missing, "the span of the unknown model")
	assert.Equal(t, tracepb.Span_SPAN_KIND_SERVER, ok.Kind)
	a := attrs(ok)
	assert.Equal(t, "chat", a["gen_ai.operation.name"])
	assert.Equal(t, "chat", a["gen_ai.request.model"])
	assert.Equal(t, "chat", a["ragway.route"])
	assert.Equal(t, "fake/fake-chat", a["ragway.target"])
	assert.Equal(t, "false", a["ragway.stream"])
	assert.Equal(t, "fake-chat", a["gen_ai.response.model"])
	assert.NotEmpty(t, a["gen_ai.provider.name"])
	assert.NotEqual(t, "", a["gen_ai.usage.input_tokens"])
	assert.NotEqual(t, "0", a["gen_ai.usage.output_tokens"])

	// The caller's trace continues through the gateway to the backend.
	assert.Equal(t, callerTraceID, hex.EncodeToString(ok.TraceId), "the span joins the caller's trace")
	assert.Equal(t, callerSpanID, hex.EncodeToString(ok.ParentSpanId), "as a child of the caller's span")
	assert.Equal(t, "00-"+callerTraceID+"-"+hex.EncodeToString(ok.SpanId)+"-01", up.Header.Get("traceparent"),
		"the backend sees the gateway's span as its parent")
	assert.NotEqual(t, callerTraceID, hex.EncodeToString(missing.TraceId), "a request without traceparent starts a trace")

	b := attrs(missing)
	assert.Equal(t, "404", b["http.response.status_code"])
	assert.Equal(t, "unknown", b["ragway.route"])
}

const (
	callerTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpanID      = "00f067aa0ba902b7"
	callerTraceparent = "00-" + callerTraceID + "-" + callerSpanID + "-01"
)

// TestTraceContextPassesThrough: with tracing off the gateway records no
// spans, but the caller's trace context still reaches the backend, so the
// backend's spans join the caller's trace.
func TestTraceContextPassesThrough(t *testing.T) {
	h := startGateway(t, fakeConfig)
	status, _, body := h.post("/v1/chat/completions", chatBody("chat", "Say hello."),
		"traceparent", callerTraceparent, "baggage", "tenant=acme")
	require.Equal(t, http.StatusOK, status, body)
	up, ok := h.fake.LastRequest("/v1/chat/completions")
	require.True(t, ok)
	assert.Equal(t, callerTraceparent, up.Header.Get("traceparent"))
	assert.Equal(t, "tenant=acme", up.Header.Get("baggage"))

	status, _, body = h.post("/v1/chat/completions", chatBody("ollama-chat", "Say hello."), "traceparent", callerTraceparent)
	require.Equal(t, http.StatusOK, status, body)
	up, ok = h.fake.LastRequest("/api/chat")
	require.True(t, ok, "the Ollama route calls /api/chat")
	assert.Equal(t, callerTraceparent, up.Header.Get("traceparent"), "the Ollama backend carries it too")

	status, _, body = h.post("/v1/chat/completions", chatBody("chat", "Say hello."), "traceparent", "00-garbage")
	require.Equal(t, http.StatusOK, status, body, "a malformed traceparent is ignored")
	up, ok = h.fake.LastRequest("/v1/chat/completions")
	require.True(t, ok)
	assert.Empty(t, up.Header.Get("traceparent"))
}

func TestTracesURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:4318":             "http://127.0.0.1:4318/v1/traces",
		"http://127.0.0.1:4318/":            "http://127.0.0.1:4318/v1/traces",
		"https://otel.example/v1/traces":    "https://otel.example/v1/traces",
		"https://otel.example/custom/spans": "https://otel.example/custom/spans",
	} {
		assert.Equal(t, want, tracesURL(in), in)
	}
}
