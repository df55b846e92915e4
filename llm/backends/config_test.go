package backends

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/ragway/ragway/llm/batch"
	"github.com/ragway/ragway/llm/resilience"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		// want lists one fragment per expected problem; empty means valid.
		want []string
	}{
		{name: "openai one url", cfg: Config{Name: "vllm", Type: TypeOpenAI, URL: "http://gpu-0:8000/v1"}},
		{name: "openai replicas", cfg: Config{Name: "vllm", Type: TypeOpenAI, URLs: []string{"http://gpu-0:8000/v1", "https://gpu-1:8000/v1"}}},
		{name: "ollama", cfg: Config{Name: "local", Type: TypeOllama, URL: "http://localhost:11434", Optional: true, Discover: true}},
		{name: "builtin", cfg: Config{Name: "builtin", Type: TypeBuiltin}},
		{
			name: "tuned",
			cfg: Config{
				Name: "tuned", Type: TypeOpenAI, URL: "http://h/v1",
				Timeouts: Timeouts{Connect: time.Second, Response: time.Minute, StreamIdle: 10 * time.Second},
				Retry:    resilience.Retry{Attempts: 1},
				Breaker:  resilience.Breaker{Failures: 10, OpenFor: time.Minute, HalfOpenRequests: 3},
				Batch:    batch.Config{MaxInputs: 1, MaxWait: time.Second},
			},
		},
		{name: "no name", cfg: Config{Type: TypeBuiltin}, want: []string{"name is required"}},
		{name: "no type", cfg: Config{Name: "x"}, want: []string{"type is required"}},
		{name: "unknown type", cfg: Config{Name: "x", Type: "grpc"}, want: []string{`unknown type "grpc"`}},
		{name: "openai without url", cfg: Config{Name: "x", Type: TypeOpenAI}, want: []string{"url or urls is required"}},
		{name: "relative url", cfg: Config{Name: "x", Type: TypeOllama, URL: "localhost:11434"}, want: []string{`url "localhost:11434"`}},
		{name: "ftp url", cfg: Config{Name: "x", Type: TypeOpenAI, URLs: []string{"ftp://h/v1"}}, want: []string{`url "ftp://h/v1"`}},
		{name: "builtin with url", cfg: Config{Name: "x", Type: TypeBuiltin, URL: "http://h"}, want: []string{"builtin takes no url"}},
		{name: "negative timeout", cfg: Config{Name: "x", Type: TypeBuiltin, Timeouts: Timeouts{StreamIdle: -1}}, want: []string{"timeouts must not be negative"}},
		{name: "too many attempts", cfg: Config{Name: "x", Type: TypeBuiltin, Retry: resilience.Retry{Attempts: 11}}, want: []string{"retry.attempts"}},
		{name: "batch too large", cfg: Config{Name: "x", Type: TypeBuiltin, Batch: batch.Config{MaxInputs: 4096}}, want: []string{"batch.max_inputs"}},
		{
			name: "every problem at once",
			cfg: Config{
				Type: TypeOpenAI, URLs: []string{"http://ok/v1", "::bad", "http://"},
				Timeouts: Timeouts{Connect: -time.Second},
				Retry:    resilience.Retry{Attempts: -1, InitialBackoff: -1},
				Breaker:  resilience.Breaker{Failures: -1, OpenFor: -1, HalfOpenRequests: -1},
				Batch:    batch.Config{MaxInputs: -1, MaxWait: 2 * time.Second},
			},
			want: []string{
				"name is required", `url "::bad"`, `url "http://"`, "timeouts must not be negative",
				"retry.attempts", "retry backoffs", "breaker.failures", "breaker.open_for",
				"breaker.half_open_requests", "batch.max_inputs", "batch.max_wait",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.WithDefaults().Validate()
			if len(tt.want) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			msg := err.Error()
			for _, w := range tt.want {
				require.Contains(t, msg, w)
			}
			lines := bytes.Count([]byte(msg), []byte("\n")) + 1
			require.GreaterOrEqual(t, lines, len(tt.want), "one line per problem:\n%s", msg)
			if tt.cfg.Name != "" {
				require.Contains(t, msg, `backend "`+tt.cfg.Name+`"`)
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	cfg := Config{Name: "x", Type: TypeOpenAI, URL: "http://h/v1", Retry: resilience.Retry{Attempts: 1}}
	once := cfg.WithDefaults()
	require.Equal(t, once, once.WithDefaults(), "idempotent")
	require.Equal(t, 1, once.Retry.Attempts, "set fields are kept")
	require.Equal(t, DefaultTimeouts, once.Timeouts)
	require.Equal(t, resilience.DefaultRetry.MaxBackoff, once.Retry.MaxBackoff)
	require.Equal(t, resilience.DefaultBreaker, once.Breaker)
	require.Equal(t, batch.Default, once.Batch)
	require.Equal(t, 256, once.MaxIdleConnsPerReplica)
}

func TestDecodeYAML(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		want    Config
		wantErr string
	}{
		{
			name: "full",
			doc: `
name: vllm
type: openai
urls: [http://gpu-0:8000/v1, http://gpu-1:8000/v1]
api_key_env: VLLM_KEY
headers: {X-Team: search}
timeouts: {connect: 1s, response: 90s, stream_idle: 30s}
retry: {attempts: 2, initial_backoff: 50ms, max_backoff: 1s}
breaker: {failures: 3, open_for: 10s, half_open_requests: 2}
batch: {max_inputs: 32, max_wait: 5ms}
max_idle_conns_per_replica: 64
`,
			want: Config{
				Name: "vllm", Type: TypeOpenAI, URLs: []string{"http://gpu-0:8000/v1", "http://gpu-1:8000/v1"},
				APIKeyEnv: "VLLM_KEY", Headers: map[string]string{"X-Team": "search"},
				Timeouts: Timeouts{Connect: time.Second, Response: 90 * time.Second, StreamIdle: 30 * time.Second},
				Retry:    resilience.Retry{Attempts: 2, InitialBackoff: 50 * time.Millisecond, MaxBackoff: time.Second},
				Breaker:  resilience.Breaker{Failures: 3, OpenFor: 10 * time.Second, HalfOpenRequests: 2},
				Batch:    batch.Config{MaxInputs: 32, MaxWait: 5 * time.Millisecond},

				MaxIdleConnsPerReplica: 64,
			},
		},
		{name: "minimal", doc: "name: b\ntype: builtin\n", want: Config{Name: "b", Type: TypeBuiltin}},
		{name: "unknown key", doc: "name: b\ntype: builtin\nretries: 3\n", wantErr: "retries"},
		{name: "api key is never read from the file", doc: "name: b\ntype: builtin\napi_key: sk-123\n", wantErr: "api_key"},
		{name: "bad duration", doc: "name: b\ntype: builtin\ntimeouts: {connect: soon}\n", wantErr: "soon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec := yaml.NewDecoder(bytes.NewBufferString(tt.doc))
			dec.KnownFields(true)
			var got Config
			err := dec.Decode(&got)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.NoError(t, got.WithDefaults().Validate())
		})
	}
}
