package gateway

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm/llmtest"
)

const splitConfig = `
server: {addr: 127.0.0.1:0, allow_target_header: true, shadow_timeout: 300ms}
backends:
  - {name: fake, type: openai, url: {{FAKE}}, retry: {attempts: 1}}
  - {name: shadowfake, type: openai, url: {{SHADOW}}, retry: {attempts: 1}}
routes:
  - model: split
    targets:
      - {backend: fake, model: model-a, weight: 70}
      - {backend: fake, model: model-b, weight: 30}
  - model: sticky
    sticky: {by: user}
    targets:
      - {name: stable, backend: fake, model: model-a, weight: 50}
      - {name: canary, backend: fake, model: model-b, weight: 50}
  - model: shadowed
    targets: [{backend: fake, model: model-a}]
    shadow: {backend: shadowfake, model: model-shadow, sample: 1}
`

func startSplit(t *testing.T) (*harness, *llmtest.Server) {
	shadow := llmtest.NewServer()
	t.Cleanup(shadow.Close)
	return startGateway(t, strings.ReplaceAll(splitConfig, "{{SHADOW}}", shadow.OpenAIURL())), shadow
}

func TestWeightedSplitThroughGateway(t *testing.T) {
	h, _ := startSplit(t)
	const n = 1000
	targets := map[string]int{}
	for i := 0; i < n; i++ {
		status, hdr, _ := h.post("/v1/chat/completions", chatBody("split", "hi"))
		require.Equal(t, http.StatusOK, status)
		targets[hdr.Get(HeaderTarget)]++
	}
	// The header says which target served, and the upstream agrees.
	require.Equal(t, targets["fake/model-a"], h.fake.ModelCount("model-a"))
	require.Equal(t, targets["fake/model-b"], h.fake.ModelCount("model-b"))
	share := float64(targets["fake/model-a"]) / n
	require.InDelta(t, 0.7, share, 5*math.Sqrt(0.7*0.3/n))
}

func TestStickyCanaryAndForcedTarget(t *testing.T) {
	h, _ := startSplit(t)
	seen := map[string]bool{}
	for u := 0; u < 40; u++ {
		user := fmt.Sprintf(`"user":"user-%d"`, u)
		_, hdr, _ := h.post("/v1/chat/completions", chatBody("sticky", "hi", user))
		first := hdr.Get(HeaderTarget)
		require.Contains(t, []string{"stable", "canary"}, first)
		seen[first] = true
		for i := 0; i < 5; i++ {
			_, hdr, _ := h.post("/v1/chat/completions", chatBody("sticky", "hi", user))
			require.Equal(t, first, hdr.Get(HeaderTarget), "user-%d moved between targets", u)
		}
	}
	require.Len(t, seen, 2, "40 users should land on both targets")

	for i := 0; i < 10; i++ {
		status, hdr, _ := h.post("/v1/chat/completions", chatBody("split", "hi"), HeaderTarget, "fake/model-b")
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "fake/model-b", hdr.Get(HeaderTarget))
	}
	status, _, body := h.post("/v1/chat/completions", chatBody("split", "hi"), HeaderTarget, "fake/model-z")
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "X-Ragway-Target")
}

func TestForcedTargetIgnoredWhenNotAllowed(t *testing.T) {
	cfg := strings.Replace(splitConfig, "allow_target_header: true", "allow_target_header: false", 1)
	shadow := llmtest.NewServer()
	t.Cleanup(shadow.Close)
	h := startGateway(t, strings.ReplaceAll(cfg, "{{SHADOW}}", shadow.OpenAIURL()))
	forcedWins := 0
	for i := 0; i < 60; i++ {
		status, hdr, _ := h.post("/v1/chat/completions", chatBody("split", "hi"), HeaderTarget, "fake/model-b")
		require.Equal(t, http.StatusOK, status)
		if hdr.Get(HeaderTarget) == "fake/model-b" {
			forcedWins++
		}
	}
	// Honoured, it would be 60; ignored, about 30% of 60.
	require.Less(t, forcedWins, 45)
}

func TestShadowNeverReturnedNorWaitedFor(t *testing.T) {
	h, shadow := startSplit(t)
	// The shadow stalls after its headers until the gateway gives up on it.
	shadow.Inject(llmtest.Fault{Kind: llmtest.FaultStall})
	for i := 0; i < 5; i++ {
		status, hdr, body := h.post("/v1/chat/completions", chatBody("shadowed", "primary please"))
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "fake/model-a", hdr.Get(HeaderTarget))
		require.Contains(t, body, llmtest.Reply("primary please"))
		require.NotContains(t, body, "model-shadow")
	}
	// Every copy reached the shadow, none had finished when the client got
	// its answer (they stall), and each ends as an error at shadow_timeout.
	require.Eventually(t, func() bool { return shadow.Count("/v1/chat/completions") == 5 }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool {
		return strings.Contains(h.metricsText(), `ragway_shadow_requests_total{outcome="error",route="shadowed",target="shadowfake/model-shadow"} 5`)
	}, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, 5, h.fake.ModelCount("model-a"))

	shadow.ClearFaults()
	status, _, _ := h.post("/v1/chat/completions", chatBody("shadowed", "again", `"stream":true`))
	require.Equal(t, http.StatusOK, status)
	require.Eventually(t, func() bool {
		return strings.Contains(h.metricsText(), `ragway_shadow_requests_total{outcome="ok",route="shadowed",target="shadowfake/model-shadow"} 1`)
	}, 5*time.Second, 10*time.Millisecond)
	require.Contains(t, h.logs.String(), `"msg":"shadow request"`)
}

const resilienceConfig = `
server: {addr: 127.0.0.1:0}
backends:
  - name: fake
    type: openai
    url: {{FAKE}}
    retry: {attempts: 1}
    breaker: {failures: 3, open_for: 300ms}
  - name: dead
    type: openai
    url: http://127.0.0.1:1/v1
    timeouts: {connect: 200ms}
    retry: {attempts: 2, initial_backoff: 1ms, max_backoff: 2ms}
routes:
  - model: breaking
    targets: [{backend: fake, model: model-a}]
  - model: primary
    targets: [{backend: dead, model: gone}]
    fallbacks: [backup]
  - model: backup
    targets: [{name: backup-target, backend: fake, model: model-b}]
`

func TestBreakerOpensAndRecovers(t *testing.T) {
	h := startGateway(t, resilienceConfig)
	h.fake.Inject(llmtest.Fault{Kind: llmtest.FaultStatus, Status: 500, Times: 3, Model: "model-a"})
	for i := 0; i < 3; i++ {
		status, _, _ := h.post("/v1/chat/completions", chatBody("breaking", "x"))
		require.Equal(t, http.StatusBadGateway, status)
	}
	require.Equal(t, 3, h.fake.ModelCount("model-a"))
	// Open: refused without reaching the upstream.
	status, _, body := h.post("/v1/chat/completions", chatBody("breaking", "x"))
	require.Equal(t, http.StatusBadGateway, status)
	require.Contains(t, body, "backend_unavailable")
	require.Equal(t, 3, h.fake.ModelCount("model-a"))
	require.Contains(t, h.metricsText(), `ragway_circuit_breaker_state{target="fake/model-a"} 2`)
	// After open_for, a half-open probe succeeds and closes it.
	require.Eventually(t, func() bool {
		status, _, _ := h.post("/v1/chat/completions", chatBody("breaking", "x"))
		return status == http.StatusOK
	}, 5*time.Second, 20*time.Millisecond)
	require.Contains(t, h.metricsText(), `ragway_circuit_breaker_state{target="fake/model-a"} 0`)
}

func TestFallbackToAnotherRoute(t *testing.T) {
	h := startGateway(t, resilienceConfig)
	for _, stream := range []bool{false, true} {
		extra := fmt.Sprintf(`"stream":%t`, stream)
		status, hdr, body := h.post("/v1/chat/completions", chatBody("primary", "hello", extra))
		require.Equal(t, http.StatusOK, status, body)
		require.Equal(t, "backup-target", hdr.Get(HeaderTarget))
		require.Contains(t, body, "echo:")
	}
	require.Equal(t, 2, h.fake.ModelCount("model-b"))
	text := h.metricsText()
	require.Contains(t, text, `ragway_fallbacks_total{from="primary",to="backup"} 2`)
	require.Contains(t, text, `ragway_upstream_retries_total{target="dead/gone"}`)
}

func (h *harness) metricsText() string {
	h.t.Helper()
	resp, err := http.Get(h.url + "/metrics")
	require.NoError(h.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	return string(b)
}
