package builtin

import (
	"context"
	"fmt"

	"github.com/ragway/ragway/embed/lexical"
	"github.com/ragway/ragway/llm"
)

// maxEmbedDimensions bounds the dimensions a request may ask for; requests
// outside 1..maxEmbedDimensions get lexical.DefaultDimensions.
const maxEmbedDimensions = 4096

// Embed implements llm.Backend with the lexical hashing embedder. An empty
// model name means ragway-lexical; any other name is refused.
func (b *Backend) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	if req.Model != "" && req.Model != ModelLexical {
		return nil, llm.InvalidRequest("model", "the built-in backend embeds only with %s", ModelLexical)
	}
	e := b.embedder(req.Dimensions)
	vecs, err := e.Embed(ctx, req.Input)
	if err != nil {
		return nil, fmt.Errorf("builtin embed: %w", err)
	}
	var tokens int
	for _, in := range req.Input {
		tokens += lexical.CountTokens(in)
	}
	return &llm.EmbedResponse{
		Vectors: vecs,
		Model:   ModelLexical,
		Usage:   llm.Usage{PromptTokens: tokens, TotalTokens: tokens},
	}, nil
}

func (b *Backend) embedder(dims int) *lexical.Embedder {
	if dims < 1 || dims > maxEmbedDimensions {
		dims = lexical.DefaultDimensions
	}
	if e, ok := b.embedders.Load(dims); ok {
		return e.(*lexical.Embedder)
	}
	e, _ := b.embedders.LoadOrStore(dims, lexical.New(lexical.Options{Dimensions: dims}))
	return e.(*lexical.Embedder)
}
