package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestConfigFiles(t *testing.T) {
	cases := []struct {
		file string
		env  map[string]string
		want []string // substrings of the error; nil means the file is good
	}{
		{file: "good-split.yaml"},
		{file: "good-full.yaml", env: map[string]string{"VLLM_KEY": "sk-test"}},
		{file: "bad-unknown-key.yaml", want: []string{"listen_backlog"}},
		{file: "bad-syntax.yaml", want: []string{"parse config"}},
		{file: "bad-secret.yaml", want: []string{"MISSING_KEY"}},
		{file: "bad-many.yaml", want: []string{
			`server.addr "nonsense"`, "log.level", `unknown type "grpc"`, "url or urls is required",
			`"ftp://x" must be an absolute http(s) URL`, `backend "b": duplicate name`, `unknown backend "missing"`,
			`fallback "nowhere" is not a route`, "server.gc_min_heap_bytes", `server.runtime_monitor "lowest"`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			cfg, err := Load("testdata/"+tc.file, env(tc.env))
			if tc.want == nil {
				require.NoError(t, err)
				require.NotNil(t, cfg)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestDefaultsAndOverlay(t *testing.T) {
	cfg, err := Load("testdata/good-full.yaml", env(map[string]string{"VLLM_KEY": "sk-secret", "RAGWAY_ADDR": "127.0.0.1:1"}))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:1", cfg.Server.Addr)
	require.Equal(t, 20*time.Second, cfg.Server.ShutdownTimeout)
	require.Equal(t, int64(-1), cfg.Server.GCMinHeapBytes)
	require.Equal(t, "idle", cfg.Server.RuntimeMonitor)
	b := cfg.Backends[0]
	require.Equal(t, "sk-secret", b.APIKey.Reveal())
	require.Equal(t, 4, b.Retry.Attempts)
	require.Equal(t, 128, b.Batch.MaxInputs)
	// The built-in backend and its two routes are always added.
	require.Equal(t, BuiltinBackend, cfg.Backends[len(cfg.Backends)-1].Name)
	var models []string
	for _, r := range cfg.Routes {
		models = append(models, r.Model)
	}
	require.Equal(t, []string{"gpt-small", BuiltinChatModel, BuiltinEmbedModel}, models)
}

func TestDefaultConfig(t *testing.T) {
	cfg, err := Default(env(nil))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:8080", cfg.Server.Addr)
	require.Equal(t, "./data", cfg.DataDir)
	require.Len(t, cfg.Backends, 2)
	require.True(t, cfg.Backends[0].Discover)
	require.True(t, cfg.Backends[0].Optional)
	require.Equal(t, int64(8<<20), cfg.Server.GCMinHeapBytes)
	require.Equal(t, "auto", cfg.Server.RuntimeMonitor)
}

func TestSecretsNeverPrint(t *testing.T) {
	cfg, err := Load("testdata/good-full.yaml", env(map[string]string{"VLLM_KEY": "sk-very-secret"}))
	require.NoError(t, err)
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("cfg", "backend", cfg.Backends[0].APIKey, "all", fmt.Sprintf("%+v %#v", cfg.Backends[0], cfg.Backends[0]))
	require.NotContains(t, buf.String(), "sk-very-secret")
	require.True(t, strings.Contains(buf.String(), "[REDACTED]"))
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "server: {addr: 127.0.0.1:1}", "routes: [{model: x}]", "backends: [{name: a, type: openai, url: 'http://x'}]", "a: &a [*a, *a]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, env(nil))
		if err == nil {
			require.NoError(t, cfg.Validate())
		}
	})
}
