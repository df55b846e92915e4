package weaviate

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"

	"github.com/ragway/ragway/retrieval/analysis"
)

// Reindex readies a collection made before analysed lexical search: it
// fills the terms property of every chunk, then switches the class to
// Weaviate's "none" stopwords and its searches from the text property to
// the terms. Until then such a collection keeps searching its text
// (tokenized and stopworded by Weaviate, unstemmed), and chunks written to
// it already get their terms. Each chunk is patched in place, so a chunk
// deleted meanwhile stays deleted; it is a no-op on a collection that has
// its terms, or none. Writing the collection anew (deleting it, then
// re-ingesting or `ragway collections migrate` from another store) has the
// same effect.
func (s *Store) Reindex(ctx context.Context, tenant, collection string) error {
	ctx, release, err := s.acquire(ctx)
	if err != nil {
		return fmt.Errorf("reindex: %w", err)
	}
	defer release()
	if err := s.reindex(ctx, className(s.opts.ClassPrefix, tenant, collection)); err != nil {
		return fmt.Errorf("reindex: %w", err)
	}
	return nil
}

func (s *Store) reindex(ctx context.Context, name string) error {
	c, err := s.getClass(ctx, name)
	if err != nil || c == nil || c.analysed() {
		return err
	}
	if err := s.ensureProps(ctx, c, nil); err != nil {
		return err
	}
	after := ""
	for {
		reply, err := s.rpc.Search(ctx, &pb.SearchRequest{
			Collection: name, Limit: pageSize, After: after,
			Metadata:    &pb.MetadataRequest{Uuid: true},
			Properties:  &pb.PropertiesRequest{NonRefProperties: []string{propText}},
			Uses_127Api: true,
		})
		if err != nil {
			return wrap(err)
		}
		res := reply.GetResults()
		for _, r := range res {
			id := r.GetMetadata().GetId()
			terms := strings.Join(analysis.Terms(propString(r.GetProperties().GetNonRefProps(), propText)), " ")
			if err := s.patchTerms(ctx, name, id, terms); err != nil {
				return err
			}
			after = id
		}
		if len(res) < pageSize {
			break
		}
	}
	return s.markAnalysed(ctx, name)
}

// patchTerms sets one object's terms, leaving the rest of it alone; an
// object deleted meanwhile is skipped.
func (s *Store) patchTerms(ctx context.Context, name, id, terms string) error {
	body := map[string]any{"class": name, "properties": map[string]any{propTerms: terms}}
	err := s.do(ctx, http.MethodPatch, "/v1/objects/"+url.PathEscape(name)+"/"+url.PathEscape(id), body, nil)
	if err != nil && statusCode(err) != http.StatusNotFound {
		return wrap(err)
	}
	return nil
}

// markAnalysed records in the class that every object has its terms and
// turns Weaviate's stopwords off, rewriting the class definition as the
// server gave it with those two changes.
func (s *Store) markAnalysed(ctx context.Context, name string) error {
	defer s.classes.invalidate(name)
	var def map[string]any
	if err := s.do(ctx, http.MethodGet, classPath(name), nil, &def); err != nil {
		return wrap(err)
	}
	desc, _ := def["description"].(string)
	var meta classMeta
	if err := json.Unmarshal([]byte(desc), &meta); err != nil {
		return fmt.Errorf("class %s has no ragway description", name)
	}
	meta.Analysis = analysisVersion
	b, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	def["description"] = string(b)
	inv, _ := def["invertedIndexConfig"].(map[string]any)
	if inv == nil {
		inv = map[string]any{}
		def["invertedIndexConfig"] = inv
	}
	inv["stopwords"] = map[string]any{"preset": "none"}
	if err := s.do(ctx, http.MethodPut, classPath(name), def, nil); err != nil {
		return wrap(err)
	}
	return nil
}
