package backends

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/builtin"
	"github.com/ragway/ragway/llm/llmtest"
	"github.com/ragway/ragway/llm/replicas"
	"github.com/ragway/ragway/llm/resilience"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var fastRetry = resilience.Retry{Attempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}

func closeBackend(t *testing.T, b llm.Backend) {
	t.Helper()
	c, ok := b.(io.Closer)
	require.True(t, ok, "%T is an io.Closer", b)
	require.NoError(t, c.Close())
}

func TestOpen(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		urls []string
	}{
		{name: "openai replicas", cfg: Config{Name: "a", Type: TypeOpenAI, URL: "http://h0/v1", URLs: []string{"http://h1/v1"}}, urls: []string{"http://h0/v1", "http://h1/v1"}},
		{name: "openai one url is a pool too", cfg: Config{Name: "a", Type: TypeOpenAI, URL: "http://h0/v1", APIKey: "sk"}, urls: []string{"http://h0/v1"}},
		{name: "ollama", cfg: Config{Name: "o", Type: TypeOllama, URLs: []string{"http://h0:11434", "http://h1:11434"}}, urls: []string{"http://h0:11434", "http://h1:11434"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Open(tt.cfg)
			require.NoError(t, err)
			pool, ok := b.(*replicas.Pool)
			require.True(t, ok, "got %T", b)
			var urls []string
			for _, st := range pool.Status() {
				urls = append(urls, st.URL)
			}
			require.Equal(t, tt.urls, urls)
			require.NoError(t, pool.Close())
		})
	}

	b, err := Open(Config{Name: "b", Type: TypeBuiltin})
	require.NoError(t, err)
	require.IsType(t, &builtin.Backend{}, b)
}

func TestOpenRejectsBadConfig(t *testing.T) {
	b, err := Open(Config{Type: TypeOllama, URLs: []string{"nope"}, Retry: resilience.Retry{Attempts: 50}})
	require.Nil(t, b)
	require.ErrorContains(t, err, "name is required")
	require.ErrorContains(t, err, `url "nope"`)
	require.ErrorContains(t, err, "retry.attempts")
}

func TestOllamaHeaders(t *testing.T) {
	headers := map[string]string{"X-Team": "search"}
	got := ollamaHeaders(Config{APIKey: "sk-1", Headers: headers})
	require.Equal(t, map[string]string{"X-Team": "search", "Authorization": "Bearer sk-1"}, got)
	require.Equal(t, map[string]string{"X-Team": "search"}, headers, "the config's map is not modified")

	own := map[string]string{"Authorization": "Basic abc"}
	require.Equal(t, own, ollamaHeaders(Config{APIKey: "sk-1", Headers: own}), "an explicit header wins")
	require.Equal(t, headers, ollamaHeaders(Config{Headers: headers}))
}

// counter is an Observer that counts.
type counter struct {
	mu      sync.Mutex
	retries int
	changes []string
	batches int
	inputs  int
}

func (c *counter) Retried(string, int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.retries++
}

func (c *counter) BreakerChanged(target, from, to string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.changes = append(c.changes, target+":"+from+"->"+to)
}

func (c *counter) Batched(inputs, _ int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches++
	c.inputs += inputs
}

func chat(t *testing.T, stream bool) *llm.Request {
	return llmtest.ChatRequest(t, stream, map[string]any{"messages": []map[string]any{{"role": "user", "content": "hello there"}}})
}

// One replica refuses connections: retries through the pool land on the
// other, which is then the only one called.
func TestOpenWrapOverReplicas(t *testing.T) {
	up := llmtest.NewServer()
	defer up.Close()
	down := llmtest.NewServer()
	down.Close()

	cfg := Config{Name: "vllm", Type: TypeOpenAI, URLs: []string{down.OpenAIURL(), up.OpenAIURL()}, Retry: fastRetry}
	b, err := Open(cfg)
	require.NoError(t, err)
	defer closeBackend(t, b)
	obs := &counter{}
	w := Wrap(b, cfg, "vllm/"+llmtest.ChatModel, obs)
	defer closeBackend(t, w)

	ctx := t.Context()
	for range 6 {
		resp, err := w.Generate(ctx, chat(t, false))
		require.NoError(t, err)
		require.Positive(t, resp.Usage.TotalTokens)
	}
	require.Equal(t, 6, up.Count("/v1/chat/completions"))
	require.LessOrEqual(t, obs.retries, 1, "the refusing replica was tried at most once")
	require.Equal(t, 1, b.(*replicas.Pool).Healthy())

	s, err := w.GenerateStream(ctx, chat(t, true))
	require.NoError(t, err)
	chunks, err := llmtest.Collect(t, s)
	require.ErrorIs(t, err, io.EOF)
	require.NotEmpty(t, chunks)
	require.Zero(t, b.(*replicas.Pool).Outstanding())

	models, err := w.Models(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, models)
}

// Concurrent embedding calls are batched and each caller gets the vectors
// the upstream gives for its own inputs.
func TestWrapBatchesEmbeddings(t *testing.T) {
	for _, typ := range []string{TypeOpenAI, TypeOllama} {
		t.Run(typ, func(t *testing.T) {
			srv := llmtest.NewServer()
			defer srv.Close()
			url, path := srv.OpenAIURL(), "/v1/embeddings"
			if typ == TypeOllama {
				url, path = srv.URL(), "/api/embed"
			}
			cfg := Config{Name: typ, Type: typ, URL: url, APIKey: "sk-test", Retry: fastRetry}
			cfg.Batch.MaxInputs = 8
			cfg.Batch.MaxWait = 50 * time.Millisecond
			b, err := Open(cfg)
			require.NoError(t, err)
			defer closeBackend(t, b)
			obs := &counter{}
			w := Wrap(b, cfg, typ+"/"+llmtest.EmbedModel, obs)
			defer closeBackend(t, w)

			const callers = 12
			var wg sync.WaitGroup
			for i := range callers {
				in := []string{fmt.Sprintf("caller %d first", i), fmt.Sprintf("caller %d second", i)}
				wg.Go(func() {
					got, err := w.Embed(context.Background(), &llm.EmbedRequest{Model: llmtest.EmbedModel, Input: in})
					if !assert.NoError(t, err) {
						return
					}
					want, err := b.Embed(context.Background(), &llm.EmbedRequest{Model: llmtest.EmbedModel, Input: in})
					if assert.NoError(t, err) {
						assert.Equal(t, want.Vectors, got.Vectors)
					}
				})
			}
			wg.Wait()
			obs.mu.Lock()
			defer obs.mu.Unlock()
			require.Equal(t, 2*callers, obs.inputs)
			require.Less(t, obs.batches, callers, "calls were coalesced")
			last, ok := srv.LastRequest(path)
			require.True(t, ok)
			require.Equal(t, "Bearer sk-test", last.Header.Get("Authorization"))
		})
	}
}
