// Package ingest owns document ingestion: loaders that turn uploaded bytes
// into documents, validation, chunking, and the durable, event-driven
// pipeline (a Queue of jobs) that parses, chunks, embeds and indexes files.
package ingest

import (
	"context"
	"errors"
	"fmt"
)

// Type is a document format, detected from content (and the name as a hint).
type Type string

// Types.
const (
	TypeText     Type = "text"
	TypeMarkdown Type = "markdown"
	TypeHTML     Type = "html"
	TypePDF      Type = "pdf"
	TypeDOCX     Type = "docx"
	TypeCSV      Type = "csv"
	TypeJSON     Type = "json"
	TypeJSONL    Type = "jsonl"
)

// Document is a loaded file: normalised UTF-8 text in sections that keep
// where they came from, for citations.
type Document struct {
	Type  Type
	Title string
	// Sections are in document order.
	Sections []Section
}

// Section is a run of text under one heading on one page.
type Section struct {
	Text string
	// Heading is the path of headings above the text ("Guide > Install").
	Heading string
	// Page is the 1-based page number for paged formats (PDF), else 0.
	Page int
}

// Loader parses one format.
type Loader interface {
	// Load parses data. Every failure is a *DocumentError (wrapping
	// ErrInvalidDocument) with a message fit for a file's last_error.
	Load(ctx context.Context, data []byte) (*Document, error)
}

// ErrInvalidDocument is the sentinel of every rejected document.
var ErrInvalidDocument = errors.New("invalid document")

// Document error codes, as OpenAI's last_error.code values where they exist.
const (
	CodeUnsupported = "unsupported_file"
	CodeInvalid     = "invalid_file"
	CodeEmpty       = "empty_file"
	CodeTooLarge    = "file_too_large"
	CodeServerError = "server_error"
)

// DocumentError is a document that cannot be ingested, and why.
type DocumentError struct {
	Code    string
	Message string
}

func (e *DocumentError) Error() string { return e.Message }

// Unwrap makes errors.Is(err, ErrInvalidDocument) true.
func (e *DocumentError) Unwrap() error { return ErrInvalidDocument }

// Invalid returns a *DocumentError with a formatted message.
func Invalid(code, format string, args ...any) error {
	return &DocumentError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Job asks the pipeline to (re)index one file of a collection.
type Job struct {
	ID         string `json:"id"`
	Tenant     string `json:"tenant"`
	Collection string `json:"collection"`
	FileID     string `json:"file_id"`
}

// Queue is the durable queue of ingestion jobs.
type Queue interface {
	// Enqueue records a job durably before returning.
	Enqueue(ctx context.Context, job Job) error
	// Consume hands jobs to handle until ctx is done. A job is removed when
	// handle returns nil; when it returns an error, or its worker dies, the
	// job is delivered again after a lease expires.
	Consume(ctx context.Context, handle func(context.Context, Job) error) error
	// Close releases the queue.
	Close() error
}
