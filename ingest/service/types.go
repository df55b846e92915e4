package service

import (
	"errors"
	"fmt"

	"github.com/ragway/ragway/embed"
	"github.com/ragway/ragway/ingest"
	"github.com/ragway/ragway/retrieval"
)

// Sentinel errors. Records that do not exist for the tenant are
// retrieval.ErrNotFound; embedder mismatches are embed.ErrModelMismatch.
var (
	// ErrInvalid is a request the service refuses; see *InvalidError.
	ErrInvalid = errors.New("invalid request")
	// ErrTooLarge is an upload over the file size limit.
	ErrTooLarge = errors.New("file too large")
)

// InvalidError is a request parameter the service refuses, and why.
type InvalidError struct {
	Param   string
	Message string
}

func (e *InvalidError) Error() string { return e.Message }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Unwrap() error { return ErrInvalid }

func invalid(param, format string, args ...any) error {
	return &InvalidError{Param: param, Message: fmt.Sprintf(format, args...)}
}

func notFound(what, id string) error {
	return fmt.Errorf("%s %q: %w", what, id, retrieval.ErrNotFound)
}

// Status is the state of a vector store file or batch.
type Status string

// Statuses.
const (
	StatusInProgress Status = "in_progress"
	StatusCompleted  Status = "completed"
	StatusFailed     Status = "failed"
	StatusCancelled  Status = "cancelled"
)

// File is an uploaded file.
type File struct {
	ID        string `json:"id"`
	Object    string `json:"object"`
	Bytes     int64  `json:"bytes"`
	CreatedAt int64  `json:"created_at"`
	Filename  string `json:"filename"`
	Purpose   string `json:"purpose"`
	// Status is "processed" once stored (OpenAI's deprecated field).
	Status string `json:"status"`
	SHA256 string `json:"-"`
}

// ExpiresAfter is a vector store's expiration policy.
type ExpiresAfter struct {
	Anchor string `json:"anchor"`
	Days   int64  `json:"days"`
}

// FileCounts counts the files of a vector store or batch by status.
type FileCounts struct {
	InProgress int64 `json:"in_progress"`
	Completed  int64 `json:"completed"`
	Failed     int64 `json:"failed"`
	Cancelled  int64 `json:"cancelled"`
	Total      int64 `json:"total"`
}

// VectorStore is a collection of indexed files owned by a tenant.
type VectorStore struct {
	ID           string            `json:"id"`
	Object       string            `json:"object"`
	CreatedAt    int64             `json:"created_at"`
	Name         string            `json:"name"`
	UsageBytes   int64             `json:"usage_bytes"`
	FileCounts   FileCounts        `json:"file_counts"`
	Status       string            `json:"status"`
	ExpiresAfter *ExpiresAfter     `json:"expires_after,omitempty"`
	ExpiresAt    *int64            `json:"expires_at"`
	LastActiveAt int64             `json:"last_active_at"`
	Metadata     map[string]string `json:"metadata"`
	// ChunkingStrategy and Embedder are fixed at creation.
	ChunkingStrategy ChunkingStrategy `json:"chunking_strategy"`
	Embedder         embed.Info       `json:"embedder"`
}

// LastError is why a file failed.
type LastError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// VectorStoreFile is a file attached to a vector store.
type VectorStoreFile struct {
	ID               string           `json:"id"`
	Object           string           `json:"object"`
	UsageBytes       int64            `json:"usage_bytes"`
	CreatedAt        int64            `json:"created_at"`
	VectorStoreID    string           `json:"vector_store_id"`
	Status           Status           `json:"status"`
	LastError        *LastError       `json:"last_error"`
	Attributes       map[string]any   `json:"attributes"`
	ChunkingStrategy ChunkingStrategy `json:"chunking_strategy"`
	batchID          string
	gen              int64
}

// Batch is a group of files added to a vector store together.
type Batch struct {
	ID            string     `json:"id"`
	Object        string     `json:"object"`
	CreatedAt     int64      `json:"created_at"`
	VectorStoreID string     `json:"vector_store_id"`
	Status        Status     `json:"status"`
	FileCounts    FileCounts `json:"file_counts"`
}

// Deleted is the answer to a delete.
type Deleted struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Deleted bool   `json:"deleted"`
}

// ListParams are OpenAI's cursor pagination parameters.
type ListParams struct {
	// Limit is 1..100 (default 20).
	Limit int
	// Order is "asc" or "desc" (default).
	Order string
	// After and Before are object ids from a previous page.
	After, Before string
	// Filter selects vector store files by status (empty: all).
	Filter Status
	// Purpose selects files by purpose (empty: all).
	Purpose string
}

// Page is one page of a list, in OpenAI's shape.
type Page[T any] struct {
	Object  string  `json:"object"`
	Data    []T     `json:"data"`
	FirstID *string `json:"first_id"`
	LastID  *string `json:"last_id"`
	HasMore bool    `json:"has_more"`
}

// CreateStoreRequest creates a vector store.
type CreateStoreRequest struct {
	Name             string
	Metadata         map[string]string
	ExpiresAfter     *ExpiresAfter
	ChunkingStrategy *ChunkingStrategy
	// FileIDs are added to the new store at once.
	FileIDs []string
}

// UpdateStoreRequest changes a vector store; nil fields stay as they are.
type UpdateStoreRequest struct {
	Name         *string
	Metadata     map[string]string
	ExpiresAfter *ExpiresAfter
	// ClearExpiry removes the expiration policy (expires_after: null).
	ClearExpiry bool
}

// AddFileRequest attaches a file to a vector store. Adding a file that is
// already attached re-indexes it, replacing its chunks atomically.
type AddFileRequest struct {
	FileID           string
	Attributes       map[string]any
	ChunkingStrategy *ChunkingStrategy
}

// BatchRequest attaches several files at once.
type BatchRequest struct {
	FileIDs          []string
	Files            []AddFileRequest
	Attributes       map[string]any
	ChunkingStrategy *ChunkingStrategy
}

// Piece is one chunk of a document's text, before embedding.
type Piece struct {
	Text    string
	Title   string
	Heading string
	Page    int
	// ID, when set, is the chunk's content-derived id; else the service
	// derives one.
	ID string
}

// documentError returns the loader's error as a LastError, if it is one.
func documentError(err error) (*LastError, bool) {
	var de *ingest.DocumentError
	if errors.As(err, &de) {
		code := de.Code
		if code == "" {
			code = ingest.CodeInvalid
		}
		return &LastError{Code: code, Message: de.Message}, true
	}
	return nil, false
}

var errNotFound = retrieval.ErrNotFound
