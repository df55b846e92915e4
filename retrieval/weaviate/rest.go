package weaviate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// The schema calls of Weaviate's REST API. (weaviate-go-client v4 does not
// build against the Weaviate module version this module's graph selects,
// so the few calls needed are made here.)

// restError is a response with an unexpected status.
type restError struct {
	Status  int
	Message string
}

func (e *restError) Error() string {
	return fmt.Sprintf("weaviate status %d: %s", e.Status, e.Message)
}

const maxRESTBody = 64 << 20

// restClass is the part of a class definition the store writes and reads.
type restClass struct {
	Class               string         `json:"class"`
	Description         string         `json:"description,omitempty"`
	Vectorizer          string         `json:"vectorizer,omitempty"`
	VectorIndexType     string         `json:"vectorIndexType,omitempty"`
	VectorIndexConfig   map[string]any `json:"vectorIndexConfig,omitempty"`
	InvertedIndexConfig map[string]any `json:"invertedIndexConfig,omitempty"`
	Properties          []*restProp    `json:"properties"`
}

type restProp struct {
	Name              string   `json:"name"`
	DataType          []string `json:"dataType"`
	Tokenization      string   `json:"tokenization,omitempty"`
	IndexFilterable   *bool    `json:"indexFilterable,omitempty"`
	IndexSearchable   *bool    `json:"indexSearchable,omitempty"`
	IndexRangeFilters *bool    `json:"indexRangeFilters,omitempty"`
}

// do sends a REST request with body as JSON and decodes a 2xx response
// into out (when not nil).
func (s *Store) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.auth != "" {
		req.Header.Set("Authorization", s.auth)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxRESTBody))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := string(data)
		if len(msg) > 500 {
			msg = msg[:500]
		}
		return &restError{Status: resp.StatusCode, Message: msg}
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	return json.Unmarshal(data, out)
}

func classPath(name string) string { return "/v1/schema/" + url.PathEscape(name) }

func (s *Store) restGetClass(ctx context.Context, name string) (*restClass, error) {
	var c restClass
	err := s.do(ctx, http.MethodGet, classPath(name), nil, &c)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

func (s *Store) restClasses(ctx context.Context) ([]*restClass, error) {
	var dump struct {
		Classes []*restClass `json:"classes"`
	}
	err := s.do(ctx, http.MethodGet, "/v1/schema", nil, &dump)
	return dump.Classes, err
}

func (s *Store) restReady(ctx context.Context) error {
	return s.do(ctx, http.MethodGet, "/v1/.well-known/ready", nil, nil)
}

// statusCode is the HTTP status of a REST error, 0 for others.
func statusCode(err error) int {
	var re *restError
	if errors.As(err, &re) {
		return re.Status
	}
	return 0
}
