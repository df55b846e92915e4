package embedders_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/ragway/ragway/embed"
	"github.com/ragway/ragway/embed/embedders"
	"github.com/ragway/ragway/embed/lexical"
	"github.com/ragway/ragway/llm/llmtest"
)

func decode(t *testing.T, src string) embedders.Config {
	t.Helper()
	var c embedders.Config
	dec := yaml.NewDecoder(bytes.NewBufferString(src))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&c))
	return c
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, err string
	}{
		{"default", "{}", ""},
		{"lexical dims", "type: lexical\ndimensions: 1024", ""},
		{"ollama", "type: ollama\nmodel: nomic-embed-text\nurl: http://127.0.0.1:11434", ""},
		{"openai full", "type: openai\nmodel: m\nversion: '2'\ndimensions: 256\nrequest_dimensions: true\nurl: https://x/v1\napi_key_env: K\nbatch: {max_inputs: 16, max_wait: 5ms}\ncache: {entries: 100}", ""},
		{"unknown type", "type: bert", "unknown type"},
		{"lexical url", "type: lexical\nurl: http://x", "takes no url"},
		{"lexical too big", "type: lexical\ndimensions: 70000", "dimensions must be between"},
		{"no model", "type: ollama\nurl: http://x", "model is required"},
		{"no url", "type: openai\nmodel: m", "url is required"},
		{"bad url", "type: openai\nmodel: m\nurl: ftp://x", "absolute http(s) URL"},
		{"negative dims", "type: openai\nmodel: m\nurl: http://x\ndimensions: -3", "dimensions must be between"},
		{"request without dims", "type: openai\nmodel: m\nurl: http://x\nrequest_dimensions: true", "needs dimensions"},
		{"bad batch", "type: openai\nmodel: m\nurl: http://x\nbatch: {max_inputs: 5000}", "max_inputs"},
		{"huge cache", "cache: {entries: 100000000}", "cache.entries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := decode(t, tc.yaml).WithDefaults().Validate()
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
}

func TestUnknownKeyRejected(t *testing.T) {
	var c embedders.Config
	dec := yaml.NewDecoder(bytes.NewBufferString("type: lexical\ndims: 3"))
	dec.KnownFields(true)
	require.Error(t, dec.Decode(&c))
}

func TestOpenDefaultIsLexical(t *testing.T) {
	e, err := embedders.Open(embedders.Config{})
	require.NoError(t, err)
	require.Equal(t, embed.Info{Model: lexical.Model, Version: lexical.Version, Dimensions: 384}, e.Info())
}

func TestOpenRemote(t *testing.T) {
	srv := llmtest.NewServer(llmtest.WithEmbeddingDim(12))
	t.Cleanup(srv.Close)
	for _, tc := range []struct{ typ, url, path string }{
		{embedders.TypeOpenAI, srv.OpenAIURL(), "/v1/embeddings"},
		{embedders.TypeOllama, srv.URL(), "/api/embed"},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			srv.ResetRecords()
			e, err := embedders.Open(embedders.Config{Type: tc.typ, Model: "emb", URL: tc.url})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, e.(io.Closer).Close()) })
			require.Equal(t, embed.Info{Model: "emb", Version: "1", Dimensions: 12}, e.Info())
			require.Equal(t, 1, srv.Count(tc.path), "dimensions are probed once")

			vs, err := e.Embed(context.Background(), []string{"one", "two"})
			require.NoError(t, err)
			require.Equal(t, [][]float32{llmtest.Vector("one", 12), llmtest.Vector("two", 12)}, vs)
			_, err = e.Embed(context.Background(), []string{"two", "one"})
			require.NoError(t, err)
			require.Equal(t, 2, srv.Count(tc.path), "the second call is served from the cache")
		})
	}
}

func TestOpenRemoteRetriesAndFails(t *testing.T) {
	srv := llmtest.NewServer(llmtest.WithEmbeddingDim(4))
	t.Cleanup(srv.Close)
	e, err := embedders.Open(embedders.Config{Type: embedders.TypeOpenAI, Model: "emb", URL: srv.OpenAIURL(), Dimensions: 4})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, e.(io.Closer).Close()) })
	srv.FailNext(1, 503)
	vs, err := e.Embed(context.Background(), []string{"x"})
	require.NoError(t, err, "a 503 is retried")
	require.Equal(t, llmtest.Vector("x", 4), vs[0])

	wrong, err := embedders.Open(embedders.Config{Type: embedders.TypeOllama, Model: "emb", URL: srv.URL(), Dimensions: 8})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, wrong.(io.Closer).Close()) })
	_, err = wrong.Embed(context.Background(), []string{"x"})
	require.ErrorContains(t, err, "has 4 dimensions, want 8")
}

func TestOpenRemoteUnreachable(t *testing.T) {
	_, err := embedders.Open(embedders.Config{Type: embedders.TypeOllama, Model: "emb", URL: "http://127.0.0.1:1"})
	require.ErrorContains(t, err, "probe dimensions")
}
