package milvus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/milvus-io/milvus/client/v2/milvusclient"

	"github.com/ragway/ragway/retrieval"
)

// Collections implements retrieval.Reader: the store's Milvus collections
// (by prefix and description) that hold at least one chunk.
func (s *Store) Collections(ctx context.Context) ([]retrieval.CollectionRef, error) {
	var names []string
	err := s.call(ctx, func(ctx context.Context) error {
		var err error
		names, err = s.c.ListCollections(ctx, milvusclient.NewListCollectionOption())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list collections: %w", err)
	}
	out := []retrieval.CollectionRef{}
	for _, name := range names {
		if !strings.HasPrefix(name, s.opts.Prefix+"_") {
			continue
		}
		ref, ok, err := s.collectionRef(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("list collections: %w", err)
		}
		if ok {
			out = append(out, ref)
		}
	}
	retrieval.SortCollections(out)
	return out, nil
}

// collectionRef names a Milvus collection by its description, when it is
// the store's and holds a chunk.
func (s *Store) collectionRef(ctx context.Context, name string) (retrieval.CollectionRef, bool, error) {
	var desc string
	err := s.call(ctx, func(ctx context.Context) error {
		coll, err := s.c.DescribeCollection(ctx, milvusclient.NewDescribeCollectionOption(name))
		if err == nil {
			desc = coll.Schema.Description
		}
		return err
	})
	if notFound(err) {
		return retrieval.CollectionRef{}, false, nil
	}
	if err != nil {
		return retrieval.CollectionRef{}, false, err
	}
	ref, ok := parseDescriptor(s.opts.Prefix, name, desc)
	if !ok {
		return ref, false, nil
	}
	var n int
	err = s.retryUnloaded(ctx, name, func() error {
		return s.call(ctx, func(ctx context.Context) error {
			rs, err := s.c.Query(ctx, milvusclient.NewQueryOption(name).WithOutputFields(fieldPK).WithLimit(1).WithConsistencyLevel(s.level))
			n = rs.ResultCount
			return err
		})
	})
	if notFound(err) {
		return ref, false, nil
	}
	return ref, n > 0, err
}

// Files implements retrieval.Reader.
func (s *Store) Files(ctx context.Context, tenant, collection string) ([]retrieval.FileInfo, error) {
	name, ok, err := s.existing(ctx, tenant, collection)
	if err != nil {
		return nil, fmt.Errorf("list files: %w", err)
	}
	if !ok {
		return []retrieval.FileInfo{}, nil
	}
	counts := map[string]int{}
	err = s.retryUnloaded(ctx, name, func() error {
		clear(counts)
		return s.iterate(ctx, name, "", []string{fieldFileID}, func(rs milvusclient.ResultSet) error {
			col := rs.GetColumn(fieldFileID)
			if col == nil {
				return errors.New("query result has no file id")
			}
			for i := range col.Len() {
				f, err := col.GetAsString(i)
				if err != nil {
					return err
				}
				counts[f]++
			}
			return nil
		})
	})
	if notFound(err) {
		return []retrieval.FileInfo{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list files: %w", err)
	}
	out := make([]retrieval.FileInfo, 0, len(counts))
	for id, n := range counts {
		out = append(out, retrieval.FileInfo{ID: id, Chunks: n})
	}
	retrieval.SortFiles(out)
	return out, nil
}

// FileChunks implements retrieval.Reader.
func (s *Store) FileChunks(ctx context.Context, tenant, collection, fileID string) ([]retrieval.Chunk, error) {
	if err := checkRef("file id", fileID); err != nil {
		return nil, fmt.Errorf("read file: %w", err)
	}
	name, ok, err := s.existing(ctx, tenant, collection)
	if err != nil {
		return nil, fmt.Errorf("read file: %w", err)
	}
	if !ok {
		return []retrieval.Chunk{}, nil
	}
	expr, err := fileExpr(fileID)
	if err != nil {
		return nil, fmt.Errorf("read file: %w", err)
	}
	var out []retrieval.Chunk
	err = s.retryUnloaded(ctx, name, func() error {
		out = out[:0]
		return s.iterate(ctx, name, expr, append(slices.Clone(outputFields), fieldVector), func(rs milvusclient.ResultSet) error {
			chunks, err := toChunks(rs, true)
			if err != nil {
				return err
			}
			out = append(out, chunks...)
			if len(out) > maxFileChunks {
				return fmt.Errorf("%w: file has more than %d chunks", retrieval.ErrInvalidQuery, maxFileChunks)
			}
			return nil
		})
	})
	if notFound(err) {
		return []retrieval.Chunk{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read file: %w", err)
	}
	for i := range out {
		out[i].Tenant, out[i].Collection = tenant, collection
	}
	slices.SortStableFunc(out, func(a, b retrieval.Chunk) int { return a.Index - b.Index })
	if out == nil {
		out = []retrieval.Chunk{}
	}
	return out, nil
}

// existing returns the Milvus collection of (tenant, collection) when it
// exists.
func (s *Store) existing(ctx context.Context, tenant, collection string) (string, bool, error) {
	if err := checkRef("tenant", tenant); err != nil {
		return "", false, err
	}
	if err := checkRef("collection", collection); err != nil {
		return "", false, err
	}
	name := collectionName(s.opts.Prefix, tenant, collection)
	_, ok, err := s.info(ctx, name)
	return name, ok, err
}
