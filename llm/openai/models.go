package openai

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/ragway/ragway/llm"
)

// Models lists the server's models with GET /models.
func (b *Backend) Models(ctx context.Context) ([]llm.Model, error) {
	const op = "openai models"
	resp, err := b.do(ctx, http.MethodGet, "/models", nil, "application/json")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	data, err := readBody(ctx, resp)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	var list struct {
		Data []llm.Model `json:"data"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("%s: decode response: %w: %w", op, llm.ErrBadUpstream, err)
	}
	return list.Data, nil
}
