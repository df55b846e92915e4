// Package llm owns generation and embedding backends: the Backend port, the
// request and response shapes that cross it, and the errors a backend returns.
//
// Requests and responses keep the OpenAI wire shape. A Request carries the
// client's JSON fields verbatim so that fields the gateway does not know pass
// through to backends that accept them; a backend that speaks another protocol
// (Ollama) decodes the fields it understands and refuses the ones it cannot
// honour with ErrInvalidRequest.
package llm

import (
	"context"
	"encoding/json"
)

// Backend is a server that generates text and embeddings.
type Backend interface {
	// Generate runs a non-streaming chat completion or completion and returns
	// the whole OpenAI-shaped response.
	Generate(ctx context.Context, req *Request) (*Response, error)
	// GenerateStream runs a streaming chat completion or completion. The
	// returned Stream yields OpenAI chunk payloads, one per SSE data frame.
	// An error returned here happened before any output was produced, so the
	// caller may retry it.
	GenerateStream(ctx context.Context, req *Request) (Stream, error)
	// Embed embeds every input, in order.
	Embed(ctx context.Context, req *EmbedRequest) (*EmbedResponse, error)
	// Models lists the models the backend serves.
	Models(ctx context.Context) ([]Model, error)
}

// Endpoint tells which OpenAI operation a Request is for.
type Endpoint int

const (
	// ChatCompletions is POST /v1/chat/completions.
	ChatCompletions Endpoint = iota
	// Completions is POST /v1/completions (legacy text completion).
	Completions
)

func (e Endpoint) String() string {
	if e == Completions {
		return "text_completion"
	}
	return "chat"
}

// Request is an OpenAI-shaped generation request.
type Request struct {
	Endpoint Endpoint
	// Model is the upstream model name; it replaces the client's "model".
	Model string
	// Stream is true for GenerateStream.
	Stream bool
	// Fields holds every top-level JSON field the client sent, verbatim.
	// Backends must not modify it: the same Request may be retried, sent to a
	// fallback or copied to a shadow target. Use Clone to change fields.
	Fields map[string]json.RawMessage
}

// Clone returns a copy of r whose Fields map may be modified.
func (r *Request) Clone() *Request {
	c := *r
	c.Fields = make(map[string]json.RawMessage, len(r.Fields)+2)
	for k, v := range r.Fields {
		c.Fields[k] = v
	}
	return &c
}

// Field decodes the named field into v. It reports whether the field was
// present and not JSON null.
func (r *Request) Field(name string, v any) (bool, error) {
	raw, ok := r.Fields[name]
	if !ok || string(raw) == "null" {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, InvalidRequest(name, "%s: %v", name, err)
	}
	return true, nil
}

// Usage is token accounting as OpenAI reports it.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Response is a complete, non-streaming generation result.
type Response struct {
	// Body is the OpenAI JSON object ("chat.completion" or "text_completion").
	Body []byte
	// Model is the model the upstream reports having used.
	Model string
	Usage Usage
}

// Chunk is one streamed event.
type Chunk struct {
	// Data is the payload of one SSE data frame: an OpenAI
	// "chat.completion.chunk" (or "text_completion") JSON object.
	Data []byte
	// Usage is set when the chunk reports usage.
	Usage *Usage
	// UsageOnly is true for a chunk that carries usage and no choices, which
	// OpenAI sends last when stream_options.include_usage is set. Backends
	// always produce it; the gateway drops it for clients that did not ask.
	UsageOnly bool
}

// Stream yields the chunks of a streaming generation.
type Stream interface {
	// Recv returns the next chunk, io.EOF after the last one, or an error if
	// the upstream failed mid-stream.
	Recv() (Chunk, error)
	// Close releases the upstream connection. It is safe to call more than once.
	Close() error
}

// EmbedRequest is an OpenAI-shaped embeddings request with its input
// normalised to a list of strings.
type EmbedRequest struct {
	// Model is the upstream model name.
	Model string
	Input []string
	// Dimensions asks for shortened embeddings when the model supports it; 0
	// means the model's default.
	Dimensions int
	User       string
}

// EmbedResponse holds one vector per input, in input order.
type EmbedResponse struct {
	Vectors [][]float32
	Model   string
	Usage   Usage
}

// Model is one entry of GET /v1/models.
type Model struct {
	ID      string `json:"id"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}
