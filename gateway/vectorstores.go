package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"

	"github.com/gin-gonic/gin"

	"github.com/ragway/ragway/ingest/service"
	"github.com/ragway/ragway/retrieval"
)

// decodeJSON decodes a JSON object body into v.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return invalid(te.Field, "Invalid type for '%s': expected %s.", te.Field, jsonTypeName(te.Type))
		}
		return invalid("", "We could not parse the JSON body of your request. The body must be a JSON object.")
	}
	if dec.More() {
		return invalid("", "We could not parse the JSON body of your request: unexpected data after the JSON object.")
	}
	return nil
}

// jsonTypeName names t as JSON does, not as Go does.
func jsonTypeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another type"
}

// readJSON reads the request body into v.
func (s *Server) readJSON(c *gin.Context, v any) bool {
	body, err := readBody(c.Writer, c.Request, s.maxBody)
	if err == nil {
		err = decodeJSON(body, v)
	}
	if err != nil {
		s.fail(c, err)
		return false
	}
	return true
}

type storeCreateBody struct {
	Name             string                    `json:"name"`
	Metadata         map[string]string         `json:"metadata"`
	ExpiresAfter     *service.ExpiresAfter     `json:"expires_after"`
	ChunkingStrategy *service.ChunkingStrategy `json:"chunking_strategy"`
	FileIDs          []string                  `json:"file_ids"`
}

// handleStoreCreate serves POST /v1/vector_stores.
func (s *Server) handleStoreCreate(c *gin.Context) {
	var b storeCreateBody
	if !s.readJSON(c, &b) {
		return
	}
	st := stateOf(c)
	if !mayUseStore(st, &service.VectorStore{Name: b.Name}) {
		s.fail(c, &APIError{Status: http.StatusForbidden, Type: "invalid_request_error", Code: "permission_denied",
			Message: "You are not allowed to create a vector store with this name."})
		return
	}
	vs, err := s.ingest.svc.CreateStore(c.Request.Context(), st.principal.Tenant, service.CreateStoreRequest{
		Name: b.Name, Metadata: b.Metadata, ExpiresAfter: b.ExpiresAfter, ChunkingStrategy: b.ChunkingStrategy, FileIDs: b.FileIDs})
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeJSON(c, http.StatusOK, vs)
}

// handleStoreList serves GET /v1/vector_stores: the stores the caller may
// use.
func (s *Server) handleStoreList(c *gin.Context) {
	p, err := listParams(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	page, err := s.visibleStores(c, p)
	s.reply(c, page, err)
}

// maxListScans bounds the catalogue pages read to fill one page of stores
// the caller may use.
const maxListScans = 8

// visibleStores lists the stores the caller may use, reading on past the
// ones it may not so that a page holds up to its limit and its cursors name
// only stores it returns.
func (s *Server) visibleStores(c *gin.Context, p service.ListParams) (*service.Page[*service.VectorStore], error) {
	st := stateOf(c)
	want := p.Limit
	if want == 0 {
		want = service.DefaultPageLimit
	}
	back := p.Before != ""
	out := &service.Page[*service.VectorStore]{Object: "list", Data: []*service.VectorStore{}}
	for scan := 1; ; scan++ {
		page, err := s.ingest.svc.ListStores(c.Request.Context(), st.principal.Tenant, p)
		if err != nil {
			return nil, err
		}
		var seen []*service.VectorStore
		for _, vs := range page.Data {
			if mayUseStore(st, vs) {
				seen = append(seen, vs)
			}
		}
		if back {
			out.Data = append(seen, out.Data...)
		} else {
			out.Data = append(out.Data, seen...)
		}
		out.HasMore = page.HasMore
		if len(out.Data) >= want || !page.HasMore || len(page.Data) == 0 || scan == maxListScans {
			break
		}
		if back {
			p.Before = page.Data[0].ID
		} else {
			p.After = page.Data[len(page.Data)-1].ID
		}
		p.Limit = service.MaxPageLimit
	}
	if n := len(out.Data); n > want {
		if back {
			out.Data = out.Data[n-want:]
		} else {
			out.Data = out.Data[:want]
		}
		out.HasMore = true
	}
	if n := len(out.Data); n > 0 {
		first, last := out.Data[0].ID, out.Data[n-1].ID
		out.FirstID, out.LastID = &first, &last
	}
	return out, nil
}

// handleStoreGet serves GET /v1/vector_stores/{id}.
func (s *Server) handleStoreGet(c *gin.Context) {
	if vs, ok := s.storeFor(c); ok {
		s.writeJSON(c, http.StatusOK, vs)
	}
}

type storeUpdateBody struct {
	Name         *string           `json:"name"`
	Metadata     map[string]string `json:"metadata"`
	ExpiresAfter json.RawMessage   `json:"expires_after"`
}

// handleStoreUpdate serves POST /v1/vector_stores/{id}.
func (s *Server) handleStoreUpdate(c *gin.Context) {
	vs, ok := s.storeFor(c)
	if !ok {
		return
	}
	var b storeUpdateBody
	if !s.readJSON(c, &b) {
		return
	}
	req := service.UpdateStoreRequest{Name: b.Name, Metadata: b.Metadata}
	switch {
	case len(b.ExpiresAfter) == 0:
	case string(b.ExpiresAfter) == "null":
		req.ClearExpiry = true
	default:
		req.ExpiresAfter = &service.ExpiresAfter{}
		if err := json.Unmarshal(b.ExpiresAfter, req.ExpiresAfter); err != nil {
			s.fail(c, invalid("expires_after", "expires_after must be an object with anchor and days."))
			return
		}
	}
	// The new name must be allowed by itself: access by id must not carry
	// a store into a collection pattern granted to others.
	if b.Name != nil && !mayUseStore(stateOf(c), &service.VectorStore{Name: *b.Name}) {
		s.fail(c, &APIError{Status: http.StatusForbidden, Type: "invalid_request_error", Code: "permission_denied",
			Message: "You are not allowed to give the vector store this name."})
		return
	}
	out, err := s.ingest.svc.UpdateStore(c.Request.Context(), tenantOf(c), vs.ID, req)
	s.reply(c, out, err)
}

// handleStoreDelete serves DELETE /v1/vector_stores/{id}.
func (s *Server) handleStoreDelete(c *gin.Context) {
	vs, ok := s.storeFor(c)
	if !ok {
		return
	}
	d, err := s.ingest.svc.DeleteStore(c.Request.Context(), tenantOf(c), vs.ID)
	s.reply(c, d, err)
}

type addFileBody struct {
	FileID           string                    `json:"file_id"`
	Attributes       map[string]any            `json:"attributes"`
	ChunkingStrategy *service.ChunkingStrategy `json:"chunking_strategy"`
}

func (b addFileBody) request() service.AddFileRequest {
	return service.AddFileRequest{FileID: b.FileID, Attributes: b.Attributes, ChunkingStrategy: b.ChunkingStrategy}
}

// handleStoreFileAdd serves POST /v1/vector_stores/{id}/files.
func (s *Server) handleStoreFileAdd(c *gin.Context) {
	vs, ok := s.storeFor(c)
	if !ok {
		return
	}
	var b addFileBody
	if !s.readJSON(c, &b) {
		return
	}
	f, err := s.ingest.svc.AddFile(c.Request.Context(), tenantOf(c), vs.ID, b.request())
	s.reply(c, f, err)
}

// handleStoreFileList serves GET /v1/vector_stores/{id}/files.
func (s *Server) handleStoreFileList(c *gin.Context) {
	vs, ok := s.storeFor(c)
	if !ok {
		return
	}
	p, err := listParams(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	page, err := s.ingest.svc.ListStoreFiles(c.Request.Context(), tenantOf(c), vs.ID, p)
	s.reply(c, page, err)
}

// handleStoreFileGet serves GET /v1/vector_stores/{id}/files/{file_id}.
func (s *Server) handleStoreFileGet(c *gin.Context) {
	vs, ok := s.storeFor(c)
	if !ok {
		return
	}
	f, err := s.ingest.svc.GetStoreFile(c.Request.Context(), tenantOf(c), vs.ID, c.Param("file_id"))
	s.reply(c, f, err)
}

// handleStoreFileUpdate serves POST /v1/vector_stores/{id}/files/{file_id}:
// new attributes, indexed again.
func (s *Server) handleStoreFileUpdate(c *gin.Context) {
	vs, ok := s.storeFor(c)
	if !ok {
		return
	}
	var b struct {
		Attributes map[string]any `json:"attributes"`
	}
	if !s.readJSON(c, &b) {
		return
	}
	f, err := s.ingest.svc.UpdateFileAttributes(c.Request.Context(), tenantOf(c), vs.ID, c.Param("file_id"), b.Attributes)
	s.reply(c, f, err)
}

// handleStoreFileDelete serves DELETE /v1/vector_stores/{id}/files/{file_id}.
func (s *Server) handleStoreFileDelete(c *gin.Context) {
	vs, ok := s.storeFor(c)
	if !ok {
		return
	}
	d, err := s.ingest.svc.DeleteStoreFile(c.Request.Context(), tenantOf(c), vs.ID, c.Param("file_id"))
	s.reply(c, d, err)
}

type batchBody struct {
	FileIDs          []string                  `json:"file_ids"`
	Files            []addFileBody             `json:"files"`
	Attributes       map[string]any            `json:"attributes"`
	ChunkingStrategy *service.ChunkingStrategy `json:"chunking_strategy"`
}

// handleBatchCreate serves POST /v1/vector_stores/{id}/file_batches.
func (s *Server) handleBatchCreate(c *gin.Context) {
	vs, ok := s.storeFor(c)
	if !ok {
		return
	}
	var b batchBody
	if !s.readJSON(c, &b) {
		return
	}
	if len(b.FileIDs)+len(b.Files) > service.MaxBatchFiles {
		s.fail(c, invalid("file_ids", "A batch may hold at most %d files.", service.MaxBatchFiles))
		return
	}
	req := service.BatchRequest{FileIDs: b.FileIDs, Attributes: b.Attributes, ChunkingStrategy: b.ChunkingStrategy}
	for _, f := range b.Files {
		req.Files = append(req.Files, f.request())
	}
	batch, err := s.ingest.svc.CreateBatch(c.Request.Context(), tenantOf(c), vs.ID, req)
	s.reply(c, batch, err)
}

// handleBatchGet serves GET /v1/vector_stores/{id}/file_batches/{batch_id}.
func (s *Server) handleBatchGet(c *gin.Context) {
	vs, ok := s.storeFor(c)
	if !ok {
		return
	}
	b, err := s.ingest.svc.GetBatch(c.Request.Context(), tenantOf(c), vs.ID, c.Param("batch_id"))
	s.reply(c, b, err)
}

// handleBatchCancel serves POST .../file_batches/{batch_id}/cancel.
func (s *Server) handleBatchCancel(c *gin.Context) {
	vs, ok := s.storeFor(c)
	if !ok {
		return
	}
	b, err := s.ingest.svc.CancelBatch(c.Request.Context(), tenantOf(c), vs.ID, c.Param("batch_id"))
	s.reply(c, b, err)
}

// handleBatchFiles serves GET .../file_batches/{batch_id}/files.
func (s *Server) handleBatchFiles(c *gin.Context) {
	vs, ok := s.storeFor(c)
	if !ok {
		return
	}
	p, err := listParams(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	page, err := s.ingest.svc.ListBatchFiles(c.Request.Context(), tenantOf(c), vs.ID, c.Param("batch_id"), p)
	s.reply(c, page, err)
}

// handleStoreSearch serves POST /v1/vector_stores/{id}/search.
func (s *Server) handleStoreSearch(c *gin.Context) {
	vs, ok := s.storeFor(c)
	if !ok {
		return
	}
	body, err := readBody(c.Writer, c.Request, s.maxBody)
	if err != nil {
		s.fail(c, err)
		return
	}
	req, err := decodeSearch(body)
	if err != nil {
		s.fail(c, err)
		return
	}
	page, err := s.ingest.svc.Search(c.Request.Context(), tenantOf(c), vs.ID, req)
	s.reply(c, page, err)
}

// maxQueries bounds the texts of one search query.
const maxQueries = 32

type searchBody struct {
	Query          json.RawMessage `json:"query"`
	MaxNumResults  *int            `json:"max_num_results"`
	Filters        json.RawMessage `json:"filters"`
	RankingOptions *struct {
		Ranker         string   `json:"ranker"`
		ScoreThreshold *float64 `json:"score_threshold"`
	} `json:"ranking_options"`
	RewriteQuery bool   `json:"rewrite_query"`
	Mode         string `json:"mode"`
}

// decodeSearch decodes and validates a vector store search body.
func decodeSearch(body []byte) (service.SearchRequest, error) {
	var b searchBody
	var req service.SearchRequest
	if err := decodeJSON(body, &b); err != nil {
		return req, err
	}
	var one string
	switch {
	case len(b.Query) == 0 || string(b.Query) == "null":
		return req, invalid("query", "Missing required parameter: 'query'.")
	case json.Unmarshal(b.Query, &one) == nil:
		req.Query = []string{one}
	case json.Unmarshal(b.Query, &req.Query) == nil:
		if len(req.Query) == 0 || len(req.Query) > maxQueries {
			return req, invalid("query", "query must be a string or 1 to %d strings.", maxQueries)
		}
	default:
		return req, invalid("query", "query must be a string or an array of strings.")
	}
	if b.MaxNumResults != nil {
		if *b.MaxNumResults < 1 {
			return req, invalid("max_num_results", "max_num_results must be between 1 and %d.", service.MaxSearchResults)
		}
		req.MaxNumResults = *b.MaxNumResults
	}
	if len(b.Filters) > 0 && string(b.Filters) != "null" {
		req.Filters = &retrieval.Filter{}
		if err := json.Unmarshal(b.Filters, req.Filters); err != nil {
			return req, invalid("filters", "filters must be a comparison or compound filter object.")
		}
	}
	if ro := b.RankingOptions; ro != nil {
		req.Ranker = ro.Ranker
		if ro.ScoreThreshold != nil {
			req.ScoreThreshold = *ro.ScoreThreshold
		}
	}
	req.Mode = retrieval.Mode(b.Mode)
	if err := req.Validate(); err != nil {
		return req, err
	}
	return req, nil
}
