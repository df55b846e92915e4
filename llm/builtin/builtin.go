// Package builtin is the in-process backend used when no LLM server is
// reachable. It serves two models:
//
//   - ragway-extractive, for chat and text completions: an extractive
//     answerer. The question is the last user message (for completions, the
//     last line of the prompt) and the context is every other message (the
//     lines before). It answers with the 1 to 3 context sentences that score
//     best against the question (BM25 over the context's sentences), in
//     their original order, and with a fixed sentence when there is no
//     context. It generates nothing, so it never invents an answer.
//   - ragway-lexical, for embeddings: the lexical hashing embedder of
//     package embed/lexical.
//
// Token counts in usage come from the lexical tokeniser (words and numbers)
// and approximate what a model tokenizer would report.
package builtin

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/ragway/ragway/embed/lexical"
	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/wire"
)

// Model names.
const (
	ModelExtractive = "ragway-extractive"
	ModelLexical    = lexical.Model
	OwnedBy         = "ragway"
)

// modelsCreated is the creation time reported in the model list.
const modelsCreated = 1735689600 // 2025-01-01T00:00:00Z

var _ llm.Backend = (*Backend)(nil)

// Backend is the built-in backend. It is safe for concurrent use.
type Backend struct {
	// embedders holds one *lexical.Embedder per dimension count asked for,
	// at most maxEmbedDimensions of them.
	embedders sync.Map
}

// New returns the built-in backend.
func New() *Backend { return &Backend{} }

// Models implements llm.Backend.
func (b *Backend) Models(ctx context.Context) ([]llm.Model, error) {
	return []llm.Model{
		{ID: ModelExtractive, Created: modelsCreated, OwnedBy: OwnedBy},
		{ID: ModelLexical, Created: modelsCreated, OwnedBy: OwnedBy},
	}, nil
}

// Generate implements llm.Backend. The response names ragway-extractive as
// its model whatever model the request names.
func (b *Backend) Generate(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	t, err := decode(req)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("builtin generate: %w", err)
	}
	cs := t.choices()
	u := t.usage(cs)
	var body any
	if req.Endpoint == llm.Completions {
		body = textCompletion(wire.NewID("cmpl"), time.Now().Unix(), ModelExtractive, cs, u)
	} else {
		body = chatCompletion(wire.NewID("chatcmpl"), time.Now().Unix(), ModelExtractive, cs, u)
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("builtin generate: encode response: %w", err)
	}
	return &llm.Response{Body: data, Model: ModelExtractive, Usage: u}, nil
}

// GenerateStream implements llm.Backend. Every stream ends with a
// usage-only chunk.
func (b *Backend) GenerateStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	t, err := decode(req)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("builtin generate: %w", err)
	}
	cs := t.choices()
	u := t.usage(cs)
	var events []event
	if req.Endpoint == llm.Completions {
		events = textChunks(wire.NewID("cmpl"), time.Now().Unix(), ModelExtractive, cs, u)
	} else {
		events = chatChunks(wire.NewID("chatcmpl"), time.Now().Unix(), ModelExtractive, cs, u)
	}
	return newStream(ctx, events), nil
}
