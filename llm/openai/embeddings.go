package openai

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"

	"github.com/ragway/ragway/llm"
)

type embedRequest struct {
	Model          string   `json:"model"`
	Input          []string `json:"input"`
	Dimensions     int      `json:"dimensions,omitempty"`
	EncodingFormat string   `json:"encoding_format"`
	User           string   `json:"user,omitempty"`
}

type embedResponse struct {
	Data []struct {
		Index     int             `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	} `json:"data"`
	Model string     `json:"model"`
	Usage *llm.Usage `json:"usage"`
}

// Embed embeds every input with POST /embeddings.
func (b *Backend) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	const op = "openai embed"
	if len(req.Input) == 0 {
		return nil, fmt.Errorf("%s: %w", op, llm.InvalidRequest("input", "input must not be empty"))
	}
	body, err := json.Marshal(embedRequest{
		Model: req.Model, Input: req.Input, Dimensions: req.Dimensions, EncodingFormat: "float", User: req.User,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: encode request: %w", op, err)
	}
	resp, err := b.do(ctx, http.MethodPost, "/embeddings", body, "application/json")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	data, err := readBody(ctx, resp)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	var er embedResponse
	if err := json.Unmarshal(data, &er); err != nil {
		return nil, fmt.Errorf("%s: decode response: %w: %w", op, llm.ErrBadUpstream, err)
	}
	if len(er.Data) != len(req.Input) {
		return nil, fmt.Errorf("%s: %d embeddings for %d inputs: %w", op, len(er.Data), len(req.Input), llm.ErrBadUpstream)
	}
	out := &llm.EmbedResponse{Vectors: make([][]float32, len(req.Input)), Model: er.Model}
	for _, d := range er.Data {
		if d.Index < 0 || d.Index >= len(out.Vectors) || out.Vectors[d.Index] != nil {
			return nil, fmt.Errorf("%s: bad embedding index %d: %w", op, d.Index, llm.ErrBadUpstream)
		}
		v, err := decodeVector(d.Embedding)
		if err != nil {
			return nil, fmt.Errorf("%s: embedding %d: %w: %w", op, d.Index, llm.ErrBadUpstream, err)
		}
		out.Vectors[d.Index] = v
	}
	if er.Usage != nil {
		out.Usage = *er.Usage
	}
	return out, nil
}

// decodeVector reads a list of floats, or base64 little-endian float32s for
// servers that answer in that encoding whatever was asked.
func decodeVector(raw json.RawMessage) ([]float32, error) {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("decode base64: %w", err)
		}
		if len(b)%4 != 0 {
			return nil, fmt.Errorf("base64 embedding of %d bytes", len(b))
		}
		v := make([]float32, len(b)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return v, nil
	}
	var v []float32
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	if len(v) == 0 {
		return nil, fmt.Errorf("empty embedding")
	}
	return v, nil
}
