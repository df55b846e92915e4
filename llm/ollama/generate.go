package ollama

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/ragway/ragway/llm"
)

// Generate runs /api/chat or /api/generate without streaming.
func (b *Backend) Generate(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	op := "ollama " + req.Endpoint.String()
	stream := false
	if req.Endpoint == llm.Completions {
		gr, err := generateRequest(req)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		gr.Stream = &stream
		var r api.GenerateResponse
		if err := b.call(ctx, "/api/generate", gr, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		return textCompletion(&r, req.Model)
	}
	cr, err := chatRequest(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	cr.Stream = &stream
	var r api.ChatResponse
	if err := b.call(ctx, "/api/chat", cr, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return chatCompletion(&r, req.Model)
}

// call posts body to path and decodes the answer into out.
func (b *Backend) call(ctx context.Context, path string, body, out any) error {
	method := http.MethodPost
	if body == nil {
		method = http.MethodGet
	}
	resp, err := b.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	// A body that stalls after its headers is cut after the idle timeout.
	var stalled atomic.Bool
	timer := time.AfterFunc(b.Idle, func() { stalled.Store(true); resp.Body.Close() })
	err = decodeBody(ctx, resp, out)
	timer.Stop()
	if err != nil && stalled.Load() {
		return fmt.Errorf("response body stalled: %w", llm.ErrTimeout)
	}
	return err
}

// GenerateStream runs /api/chat or /api/generate, streaming.
func (b *Backend) GenerateStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	op := "ollama " + req.Endpoint.String() + " stream"
	stream := true
	if req.Endpoint == llm.Completions {
		gr, err := generateRequest(req)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		gr.Stream = &stream
		return b.openStream(ctx, op, "/api/generate", gr, textConverter(newConverter("cmpl", req.Model)))
	}
	cr, err := chatRequest(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	cr.Stream = &stream
	return b.openStream(ctx, op, "/api/chat", cr, chatConverter(newConverter("chatcmpl", req.Model)))
}

// Embed embeds every input with /api/embed.
func (b *Backend) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	const op = "ollama embed"
	if len(req.Input) == 0 {
		return nil, fmt.Errorf("%s: %w", op, llm.InvalidRequest("input", "input must not be empty"))
	}
	truncate := true
	er := &api.EmbedRequest{Model: req.Model, Input: req.Input, Truncate: &truncate, Dimensions: req.Dimensions}
	var r api.EmbedResponse
	if err := b.call(ctx, "/api/embed", er, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if len(r.Embeddings) != len(req.Input) {
		return nil, fmt.Errorf("%s: %d embeddings for %d inputs: %w", op, len(r.Embeddings), len(req.Input), llm.ErrBadUpstream)
	}
	for i, v := range r.Embeddings {
		if len(v) == 0 {
			return nil, fmt.Errorf("%s: embedding %d is empty: %w", op, i, llm.ErrBadUpstream)
		}
	}
	model := r.Model
	if model == "" {
		model = req.Model
	}
	n := r.PromptEvalCount
	return &llm.EmbedResponse{Vectors: r.Embeddings, Model: model, Usage: llm.Usage{PromptTokens: n, TotalTokens: n}}, nil
}

// Models lists the local models with /api/tags.
func (b *Backend) Models(ctx context.Context) ([]llm.Model, error) {
	const op = "ollama models"
	var r api.ListResponse
	if err := b.call(ctx, "/api/tags", nil, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	out := make([]llm.Model, 0, len(r.Models))
	for _, m := range r.Models {
		id := m.Model
		if id == "" {
			id = m.Name
		}
		out = append(out, llm.Model{ID: id, Created: m.ModifiedAt.Unix(), OwnedBy: "ollama"})
	}
	return out, nil
}
