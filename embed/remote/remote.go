// Package remote adapts an llm.Backend (an Ollama /api/embed or an
// OpenAI-compatible /v1/embeddings server, with the replicas, retries and
// breaker the llm layer puts around it) to the embed.Embedder port.
//
// The Embedder names its vector space from configuration: the upstream model,
// a version that the operator bumps when the model's weights change under the
// same name, and the dimensions, configured or learnt by embedding one probe
// text when the Embedder is made. Every answer is checked against that Info:
// a vector of another length fails the call with ErrDimensions rather than
// reaching an index built for other vectors.
package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/ragway/ragway/embed"
	"github.com/ragway/ragway/llm"
)

// DefaultVersion is the Info.Version of an Embedder configured without one.
const DefaultVersion = "1"

// MaxDimensions bounds the dimensions an Embedder accepts, configured or
// probed.
const MaxDimensions = 1 << 16

// ProbeText is embedded once by New to learn the dimensions when none are
// configured.
const ProbeText = "ragway dimension probe"

// ErrDimensions means the upstream returned vectors of another length than
// the Embedder's Info promises.
// It wraps embed.ErrModelMismatch: a server answering with another size
// serves another model, and retrying will not change that.
var ErrDimensions = fmt.Errorf("embedding dimensions mismatch: %w", embed.ErrModelMismatch)

var _ embed.Embedder = (*Embedder)(nil)

// Options configure an Embedder.
type Options struct {
	// Model is the upstream model name, sent with every request.
	Model string
	// Version names the model's revision in Info; "" means DefaultVersion.
	Version string
	// Dimensions is the vector length. 0 means probe the upstream once.
	Dimensions int
	// RequestDimensions sends Dimensions with every request, for models that
	// can shorten their vectors (OpenAI text-embedding-3, Matryoshka models
	// on Ollama). By default the field is not sent and Dimensions is only
	// checked.
	RequestDimensions bool
}

// Embedder embeds texts with an llm.Backend. It is safe for concurrent use.
type Embedder struct {
	b       llm.Backend
	info    embed.Info
	reqDims int
}

// New returns an Embedder over b. When o.Dimensions is 0 it embeds ProbeText
// under ctx to learn them. Close closes b if b is an io.Closer.
func New(ctx context.Context, b llm.Backend, o Options) (*Embedder, error) {
	if o.Model == "" {
		return nil, errors.New("remote embedder: model is required")
	}
	if o.Dimensions < 0 || o.Dimensions > MaxDimensions {
		return nil, fmt.Errorf("remote embedder: dimensions must be between 1 and %d", MaxDimensions)
	}
	if o.RequestDimensions && o.Dimensions == 0 {
		return nil, errors.New("remote embedder: request dimensions needs dimensions")
	}
	version := o.Version
	if version == "" {
		version = DefaultVersion
	}
	e := &Embedder{b: b, info: embed.Info{Model: o.Model, Version: version, Dimensions: o.Dimensions}}
	if o.RequestDimensions {
		e.reqDims = o.Dimensions
	}
	if e.info.Dimensions == 0 {
		vs, err := e.call(ctx, []string{ProbeText})
		if err != nil {
			return nil, fmt.Errorf("remote embedder: probe dimensions of %q (or configure them): %w", o.Model, err)
		}
		n := len(vs[0])
		if n == 0 || n > MaxDimensions {
			return nil, fmt.Errorf("remote embedder: probe of %q returned %d dimensions: %w", o.Model, n, llm.ErrBadUpstream)
		}
		e.info.Dimensions = n
	}
	return e, nil
}

// Info implements embed.Embedder.
func (e *Embedder) Info() embed.Info { return e.info }

// Embed implements embed.Embedder. It fails with ErrDimensions when a vector
// has another length than Info().Dimensions, and with llm.ErrBadUpstream when
// one holds NaN or an infinity.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return [][]float32{}, nil
	}
	vs, err := e.call(ctx, texts)
	if err != nil {
		return nil, err
	}
	for i, v := range vs {
		if len(v) != e.info.Dimensions {
			return nil, fmt.Errorf("embed %s: vector %d has %d dimensions, want %d: %w",
				e.info, i, len(v), e.info.Dimensions, ErrDimensions)
		}
		for _, f := range v {
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return nil, fmt.Errorf("embed %s: vector %d is not finite: %w", e.info, i, llm.ErrBadUpstream)
			}
		}
	}
	return vs, nil
}

func (e *Embedder) call(ctx context.Context, texts []string) ([][]float32, error) {
	resp, err := e.b.Embed(ctx, &llm.EmbedRequest{Model: e.info.Model, Input: texts, Dimensions: e.reqDims})
	if err != nil {
		return nil, fmt.Errorf("embed %s: %w", e.info.Model, err)
	}
	if len(resp.Vectors) != len(texts) {
		return nil, fmt.Errorf("embed %s: %d vectors for %d texts: %w", e.info.Model, len(resp.Vectors), len(texts), llm.ErrBadUpstream)
	}
	return resp.Vectors, nil
}

// Close closes the backend if it is an io.Closer.
func (e *Embedder) Close() error {
	if c, ok := e.b.(io.Closer); ok {
		if err := c.Close(); err != nil {
			return fmt.Errorf("close remote embedder: %w", err)
		}
	}
	return nil
}
