package gateway

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm/llmtest"
)

// BenchmarkChat sends a small non-streaming chat request through the
// gateway to the fake upstream, in parallel: the gateway's CPU and
// allocations per request, with the fake upstream and the client in the
// same process.
//
// The auth sub-benchmark adds an API key and limits in memory that never
// reject (requests per second and minute, tokens per minute, so the prompt
// is counted too): the difference between the two is what access control
// costs a request.
func BenchmarkChat(b *testing.B) {
	b.Run("auth=off", func(b *testing.B) { benchChat(b, fakeConfig) })
	b.Run("auth=key+limits", func(b *testing.B) { benchChat(b, fakeConfig+benchLimits) })
}

const benchLimits = `
auth: {anonymous: {enabled: false}}
limits:
  store: memory
  rules:
    - {scope: key, requests_per_second: 1000000, tokens_per_minute: 1000000000}
    - {scope: tenant, requests_per_minute: 60000000}
`

// BenchmarkChatStream streams a chat of ten content chunks through the
// gateway, with usage: the gateway's CPU and allocations per stream.
func BenchmarkChatStream(b *testing.B) {
	h := startGateway(b, fakeConfig, llmtest.WithRecordLimit(0), llmtest.WithChunks(10))
	body := chatBody("chat", "Say hello in one word.", `"stream":true`, `"stream_options":{"include_usage":true}`)
	benchPosts(b, h, body, func(data []byte) bool { return bytes.HasSuffix(data, []byte("data: [DONE]\n\n")) })
}

func benchChat(b *testing.B, yamlText string) {
	h := startGateway(b, yamlText, llmtest.WithRecordLimit(0))
	benchPosts(b, h, chatBody("chat", "Say hello in one word."), func([]byte) bool { return true })
}

// benchPosts posts body to /v1/chat/completions with the harness's API key,
// in parallel, and fails on a response that is not a 200 or that complete
// rejects.
func benchPosts(b *testing.B, h *harness, body string, complete func([]byte) bool) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.Cleanup(client.CloseIdleConnections)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, err := http.NewRequest(http.MethodPost, h.url+"/v1/chat/completions", strings.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+h.apiKey)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			data, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || !complete(data) {
				b.Errorf("status %d, %v: %s", resp.StatusCode, err, data)
				return
			}
		}
	})
	b.StopTimer()
	require.Positive(b, h.fake.Total())
}
