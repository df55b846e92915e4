// Package retrieval owns vector stores, hybrid search and fusion: the Store
// port every store implements (embedded, pgvector, Weaviate, Milvus), the
// chunk and query shapes that cross it, attribute filters, and reciprocal
// rank fusion.
package retrieval

import (
	"context"
	"errors"

	"github.com/ragway/ragway/embed"
)

// Sentinel errors.
var (
	// ErrNotFound is a collection or file that does not exist for the tenant.
	ErrNotFound = errors.New("not found")
	// ErrInvalidQuery is a query the store cannot run (bad filter, k out of
	// range, a vector of the wrong size).
	ErrInvalidQuery = errors.New("invalid query")
	// ErrUnavailable means the store cannot be reached; callers retry.
	ErrUnavailable = errors.New("store unavailable")
)

// Chunk is one indexed piece of a file.
type Chunk struct {
	// ID derives from the content and position (see ingest), so indexing
	// the same file twice is idempotent.
	ID         string
	Tenant     string
	Collection string
	FileID     string
	Filename   string
	// Index is the chunk's position in its file, from 0.
	Index int
	Text  string
	// Vector is the chunk's embedding; its space is the collection's.
	Vector []float32
	// Title, Heading and Page locate the chunk in its document for
	// citations; Page is 0 when the format has no pages.
	Title   string
	Heading string
	Page    int
	// Attributes are the file's user attributes (string, float64 or bool
	// values), filterable at search time.
	Attributes map[string]any
}

// Mode chooses the ranking of a search.
type Mode string

// Modes.
const (
	ModeHybrid  Mode = "hybrid"  // lexical and vector lists fused by RRF (or native hybrid)
	ModeVector  Mode = "vector"  // nearest neighbours of Query.Vector
	ModeLexical Mode = "lexical" // BM25 over Query.Text
)

// Query is a search within one collection of one tenant.
type Query struct {
	Tenant     string
	Collection string
	// Text is used by lexical and hybrid search, Vector by vector and
	// hybrid search.
	Text   string
	Vector []float32
	// K is the number of results wanted (1..1000).
	K      int
	Mode   Mode
	Filter *Filter
}

// Result is one scored chunk. Score is higher for better matches; its scale
// depends on the mode (cosine similarity, BM25, RRF).
type Result struct {
	Chunk
	Score float64
}

// Store is a vector and full-text index of chunks, partitioned by tenant
// and collection.
type Store interface {
	// ReplaceFile atomically replaces every chunk of the file with chunks
	// (none: the file's chunks are removed). A concurrent search sees either
	// the old chunks or the new ones, never both or neither.
	ReplaceFile(ctx context.Context, tenant, collection, fileID string, chunks []Chunk) error
	// DeleteCollection removes every chunk of the collection.
	DeleteCollection(ctx context.Context, tenant, collection string) error
	// Search returns at most q.K results, best first. A filter is applied
	// inside the search, so a selective filter still yields K results when
	// K chunks match it.
	Search(ctx context.Context, q Query) ([]Result, error)
	// Close flushes and releases the store.
	Close() error
}

// Collection describes an index, as recorded by whoever creates it: the
// embedding space of its vectors must never change.
type Collection struct {
	Tenant   string
	Name     string
	Embedder embed.Info
}
