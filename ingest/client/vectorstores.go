package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// MaxPageLimit is the largest page the gateway serves, and the page size
// VectorStores uses.
const MaxPageLimit = 100

// Status is the indexing state of a vector store file.
type Status string

// The states of a vector store file.
const (
	StatusInProgress Status = "in_progress"
	StatusCompleted  Status = "completed"
	StatusFailed     Status = "failed"
	StatusCancelled  Status = "cancelled"
)

// FileCounts counts a vector store's files by state.
type FileCounts struct {
	InProgress int64 `json:"in_progress"`
	Completed  int64 `json:"completed"`
	Failed     int64 `json:"failed"`
	Cancelled  int64 `json:"cancelled"`
	Total      int64 `json:"total"`
}

// VectorStore is a collection of indexed files.
type VectorStore struct {
	ID         string            `json:"id"`
	Object     string            `json:"object"`
	CreatedAt  int64             `json:"created_at"`
	Name       string            `json:"name"`
	UsageBytes int64             `json:"usage_bytes"`
	FileCounts FileCounts        `json:"file_counts"`
	Status     string            `json:"status"`
	Metadata   map[string]string `json:"metadata"`
}

// LastError is why a vector store file failed.
type LastError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// StaticChunking sizes static chunks in tokens.
type StaticChunking struct {
	MaxChunkSizeTokens int64 `json:"max_chunk_size_tokens"`
	ChunkOverlapTokens int64 `json:"chunk_overlap_tokens"`
}

// ChunkingStrategy is {"type":"auto"} or {"type":"static","static":{...}}.
type ChunkingStrategy struct {
	Type   string          `json:"type"`
	Static *StaticChunking `json:"static,omitempty"`
}

// StaticStrategy is a static chunking strategy.
func StaticStrategy(maxTokens, overlapTokens int64) *ChunkingStrategy {
	return &ChunkingStrategy{Type: "static", Static: &StaticChunking{MaxChunkSizeTokens: maxTokens, ChunkOverlapTokens: overlapTokens}}
}

// VectorStoreFile is a file in a vector store.
type VectorStoreFile struct {
	ID               string            `json:"id"`
	Object           string            `json:"object"`
	UsageBytes       int64             `json:"usage_bytes"`
	CreatedAt        int64             `json:"created_at"`
	VectorStoreID    string            `json:"vector_store_id"`
	Status           Status            `json:"status"`
	LastError        *LastError        `json:"last_error"`
	Attributes       map[string]any    `json:"attributes"`
	ChunkingStrategy *ChunkingStrategy `json:"chunking_strategy"`
}

// ErrorMessage is the file's last error message, "" if it has none.
func (f *VectorStoreFile) ErrorMessage() string {
	if f == nil || f.LastError == nil {
		return ""
	}
	return f.LastError.Message
}

// ListParams pages through a list: up to Limit items (1 to MaxPageLimit;
// 0 lets the gateway choose) after the item with id After.
type ListParams struct {
	Limit int
	After string
}

// VectorStorePage is one page of vector stores.
type VectorStorePage struct {
	Data    []VectorStore `json:"data"`
	FirstID *string       `json:"first_id"`
	LastID  *string       `json:"last_id"`
	HasMore bool          `json:"has_more"`
}

// ListVectorStores reads one page of the vector stores the caller may use
// (GET /v1/vector_stores).
func (c *Client) ListVectorStores(ctx context.Context, p ListParams) (*VectorStorePage, error) {
	if p.Limit < 0 || p.Limit > MaxPageLimit {
		return nil, fmt.Errorf("list vector stores: limit %d not in 0..%d", p.Limit, MaxPageLimit)
	}
	q := url.Values{}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.After != "" {
		q.Set("after", p.After)
	}
	var page VectorStorePage
	if err := c.do(ctx, call{method: http.MethodGet, path: "/vector_stores", query: q}, &page); err != nil {
		return nil, fmt.Errorf("list vector stores: %w", err)
	}
	return &page, nil
}

// VectorStores yields every vector store the caller may use, reading pages
// of MaxPageLimit as it goes. It stops at the first error, which it yields.
func (c *Client) VectorStores(ctx context.Context) iter.Seq2[*VectorStore, error] {
	return func(yield func(*VectorStore, error) bool) {
		after := ""
		used := map[string]bool{}
		for {
			page, err := c.ListVectorStores(ctx, ListParams{Limit: MaxPageLimit, After: after})
			if err != nil {
				yield(nil, err)
				return
			}
			for i := range page.Data {
				if !yield(&page.Data[i], nil) {
					return
				}
			}
			if !page.HasMore {
				return
			}
			after = nextCursor(page)
			if after == "" || used[after] {
				yield(nil, errors.New("list vector stores: has_more is set but the page gives no new last_id"))
				return
			}
			used[after] = true
		}
	}
}

// nextCursor is where the page after page starts: its last_id, else the id
// of its last store.
func nextCursor(page *VectorStorePage) string {
	if page.LastID != nil {
		return *page.LastID
	}
	if n := len(page.Data); n > 0 {
		return page.Data[n-1].ID
	}
	return ""
}

// CreateVectorStore creates an empty vector store named name
// (POST /v1/vector_stores).
func (c *Client) CreateVectorStore(ctx context.Context, name string) (*VectorStore, error) {
	var vs VectorStore
	if err := c.postJSON(ctx, "/vector_stores", map[string]string{"name": name}, &vs); err != nil {
		return nil, fmt.Errorf("create vector store: %w", err)
	}
	if vs.ID == "" {
		return nil, errors.New("create vector store: response has no id")
	}
	return &vs, nil
}

// AddFileParams adds an uploaded file to a vector store.
type AddFileParams struct {
	FileID string
	// Attributes are stored with the file and can filter searches.
	Attributes map[string]string
	// ChunkingStrategy is nil for the store's default.
	ChunkingStrategy *ChunkingStrategy
}

type addFileBody struct {
	FileID           string            `json:"file_id"`
	Attributes       map[string]string `json:"attributes,omitempty"`
	ChunkingStrategy *ChunkingStrategy `json:"chunking_strategy,omitempty"`
}

// AddFile adds an uploaded file to a vector store, which starts indexing
// it (POST /v1/vector_stores/{id}/files).
func (c *Client) AddFile(ctx context.Context, storeID string, p AddFileParams) (*VectorStoreFile, error) {
	if storeID == "" || p.FileID == "" {
		return nil, errors.New("add file: empty vector store or file id")
	}
	body := addFileBody(p)
	var f VectorStoreFile
	if err := c.postJSON(ctx, "/vector_stores/"+url.PathEscape(storeID)+"/files", body, &f); err != nil {
		return nil, fmt.Errorf("add file: %w", err)
	}
	if f.ID == "" {
		return nil, errors.New("add file: response has no id")
	}
	return &f, nil
}

// GetFile reads a file of a vector store, with its indexing status
// (GET /v1/vector_stores/{id}/files/{file_id}).
func (c *Client) GetFile(ctx context.Context, storeID, fileID string) (*VectorStoreFile, error) {
	if storeID == "" || fileID == "" {
		return nil, errors.New("get file: empty vector store or file id")
	}
	path := "/vector_stores/" + url.PathEscape(storeID) + "/files/" + url.PathEscape(fileID)
	var f VectorStoreFile
	if err := c.do(ctx, call{method: http.MethodGet, path: path}, &f); err != nil {
		return nil, fmt.Errorf("get file: %w", err)
	}
	if f.ID == "" {
		return nil, errors.New("get file: response has no id")
	}
	return &f, nil
}

// postJSON posts v as JSON and decodes the answer into out.
func (c *Client) postJSON(ctx context.Context, path string, v, out any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	body := func() (io.Reader, string, error) {
		return bytes.NewReader(data), "application/json", nil
	}
	return c.do(ctx, call{method: http.MethodPost, path: path, body: body}, out)
}
