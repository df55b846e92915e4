package gateway

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/ragway/ragway/gateway/config"
)

// OpenTelemetry GenAI semantic convention attribute keys.
const (
	attrGenAIOperation     = attribute.Key("gen_ai.operation.name")
	attrGenAIProvider      = attribute.Key("gen_ai.provider.name")
	attrGenAIRequestModel  = attribute.Key("gen_ai.request.model")
	attrGenAIResponseModel = attribute.Key("gen_ai.response.model")
	attrGenAIInputTokens   = attribute.Key("gen_ai.usage.input_tokens")
	attrGenAIOutputTokens  = attribute.Key("gen_ai.usage.output_tokens")
	attrRagwayRoute        = attribute.Key("ragway.route")
	attrRagwayTarget       = attribute.Key("ragway.target")
	attrRagwayStream       = attribute.Key("ragway.stream")
)

// newTracerProvider returns an OTLP/HTTP exporting provider when an endpoint
// is configured, and a no-op one otherwise. shutdown flushes pending spans.
func newTracerProvider(ctx context.Context, cfg config.Telemetry) (trace.TracerProvider, func(context.Context) error, error) {
	if cfg.OTLPEndpoint == "" {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	opts := []otlptracehttp.Option{}
	if strings.Contains(cfg.OTLPEndpoint, "://") {
		opts = append(opts, otlptracehttp.WithEndpointURL(tracesURL(cfg.OTLPEndpoint)))
	} else {
		opts = append(opts, otlptracehttp.WithEndpoint(cfg.OTLPEndpoint))
	}
	if cfg.Insecure {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("otlp exporter: %w", err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", cfg.ServiceName))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	return tp, tp.Shutdown, nil
}

// tracesURL is the URL spans are posted to: a URL without a path is the
// collector's base URL, as in OTEL_EXPORTER_OTLP_ENDPOINT, and gets the
// signal path /v1/traces; a URL with a path is used as it is. (The
// exporter would post a bare base URL to "/", which collectors reject.)
func tracesURL(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Path != "" && u.Path != "/") {
		return endpoint
	}
	u.Path = "/v1/traces"
	return u.String()
}
