package remote_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/embed"
	"github.com/ragway/ragway/embed/remote"
	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/llmtest"
	"github.com/ragway/ragway/llm/ollama"
	"github.com/ragway/ragway/llm/openai"
)

func backendsFor(t *testing.T, srv *llmtest.Server) map[string]llm.Backend {
	t.Helper()
	oa, err := openai.New(openai.Options{BaseURL: srv.OpenAIURL()})
	require.NoError(t, err)
	ol, err := ollama.New(ollama.Options{BaseURL: srv.URL()})
	require.NoError(t, err)
	return map[string]llm.Backend{"openai": oa, "ollama": ol}
}

func TestEmbedBothProtocols(t *testing.T) {
	srv := llmtest.NewServer(llmtest.WithEmbeddingDim(24))
	t.Cleanup(srv.Close)
	texts := []string{"alpha beta", "gamma", ""}
	for name, b := range backendsFor(t, srv) {
		t.Run(name, func(t *testing.T) {
			e, err := remote.New(context.Background(), b, remote.Options{Model: "emb"})
			require.NoError(t, err)
			require.Equal(t, embed.Info{Model: "emb", Version: remote.DefaultVersion, Dimensions: 24}, e.Info())
			vs, err := e.Embed(context.Background(), texts)
			require.NoError(t, err)
			require.Len(t, vs, len(texts))
			for i, txt := range texts {
				require.Equal(t, llmtest.Vector(txt, 24), vs[i])
			}
			empty, err := e.Embed(context.Background(), nil)
			require.NoError(t, err)
			require.Empty(t, empty)
		})
	}
}

func TestConfiguredDimensions(t *testing.T) {
	srv := llmtest.NewServer(llmtest.WithEmbeddingDim(16))
	t.Cleanup(srv.Close)
	for name, b := range backendsFor(t, srv) {
		t.Run(name, func(t *testing.T) {
			before := srv.Total()
			e, err := remote.New(context.Background(), b, remote.Options{Model: "emb", Version: "2024-01", Dimensions: 8})
			require.NoError(t, err)
			require.Equal(t, before, srv.Total(), "configured dimensions must not probe")
			require.Equal(t, embed.Info{Model: "emb", Version: "2024-01", Dimensions: 8}, e.Info())

			_, err = e.Embed(context.Background(), []string{"x"})
			require.ErrorIs(t, err, remote.ErrDimensions)
			require.ErrorIs(t, err, embed.ErrModelMismatch, "a size mismatch is not retried: it is another model")
			require.Contains(t, err.Error(), "has 16 dimensions, want 8")

			asked, err := remote.New(context.Background(), b, remote.Options{Model: "emb", Dimensions: 8, RequestDimensions: true})
			require.NoError(t, err)
			vs, err := asked.Embed(context.Background(), []string{"x"})
			require.NoError(t, err)
			require.Equal(t, llmtest.Vector("x", 8), vs[0])
		})
	}
}

func TestUpstreamErrors(t *testing.T) {
	srv := llmtest.NewServer()
	t.Cleanup(srv.Close)
	for name, b := range backendsFor(t, srv) {
		t.Run(name, func(t *testing.T) {
			e, err := remote.New(context.Background(), b, remote.Options{Model: "emb", Dimensions: 16})
			require.NoError(t, err)
			srv.FailNext(1, 503)
			_, err = e.Embed(context.Background(), []string{"x"})
			var ue *llm.UpstreamError
			require.ErrorAs(t, err, &ue)
			require.Equal(t, 503, ue.Status)

			srv.FailNext(1, 500)
			_, err = remote.New(context.Background(), b, remote.Options{Model: "emb"})
			require.ErrorContains(t, err, "probe dimensions")
		})
	}
}

func TestOptionsValidated(t *testing.T) {
	for name, o := range map[string]remote.Options{
		"no model":        {},
		"negative":        {Model: "m", Dimensions: -1},
		"too many":        {Model: "m", Dimensions: remote.MaxDimensions + 1},
		"request no dims": {Model: "m", RequestDimensions: true},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := remote.New(context.Background(), fakeBackend{}, o)
			require.Error(t, err)
		})
	}
}

func TestBadVectors(t *testing.T) {
	nan := float32(0)
	nan /= nan
	for name, vs := range map[string][][]float32{
		"count":  {{1, 2}},
		"length": {{1}, {1, 2}},
		"nan":    {{1, 2}, {nan, 0}},
	} {
		t.Run(name, func(t *testing.T) {
			e, err := remote.New(context.Background(), fakeBackend{vectors: vs}, remote.Options{Model: "m", Dimensions: 2})
			require.NoError(t, err)
			_, err = e.Embed(context.Background(), []string{"a", "b"})
			require.Error(t, err)
			require.True(t, errors.Is(err, llm.ErrBadUpstream) || errors.Is(err, remote.ErrDimensions), err)
		})
	}
}

type fakeBackend struct {
	llm.Backend
	vectors [][]float32
}

func (f fakeBackend) Embed(context.Context, *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	return &llm.EmbedResponse{Vectors: f.vectors}, nil
}
