package weaviate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

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

// classMeta is what the class description records.
type classMeta struct {
	Tenant     string `json:"tenant"`
	Collection string `json:"collection"`
	Dim        int    `json:"dim"`
}

// class is a class as the store reads it back.
type class struct {
	name  string
	meta  classMeta
	props map[string]string // name -> data type
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

// getClass reads a class; nil when it does not exist.
func (s *Store) getClass(ctx context.Context, name string) (*class, error) {
	c, err := s.restGetClass(ctx, name)
	if statusCode(err) == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, wrap(err)
	}
	if c == nil {
		return nil, nil
	}
	return parseClass(c)
}

func ptr[T any](v T) *T { return &v }

func textProp(name string, filterable, searchable bool, tokenization string) *restProp {
	return &restProp{Name: name, DataType: []string{"text"}, Tokenization: tokenization,
		IndexFilterable: ptr(filterable), IndexSearchable: ptr(searchable), IndexRangeFilters: ptr(false)}
}

func scalarProp(name, typ string, filterable bool) *restProp {
	return &restProp{Name: name, DataType: []string{typ},
		IndexFilterable: ptr(filterable), IndexSearchable: ptr(false), IndexRangeFilters: ptr(false)}
}

// newClass is the definition of a collection's class.
func (s *Store) newClass(name string, meta classMeta) *restClass {
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
			"stopwords": map[string]any{"preset": "en"},
		},
		Properties: []*restProp{
			textProp(propChunkID, false, false, "field"),
			textProp(propFileID, false, false, "field"),
			textProp(propFileKey, true, false, "field"),
			textProp(propFilename, false, false, "field"),
			scalarProp(propIndex, "int", true),
			textProp(propText, false, true, "word"),
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
				if _, ok := toFloat(v); !ok {
					return nil, fmt.Errorf("%w: chunk %d: attribute %q must be a string, number or boolean", retrieval.ErrInvalidQuery, i, k)
				}
				need[attrProp(kindNumber, k)] = "number"
			}
		}
	}
	return need, nil
}

// ensureProps adds the typed attribute properties c lacks.
func (s *Store) ensureProps(ctx context.Context, c *class, need map[string]string) error {
	for name, typ := range need {
		if _, ok := c.props[name]; ok {
			continue
		}
		var p *restProp
		if typ == "text" {
			p = textProp(name, true, false, "field")
		} else {
			p = scalarProp(name, typ, true)
		}
		err := s.do(ctx, http.MethodPost, classPath(c.name)+"/properties", p, nil)
		if err != nil && statusCode(err) != http.StatusUnprocessableEntity {
			return wrap(err)
		}
		if err != nil {
			// Perhaps added concurrently: check it is there now.
			fresh, gerr := s.getClass(ctx, c.name)
			if gerr != nil {
				return gerr
			}
			if fresh == nil || fresh.props[name] != typ {
				return wrap(err)
			}
		}
		c.props[name] = typ
	}
	return nil
}
