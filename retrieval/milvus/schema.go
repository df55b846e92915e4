package milvus

import (
	"context"
	"fmt"
	"strconv"

	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"

	"github.com/ragway/ragway/retrieval"
)

// Field names of a store collection.
const (
	fieldPK         = "pk"
	fieldChunkID    = "chunk_id"
	fieldTenant     = "tenant"
	fieldCollection = "collection"
	fieldFileID     = "file_id"
	fieldFilename   = "filename"
	fieldIndex      = "idx"
	fieldText       = "text"
	fieldTitle      = "title"
	fieldHeading    = "heading"
	fieldPage       = "page"
	fieldAttributes = "attributes"
	fieldVector     = "vector"
	fieldSparse     = "sparse" // BM25 of text, computed by the server
	bm25Function    = "text_bm25"
)

// Field sizes (bytes).
const (
	maxTextBytes  = 65535 // Milvus's largest VarChar
	maxAttrsBytes = 65536 // Milvus's default largest JSON value
	pkLen         = hashHexLen
)

// outputFields are the fields a search or read returns (the vector only
// for reads).
var outputFields = []string{
	fieldChunkID, fieldFileID, fieldFilename, fieldIndex, fieldText,
	fieldTitle, fieldHeading, fieldPage, fieldAttributes,
}

// buildSchema is the schema of a store collection: one chunk per row,
// keyed by primaryKey, with the dense vector of dim values and, when the
// server has BM25, the analysed text feeding a BM25 function whose sparse
// output is indexed for lexical search.
func buildSchema(name, desc string, dim int, bm25 bool, analyzer string) *entity.Schema {
	text := entity.NewField().WithName(fieldText).WithDataType(entity.FieldTypeVarChar).WithMaxLength(maxTextBytes)
	if bm25 {
		text = text.WithEnableAnalyzer(true).WithAnalyzerParams(map[string]any{"type": analyzer})
	}
	s := entity.NewSchema().WithName(name).WithDescription(desc).WithAutoID(false).WithDynamicFieldEnabled(false).
		WithField(entity.NewField().WithName(fieldPK).WithDataType(entity.FieldTypeVarChar).WithMaxLength(pkLen).WithIsPrimaryKey(true)).
		WithField(entity.NewField().WithName(fieldChunkID).WithDataType(entity.FieldTypeVarChar).WithMaxLength(maxRefBytes)).
		WithField(entity.NewField().WithName(fieldTenant).WithDataType(entity.FieldTypeVarChar).WithMaxLength(maxRefBytes)).
		WithField(entity.NewField().WithName(fieldCollection).WithDataType(entity.FieldTypeVarChar).WithMaxLength(maxRefBytes)).
		WithField(entity.NewField().WithName(fieldFileID).WithDataType(entity.FieldTypeVarChar).WithMaxLength(maxRefBytes)).
		WithField(entity.NewField().WithName(fieldFilename).WithDataType(entity.FieldTypeVarChar).WithMaxLength(maxTextBytes)).
		WithField(entity.NewField().WithName(fieldIndex).WithDataType(entity.FieldTypeInt64)).
		WithField(text).
		WithField(entity.NewField().WithName(fieldTitle).WithDataType(entity.FieldTypeVarChar).WithMaxLength(maxTextBytes)).
		WithField(entity.NewField().WithName(fieldHeading).WithDataType(entity.FieldTypeVarChar).WithMaxLength(maxTextBytes)).
		WithField(entity.NewField().WithName(fieldPage).WithDataType(entity.FieldTypeInt64)).
		WithField(entity.NewField().WithName(fieldAttributes).WithDataType(entity.FieldTypeJSON)).
		WithField(entity.NewField().WithName(fieldVector).WithDataType(entity.FieldTypeFloatVector).WithDim(int64(dim)))
	if bm25 {
		s = s.WithField(entity.NewField().WithName(fieldSparse).WithDataType(entity.FieldTypeSparseVector)).
			WithFunction(entity.NewFunction().WithName(bm25Function).WithType(entity.FunctionTypeBM25).
				WithInputFields(fieldText).WithOutputFields(fieldSparse))
	}
	return s
}

// indexSpec is one index a store collection gets.
type indexSpec struct {
	field string
	idx   index.Index
}

// indexes are the collection's indexes: HNSW over the vector by cosine,
// the sparse inverted index scored by BM25, and an inverted index on the
// file id for replaces and reads.
func indexes(o Options, bm25 bool) []indexSpec {
	out := []indexSpec{
		{fieldVector, index.NewHNSWIndex(entity.COSINE, o.M, o.EfConstruction)},
		{fieldFileID, index.NewGenericIndex(fieldFileID, map[string]string{index.IndexTypeKey: string(index.Inverted)})},
	}
	if bm25 {
		out = append(out, indexSpec{fieldSparse, index.NewGenericIndex(fieldSparse, map[string]string{
			index.IndexTypeKey:    string(index.SparseInverted),
			index.MetricTypeKey:   string(entity.BM25),
			"inverted_index_algo": "DAAT_MAXSCORE",
			"bm25_k1":             strconv.FormatFloat(o.K1, 'g', -1, 64),
			"bm25_b":              strconv.FormatFloat(o.B, 'g', -1, 64),
		})})
	}
	return out
}

// info returns what the store knows of a Milvus collection, asking the
// server when it is not cached; ok is false when it does not exist.
func (s *Store) info(ctx context.Context, name string) (collInfo, bool, error) {
	s.mu.Lock()
	ci, ok := s.colls[name]
	s.mu.Unlock()
	if ok {
		return ci, true, nil
	}
	var coll *entity.Collection
	err := s.call(ctx, func(ctx context.Context) error {
		var err error
		coll, err = s.c.DescribeCollection(ctx, milvusclient.NewDescribeCollectionOption(name))
		return err
	})
	if notFound(err) {
		return collInfo{}, false, nil
	}
	if err != nil {
		return collInfo{}, false, err
	}
	ci, err = infoOf(coll.Schema)
	if err != nil {
		return collInfo{}, false, err
	}
	s.remember(name, ci)
	return ci, true, nil
}

// infoOf reads the vector size and lexical support from a schema.
func infoOf(sch *entity.Schema) (collInfo, error) {
	var ci collInfo
	for _, f := range sch.Fields {
		switch f.Name {
		case fieldVector:
			dim, err := f.GetDim()
			if err != nil {
				return collInfo{}, fmt.Errorf("collection %s: %w", sch.CollectionName, err)
			}
			ci.dim = int(dim)
		case fieldSparse:
			ci.bm25 = true
		}
	}
	if ci.dim == 0 {
		return collInfo{}, fmt.Errorf("collection %s is not a store collection", sch.CollectionName)
	}
	return ci, nil
}

func (s *Store) remember(name string, ci collInfo) {
	s.mu.Lock()
	s.colls[name] = ci
	s.mu.Unlock()
}

func (s *Store) forget(name string) {
	s.mu.Lock()
	delete(s.colls, name)
	s.mu.Unlock()
}

// ensure makes the collection exist with vectors of dim values, indexed
// and loaded. A collection of another size is recreated when no other
// file than fileID has chunks in it; otherwise the write is refused.
func (s *Store) ensure(ctx context.Context, tenant, collection, fileID string, dim int) (string, error) {
	name := collectionName(s.opts.Prefix, tenant, collection)
	l := lockOf(&s.collLocks, name)
	l.Lock()
	defer l.Unlock()
	ci, ok, err := s.info(ctx, name)
	if err != nil {
		return "", err
	}
	if ok && ci.dim == dim {
		return name, nil
	}
	if ok {
		others, err := s.hasOtherFiles(ctx, name, fileID)
		if err != nil {
			return "", err
		}
		if others {
			return "", fmt.Errorf("%w: vectors of %d values in a collection of %d", retrieval.ErrInvalidQuery, dim, ci.dim)
		}
		if err := s.drop(ctx, name); err != nil {
			return "", err
		}
	}
	return name, s.create(ctx, name, describe(tenant, collection), dim)
}

// create creates, indexes and loads a collection. Each step is idempotent,
// so a failed create is finished by the next write.
func (s *Store) create(ctx context.Context, name, desc string, dim int) error {
	bm25 := s.feat.bm25
	err := s.call(ctx, func(ctx context.Context) error {
		has, err := s.c.HasCollection(ctx, milvusclient.NewHasCollectionOption(name))
		if err != nil || has {
			return err
		}
		opt := milvusclient.NewCreateCollectionOption(name, buildSchema(name, desc, dim, bm25, s.opts.Analyzer)).
			WithConsistencyLevel(s.level)
		return s.c.CreateCollection(ctx, opt)
	})
	if err != nil {
		return fmt.Errorf("create collection: %w", err)
	}
	for _, ix := range indexes(s.opts, bm25) {
		err := s.call(ctx, func(ctx context.Context) error {
			task, err := s.c.CreateIndex(ctx, milvusclient.NewCreateIndexOption(name, ix.field, ix.idx))
			if err != nil {
				return err
			}
			return task.Await(ctx)
		})
		if err != nil {
			return fmt.Errorf("create index on %s: %w", ix.field, err)
		}
	}
	err = s.call(ctx, func(ctx context.Context) error {
		task, err := s.c.LoadCollection(ctx, milvusclient.NewLoadCollectionOption(name))
		if err != nil {
			return err
		}
		return task.Await(ctx)
	})
	if err != nil {
		return fmt.Errorf("load collection: %w", err)
	}
	s.remember(name, collInfo{dim: dim, bm25: bm25})
	return nil
}

// drop removes a Milvus collection; one that does not exist is no error.
func (s *Store) drop(ctx context.Context, name string) error {
	s.forget(name)
	err := s.call(ctx, func(ctx context.Context) error {
		return s.c.DropCollection(ctx, milvusclient.NewDropCollectionOption(name))
	})
	if err != nil && !notFound(err) {
		return fmt.Errorf("drop collection: %w", err)
	}
	return nil
}
