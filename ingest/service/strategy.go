package service

import (
	"encoding/json"
	"fmt"
	"github.com/ragway/ragway/ingest/chunk"
	"math"
	"unicode/utf8"
)

// ChunkingStrategy is OpenAI's chunking_strategy, as the chunker takes it.
type ChunkingStrategy = chunk.Strategy

// StaticChunking sizes static chunks in tokens.
type StaticChunking = chunk.Static

// AutoStrategy is the default strategy.
var AutoStrategy = chunk.Auto()

// Attribute limits, as OpenAI documents them.
const (
	MaxAttributes        = 16
	MaxAttributeKeyLen   = 64
	MaxAttributeValueLen = 512
	MaxMetadata          = 16
	MaxMetadataValueLen  = 512
)

// validateAttributes checks user attributes: at most 16, short keys, and
// string, finite number or boolean values. Numbers become float64.
func validateAttributes(attrs map[string]any) (map[string]any, error) {
	if len(attrs) > MaxAttributes {
		return nil, invalid("attributes", "attributes may have at most %d keys", MaxAttributes)
	}
	out := make(map[string]any, len(attrs))
	for k, v := range attrs {
		if k == "" || len(k) > MaxAttributeKeyLen || !utf8.ValidString(k) {
			return nil, invalid("attributes", "attribute keys must be 1 to %d characters", MaxAttributeKeyLen)
		}
		switch x := v.(type) {
		case string:
			if len(x) > MaxAttributeValueLen {
				return nil, invalid("attributes", "attribute %q is longer than %d characters", k, MaxAttributeValueLen)
			}
			out[k] = x
		case bool:
			out[k] = x
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, invalid("attributes", "attribute %q is not a finite number", k)
			}
			out[k] = x
		case int:
			out[k] = float64(x)
		case int64:
			out[k] = float64(x)
		case json.Number:
			f, err := x.Float64()
			if err != nil || math.IsInf(f, 0) {
				return nil, invalid("attributes", "attribute %q is not a number", k)
			}
			out[k] = f
		default:
			return nil, invalid("attributes", "attribute %q must be a string, number or boolean", k)
		}
	}
	return out, nil
}

func validateMetadata(md map[string]string) error {
	if len(md) > MaxMetadata {
		return invalid("metadata", "metadata may have at most %d keys", MaxMetadata)
	}
	for k, v := range md {
		if k == "" || len(k) > MaxAttributeKeyLen || len(v) > MaxMetadataValueLen {
			return invalid("metadata", "metadata keys must be 1 to %d characters and values at most %d", MaxAttributeKeyLen, MaxMetadataValueLen)
		}
	}
	return nil
}

func validateExpiry(e *ExpiresAfter) error {
	if e == nil {
		return nil
	}
	if e.Anchor != "last_active_at" {
		return invalid("expires_after.anchor", "expires_after.anchor must be last_active_at")
	}
	if e.Days < 1 || e.Days > 365 {
		return invalid("expires_after.days", "expires_after.days must be between 1 and 365")
	}
	return nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal %T: %v", v, err))
	}
	return string(b)
}
