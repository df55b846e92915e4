// Package chunk splits loaded documents into pieces for embedding, with
// langchaingo's text splitters, measuring sizes in tokens and keeping each
// piece's title, heading path and page.
package chunk

import (
	"github.com/ragway/ragway/llm"
)

// Strategy types, as OpenAI's chunking_strategy defines them.
const (
	TypeAuto   = "auto"
	TypeStatic = "static"
)

// Bounds and defaults of a static strategy, as OpenAI defines them. Auto
// is 800 tokens with 400 of overlap.
const (
	MinChunkTokens     = 100
	MaxChunkTokens     = 4096
	AutoChunkTokens    = 800
	AutoOverlapTokens  = 400
	paramStrategy      = "chunking_strategy"
	paramStaticMax     = "chunking_strategy.static.max_chunk_size_tokens"
	paramStaticOverlap = "chunking_strategy.static.chunk_overlap_tokens"
)

// Strategy is a chunking_strategy: {"type":"auto"} or
// {"type":"static","static":{"max_chunk_size_tokens":N,"chunk_overlap_tokens":M}}.
// The zero Strategy is auto.
type Strategy struct {
	Type   string  `json:"type"`
	Static *Static `json:"static,omitempty"`
}

// Static is the size of static chunks, in tokens.
type Static struct {
	MaxChunkSizeTokens int `json:"max_chunk_size_tokens"`
	ChunkOverlapTokens int `json:"chunk_overlap_tokens"`
}

// Auto returns the auto strategy.
func Auto() Strategy { return Strategy{Type: TypeAuto} }

// NewStatic returns a static strategy.
func NewStatic(maxTokens, overlapTokens int) Strategy {
	return Strategy{Type: TypeStatic, Static: &Static{MaxChunkSizeTokens: maxTokens, ChunkOverlapTokens: overlapTokens}}
}

// Validate returns an *llm.ParamError naming the offending field.
func (s Strategy) Validate() error {
	switch s.Type {
	case "", TypeAuto:
		if s.Static != nil {
			return llm.InvalidRequest(paramStrategy+".static", "chunking_strategy.static is only allowed with type \"static\"")
		}
		return nil
	case TypeStatic:
	default:
		return llm.InvalidRequest(paramStrategy+".type", "chunking_strategy.type must be \"auto\" or \"static\", not %q", s.Type)
	}
	if s.Static == nil {
		return llm.InvalidRequest(paramStrategy+".static", "chunking_strategy.static is required when type is \"static\"")
	}
	m, o := s.Static.MaxChunkSizeTokens, s.Static.ChunkOverlapTokens
	if m < MinChunkTokens || m > MaxChunkTokens {
		return llm.InvalidRequest(paramStaticMax, "%s must be between %d and %d, got %d",
			paramStaticMax, MinChunkTokens, MaxChunkTokens, m)
	}
	if o < 0 {
		return llm.InvalidRequest(paramStaticOverlap, "%s must not be negative, got %d", paramStaticOverlap, o)
	}
	if o > m/2 {
		return llm.InvalidRequest(paramStaticOverlap, "%s must not exceed half of max_chunk_size_tokens (%d), got %d",
			paramStaticOverlap, m/2, o)
	}
	return nil
}

// Normalize returns the strategy with an empty type spelled out as auto.
func (s Strategy) Normalize() Strategy {
	if s.Type == "" {
		s.Type = TypeAuto
	}
	return s
}

// Sizes returns the chunk size and overlap in tokens.
func (s Strategy) Sizes() (maxTokens, overlapTokens int) {
	if s.Type == TypeStatic && s.Static != nil {
		return s.Static.MaxChunkSizeTokens, s.Static.ChunkOverlapTokens
	}
	return AutoChunkTokens, AutoOverlapTokens
}
