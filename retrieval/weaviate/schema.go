package weaviate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ragway/ragway/retrieval"
)

// Chunk properties.
const (
	propChunkID  = "chunk_id"
	propFileID   = "file_id"
	propFileKey  = "file_key"
	propFilename = "filename"
	propIndex    = "idx"
	propText     = "text"
	propTerms    = "terms"
	propTitle    = "title"
	propHeading  = "heading"
	propPage     = "page"
	propAttrs    = "attrs"
)

// chunkProps are the properties a search returns.
var chunkProps = []string{propChunkID, propFileID, propFilename, propIndex, propText, propTitle, propHeading, propPage, propAttrs}

// Attribute kinds, the first letter of a typed attribute property's suffix.
const (
	kindString byte = 's'
	kindNumber byte = 'n'
	kindBool   byte = 'b'
)

// className maps a tenant and collection to their class.
func className(prefix, tenant, collection string) string {
	h := sha256.New()
	// Length-prefixed, so ("ab","c") and ("a","bc") differ.
	fmt.Fprintf(h, "%d:%s\x00%d:%s", len(tenant), tenant, len(collection), collection)
	return prefix + "_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// isClassName reports whether name is one of the prefix's class names.
func isClassName(prefix, name string) bool {
	rest, ok := strings.CutPrefix(name, prefix+"_")
	if !ok || len(rest) != 32 {
		return false
	}
	for _, c := range rest {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// attrProp names the typed property holding attribute key's values of
// kind: a_<kind>_ plus 24 hex digits of the key's SHA-256, a valid property
// name whatever the key and distinct from the chunk properties.
func attrProp(kind byte, key string) string {
	sum := sha256.Sum256([]byte(key))
	return "a" + string(kind) + "_" + hex.EncodeToString(sum[:12])
}

// encodeText stores a string so Weaviate's field tokenization keeps it
// whole and its byte order is kept: "x" then its bytes in hex.
func encodeText(s string) string { return "x" + hex.EncodeToString([]byte(s)) }

func decodeText(s string) (string, error) {
	rest, ok := strings.CutPrefix(s, "x")
	if !ok {
		return "", fmt.Errorf("bad stored key %q", s)
	}
	b, err := hex.DecodeString(rest)
	return string(b), err
}

// analysisVersion marks a class whose every object holds the terms
// property, analysis.Terms of its text joined by spaces. Classes made
// before it have none (and search the text property, word-tokenized);
// a change to analysis.Terms that alters terms needs a new version.
const analysisVersion = 1

// classMeta is what the class description records.
type classMeta struct {
	Tenant     string `json:"tenant"`
	Collection string `json:"collection"`
	Dim        int    `json:"dim"`
	// Analysis is analysisVersion when every object has its terms.
	Analysis int `json:"analysis,omitempty"`
}

// class is a class as the store reads it back.
type class struct {
	name  string
	meta  classMeta
	props map[string]string // name -> data type
}

// analysed reports whether lexical search reads the terms property.
func (c *class) analysed() bool {
	return c.meta.Analysis == analysisVersion && c.props[propTerms] == "text"
}

func parseClass(c *restClass) (*class, error) {
	var m classMeta
	if err := json.Unmarshal([]byte(c.Description), &m); err != nil {
		return nil, fmt.Errorf("class %s has no ragway description", c.Class)
	}
	out := &class{name: c.Class, meta: m, props: make(map[string]string, len(c.Properties))}
	for _, p := range c.Properties {
		if len(p.DataType) > 0 {
			out.props[p.Name] = p.DataType[0]
		}
	}
	return out, nil
}

// getClass reads a class from the server, and caches it for searches;
// nil when it does not exist.
func (s *Store) getClass(ctx context.Context, name string) (*class, error) {
	gen, at := s.classes.generation(), time.Now()
	rc, err := s.restGetClass(ctx, name)
	if statusCode(err) == http.StatusNotFound {
		s.classes.put(name, nil, gen, at)
		return nil, nil
	}
	if err != nil {
		return nil, wrap(err)
	}
	if rc == nil {
		return nil, nil
	}
	c, err := parseClass(rc)
	if err != nil {
		return nil, err
	}
	s.classes.put(name, c, gen, at)
	return c, nil
}

func ptr[T any](v T) *T { return &v }

func textProp(name string, filterable, searchable bool, tokenization string) *restProp {
	return &restProp{Name: name, DataType: []string{"text"}, Tokenization: tokenization,
		IndexFilterable: ptr(filterable), IndexSearchable: ptr(searchable), IndexRangeFilters: ptr(false)}
}

// termsProp is the property BM25 searches: analysed terms, space-separated.
func termsProp() *restProp { return textProp(propTerms, false, true, "whitespace") }

func scalarProp(name, typ string, filterable bool) *restProp {
	return &restProp{Name: name, DataType: []string{typ},
		IndexFilterable: ptr(filterable), IndexSearchable: ptr(false), IndexRangeFilters: ptr(false)}
}

// newClass is the definition of a collection's class. BM25 reads only the
// terms property, which holds the text already analysed: split on
// whitespace, it gives analysis.Terms back, so Weaviate must neither
// lowercase nor drop stopwords (the analysis has done both).
func (s *Store) newClass(name string, meta classMeta) *restClass {
	meta.Analysis = analysisVersion
	desc, _ := json.Marshal(meta)
	return &restClass{
		Class:           name,
		Description:     string(desc),
		Vectorizer:      "none",
		VectorIndexType: "hnsw",
		VectorIndexConfig: map[string]any{
			"distance":       "cosine",
			"ef":             s.opts.Ef,
			"efConstruction": s.opts.EfConstruction,
			"maxConnections": s.opts.MaxConnections,
		},
		InvertedIndexConfig: map[string]any{
			"bm25":      map[string]any{"k1": 1.2, "b": 0.75},
			"stopwords": map[string]any{"preset": "none"},
		},
		Properties: []*restProp{
			textProp(propChunkID, false, false, "field"),
			textProp(propFileID, false, false, "field"),
			textProp(propFileKey, true, false, "field"),
			textProp(propFilename, false, false, "field"),
			scalarProp(propIndex, "int", true),
			textProp(propText, false, false, "word"),
			termsProp(),
			textProp(propTitle, false, false, "field"),
			textProp(propHeading, false, false, "field"),
			scalarProp(propPage, "int", false),
			textProp(propAttrs, false, false, "field"),
		},
	}
}

// ensureClass returns the collection's class, creating it for vectors of
// dim values when missing.
func (s *Store) ensureClass(ctx context.Context, name string, meta classMeta) (*class, error) {
	c, err := s.getClass(ctx, name)
	if err != nil || c != nil {
		return c, err
	}
	err = s.do(ctx, http.MethodPost, "/v1/schema", s.newClass(name, meta), nil)
	s.classes.invalidate(name)
	if err != nil && statusCode(err) != http.StatusUnprocessableEntity {
		return nil, wrap(err)
	}
	// 422 is a concurrent creation; read what won.
	c, err = s.getClass(ctx, name)
	if err == nil && c == nil {
		err = fmt.Errorf("%w: class %s vanished after creation", retrieval.ErrUnavailable, name)
	}
	return c, err
}

// attrKinds lists the typed properties the chunks' attributes need.
func attrKinds(chunks []retrieval.Chunk) (map[string]string, error) {
	need := map[string]string{}
	for i, ch := range chunks {
		for k, v := range ch.Attributes {
			switch v.(type) {
			case string:
				need[attrProp(kindString, k)] = "text"
			case bool:
				need[attrProp(kindBool, k)] = "boolean"
			default:
				if _, ok := retrieval.Number(v); !ok {
					return nil, fmt.Errorf("%w: chunk %d: attribute %q must be a string, number or boolean", retrieval.ErrInvalidQuery, i, k)
				}
				need[attrProp(kindNumber, k)] = "number"
			}
		}
	}
	return need, nil
}

// ensureProps adds the typed attribute properties c lacks, and the terms
// property to a class made before it existed, so new writes carry terms
// (its older objects lack them, so such a class still searches the text
// property until it is re-indexed).
func (s *Store) ensureProps(ctx context.Context, c *class, need map[string]string) error {
	if _, ok := c.props[propTerms]; !ok {
		if err := s.addProp(ctx, c, termsProp()); err != nil {
			return err
		}
	}
	for name, typ := range need {
		if _, ok := c.props[name]; ok {
			continue
		}
		p := scalarProp(name, typ, true)
		if typ == "text" {
			p = textProp(name, true, false, "field")
		}
		if err := s.addProp(ctx, c, p); err != nil {
			return err
		}
	}
	return nil
}

// addProp adds property p to c, on the server and in c.
func (s *Store) addProp(ctx context.Context, c *class, p *restProp) error {
	err := s.do(ctx, http.MethodPost, classPath(c.name)+"/properties", p, nil)
	s.classes.invalidate(c.name)
	if err != nil && statusCode(err) != http.StatusUnprocessableEntity {
		return wrap(err)
	}
	typ := p.DataType[0]
	if err != nil {
		// Perhaps added concurrently: check it is there now.
		fresh, gerr := s.getClass(ctx, c.name)
		if gerr != nil {
			return gerr
		}
		if fresh == nil || fresh.props[p.Name] != typ {
			return wrap(err)
		}
	}
	c.props[p.Name] = typ
	return nil
}
