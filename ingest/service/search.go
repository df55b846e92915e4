package service

import (
	"context"
	"fmt"
	"strings"

	"github.com/ragway/ragway/retrieval"
)

// Search limits.
const (
	DefaultSearchResults = 10
	MaxSearchResults     = 50
	MaxQueryBytes        = 16 << 10
)

// SearchRequest is a vector store search, as OpenAI defines it, with a mode
// extension.
type SearchRequest struct {
	// Query is one or more texts; several are joined.
	Query []string
	// MaxNumResults is 1..50 (default 10).
	MaxNumResults int
	Filters       *retrieval.Filter
	// Ranker is "auto", "none" or "default-2024-11-15"; ScoreThreshold
	// drops results scored below it.
	Ranker         string
	ScoreThreshold float64
	// Mode is hybrid (default), vector or lexical.
	Mode retrieval.Mode
}

// SearchResult is one scored chunk in OpenAI's shape.
type SearchResult struct {
	FileID     string          `json:"file_id"`
	Filename   string          `json:"filename"`
	Score      float64         `json:"score"`
	Attributes map[string]any  `json:"attributes"`
	Content    []SearchContent `json:"content"`
	// Citation fields, a Ragway extension.
	Title   string `json:"title,omitempty"`
	Heading string `json:"heading,omitempty"`
	Page    int    `json:"page,omitempty"`
}

// SearchContent is a piece of a result's text.
type SearchContent struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// SearchPage is the search answer, OpenAI's vector_store.search_results.page.
type SearchPage struct {
	Object      string         `json:"object"`
	SearchQuery []string       `json:"search_query"`
	Data        []SearchResult `json:"data"`
	HasMore     bool           `json:"has_more"`
	NextPage    *string        `json:"next_page"`
}

// Validate checks the request and fills defaults.
func (r *SearchRequest) Validate() error {
	n := 0
	for _, q := range r.Query {
		n += len(q)
	}
	if n == 0 || strings.TrimSpace(strings.Join(r.Query, "")) == "" {
		return invalid("query", "query must not be empty")
	}
	if n > MaxQueryBytes {
		return invalid("query", "query must be at most %d bytes", MaxQueryBytes)
	}
	if r.MaxNumResults == 0 {
		r.MaxNumResults = DefaultSearchResults
	}
	if r.MaxNumResults < 1 || r.MaxNumResults > MaxSearchResults {
		return invalid("max_num_results", "max_num_results must be between 1 and %d", MaxSearchResults)
	}
	if r.Filters != nil {
		if err := r.Filters.Validate(); err != nil {
			return invalid("filters", "%s", err.Error())
		}
	}
	switch r.Ranker {
	case "", "auto", "none", "default-2024-11-15":
	default:
		return invalid("ranking_options.ranker", "ranker must be auto, none or default-2024-11-15")
	}
	if r.ScoreThreshold < 0 || r.ScoreThreshold > 1 || r.ScoreThreshold != r.ScoreThreshold {
		return invalid("ranking_options.score_threshold", "score_threshold must be between 0 and 1")
	}
	switch r.Mode {
	case "":
		r.Mode = retrieval.ModeHybrid
	case retrieval.ModeHybrid, retrieval.ModeVector, retrieval.ModeLexical:
	default:
		return invalid("mode", "mode must be hybrid, vector or lexical")
	}
	return nil
}

// Search finds the chunks of one of tenant's vector stores that best match
// the query.
func (s *Service) Search(ctx context.Context, tenant, storeID string, req SearchRequest) (*SearchPage, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	vs, err := s.store(ctx, tenant, storeID)
	if err != nil {
		return nil, err
	}
	if err := s.compatible(vs); err != nil {
		return nil, err
	}
	text := strings.Join(req.Query, " ")
	q := retrieval.Query{Tenant: tenant, Collection: storeID, Text: text, K: req.MaxNumResults, Mode: req.Mode, Filter: req.Filters}
	if req.Mode != retrieval.ModeLexical {
		vecs, err := s.opts.Embedder.Embed(ctx, []string{text})
		if err != nil {
			return nil, fmt.Errorf("embed query: %w", err)
		}
		if len(vecs) != 1 {
			return nil, fmt.Errorf("embed query: %d vectors for one text", len(vecs))
		}
		q.Vector = vecs[0]
	}
	results, err := s.opts.Store.Search(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("search vector store: %w", err)
	}
	s.touch(ctx, tenant, storeID)
	page := &SearchPage{Object: "vector_store.search_results.page", SearchQuery: req.Query, Data: []SearchResult{}}
	for _, r := range results {
		score := r.Score
		if score < req.ScoreThreshold {
			continue
		}
		attrs := r.Attributes
		if attrs == nil {
			attrs = map[string]any{}
		}
		page.Data = append(page.Data, SearchResult{FileID: r.FileID, Filename: r.Filename, Score: score, Attributes: attrs,
			Content: []SearchContent{{Type: "text", Text: r.Text}}, Title: r.Title, Heading: r.Heading, Page: r.Page})
	}
	return page, nil
}
