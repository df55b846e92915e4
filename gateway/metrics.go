package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the gateway's Prometheus series. Labels stay bounded: route and
// target come from the configuration (unknown models are "unknown").
type metrics struct {
	registry *prometheus.Registry

	requests        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	ttft            *prometheus.HistogramVec
	overhead        *prometheus.HistogramVec
	tokens          *prometheus.CounterVec
	upstreamErrors  *prometheus.CounterVec
	retries         *prometheus.CounterVec
	fallbacks       *prometheus.CounterVec
	breakerState    *prometheus.GaugeVec
	shadow          *prometheus.CounterVec
	streamErrors    *prometheus.CounterVec
	batchInputs     prometheus.Histogram
	inflight        prometheus.Gauge
	reloads         *prometheus.CounterVec
	usageRequests   *prometheus.CounterVec
	usageTokens     *prometheus.CounterVec
	limitStoreCalls *prometheus.HistogramVec
	limitStoreErrs  *prometheus.CounterVec
}

var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

func newMetrics() *metrics {
	m := &metrics{registry: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ragway_requests_total", Help: "Requests served, by endpoint, route, target and HTTP status.",
	}, []string{"endpoint", "route", "target", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ragway_request_duration_seconds", Help: "Time from request to the end of the response.", Buckets: latencyBuckets,
	}, []string{"endpoint", "route", "stream"})
	m.ttft = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ragway_time_to_first_token_seconds", Help: "Time from request to the first streamed chunk sent.", Buckets: latencyBuckets,
	}, []string{"route", "target"})
	m.overhead = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ragway_gateway_overhead_seconds",
		Help:    "Time spent in the gateway itself before the response started, upstream waits excluded.",
		Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .05},
	}, []string{"endpoint"})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ragway_tokens_total", Help: "Tokens reported by backends, by direction (prompt or completion).",
	}, []string{"route", "target", "direction"})
	m.upstreamErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ragway_upstream_errors_total", Help: "Failed upstream calls, by target and error kind.",
	}, []string{"target", "kind"})
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ragway_upstream_retries_total", Help: "Upstream calls retried, by target.",
	}, []string{"target"})
	m.fallbacks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ragway_fallbacks_total", Help: "Requests passed from a failing route to a fallback route.",
	}, []string{"from", "to"})
	m.breakerState = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ragway_circuit_breaker_state", Help: "Circuit breaker state per target: 0 closed, 1 half-open, 2 open.",
	}, []string{"target"})
	m.shadow = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ragway_shadow_requests_total", Help: "Shadow copies, by route, shadow target and outcome (ok, error, dropped).",
	}, []string{"route", "target", "outcome"})
	m.streamErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ragway_stream_errors_total", Help: "Streams that failed after the first byte, by target and kind.",
	}, []string{"target", "kind"})
	m.batchInputs = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "ragway_embedding_batch_inputs", Help: "Inputs per upstream embedding batch.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048},
	})
	m.inflight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "ragway_inflight_requests", Help: "Requests being served.",
	})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ragway_config_reloads_total", Help: "Configuration reloads, by result (ok, rejected).",
	}, []string{"result"})
	m.usageRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ragway_usage_requests_total", Help: "Admitted requests per tenant, key and model.",
	}, []string{"tenant", "key", "model"})
	m.usageTokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ragway_usage_tokens_total", Help: "Tokens per tenant, key, model and direction (prompt or completion).",
	}, []string{"tenant", "key", "model", "direction"})
	m.limitStoreErrs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ragway_limit_store_errors_total", Help: "Failed calls to the shared limit store (Redis), by operation.",
	}, []string{"op"})
	m.limitStoreCalls = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ragway_limit_store_seconds", Help: "Calls to the shared limit store (Redis), one round trip each, by operation, as timed in the gateway.",
		Buckets: []float64{25e-6, 50e-6, 100e-6, 150e-6, 200e-6, 300e-6, 400e-6, 600e-6, 800e-6, 1e-3, 1.5e-3, 2e-3, 3e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1},
	}, []string{"op"})
	m.registry.MustRegister(m.usageRequests, m.usageTokens, m.limitStoreErrs, m.limitStoreCalls)
	m.registry.MustRegister(m.requests, m.duration, m.ttft, m.overhead, m.tokens, m.upstreamErrors, m.retries,
		m.fallbacks, m.breakerState, m.shadow, m.streamErrors, m.batchInputs, m.inflight, m.reloads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observeUsage(route, target string, prompt, completion int) {
	if prompt > 0 {
		m.tokens.WithLabelValues(route, target, "prompt").Add(float64(prompt))
	}
	if completion > 0 {
		m.tokens.WithLabelValues(route, target, "completion").Add(float64(completion))
	}
}
