package milvus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/milvusclient"

	"github.com/ragway/ragway/retrieval"
)

// Write batching.
const (
	maxBatchRows  = 512
	maxBatchBytes = 16 << 20
	deleteBatch   = 1000
	maxFileChunks = 1_000_000 // bounds what a replace reads of one file
)

// ReplaceFile implements retrieval.Store. Milvus has no transactions: the
// new chunks are upserted first, then the file's chunks not among them are
// deleted, so a search in between may see both versions (never neither).
// Replaces of one file through this Store are serialised.
func (s *Store) ReplaceFile(ctx context.Context, tenant, collection, fileID string, chunks []retrieval.Chunk) error {
	for _, r := range [][2]string{{"tenant", tenant}, {"collection", collection}, {"file id", fileID}} {
		if err := checkRef(r[0], r[1]); err != nil {
			return fmt.Errorf("replace file: %w", err)
		}
	}
	rows, dim, err := toRows(tenant, collection, fileID, chunks)
	if err != nil {
		return fmt.Errorf("replace file: %w", err)
	}
	l := lockOf(&s.fileLocks, tenant, collection, fileID)
	l.Lock()
	defer l.Unlock()
	name := collectionName(s.opts.Prefix, tenant, collection)
	if dim > 0 {
		if name, err = s.ensure(ctx, tenant, collection, fileID, dim); err != nil {
			return fmt.Errorf("replace file: %w", err)
		}
		if err := s.upsert(ctx, name, dim, rows); err != nil {
			if !notFound(err) {
				return fmt.Errorf("replace file: %w", err)
			}
			// Dropped meanwhile (by another process): create it again.
			s.forget(name)
			if name, err = s.ensure(ctx, tenant, collection, fileID, dim); err != nil {
				return fmt.Errorf("replace file: %w", err)
			}
			if err := s.upsert(ctx, name, dim, rows); err != nil {
				return fmt.Errorf("replace file: %w", err)
			}
		}
	} else if _, ok, err := s.info(ctx, name); err != nil || !ok {
		if err != nil {
			return fmt.Errorf("replace file: %w", err)
		}
		return nil
	}
	keep := make(map[string]bool, len(rows))
	for _, r := range rows {
		keep[r.pk] = true
	}
	if err := s.deleteStale(ctx, name, fileID, keep); err != nil {
		return fmt.Errorf("replace file: %w", err)
	}
	return nil
}

// row is a chunk ready to write.
type row struct {
	pk    string
	chunk retrieval.Chunk
	attrs []byte
}

// toRows checks the chunks (an id, one vector size, sizes Milvus takes,
// valid UTF-8) and encodes them; a chunk id given twice keeps its last
// chunk.
func toRows(tenant, collection, fileID string, chunks []retrieval.Chunk) ([]row, int, error) {
	if len(chunks) == 0 {
		return nil, 0, nil
	}
	dim := len(chunks[0].Vector)
	if dim < 1 || dim > maxDimensions {
		return nil, 0, fmt.Errorf("%w: chunks need vectors of 1 to %d values", retrieval.ErrInvalidQuery, maxDimensions)
	}
	rows := make([]row, 0, len(chunks))
	at := make(map[string]int, len(chunks))
	for i, ch := range chunks {
		if err := checkRef("chunk id", ch.ID); err != nil {
			return nil, 0, fmt.Errorf("chunk %d: %w", i, err)
		}
		if len(ch.Vector) != dim {
			return nil, 0, fmt.Errorf("%w: chunk %d has %d vector values, chunk 0 has %d", retrieval.ErrInvalidQuery, i, len(ch.Vector), dim)
		}
		for _, f := range [][2]string{{"text", ch.Text}, {"filename", ch.Filename}, {"title", ch.Title}, {"heading", ch.Heading}} {
			if len(f[1]) > maxTextBytes || !utf8.ValidString(f[1]) {
				return nil, 0, fmt.Errorf("%w: chunk %d: %s must be valid UTF-8 of at most %d bytes", retrieval.ErrInvalidQuery, i, f[0], maxTextBytes)
			}
		}
		attrs, err := encodeAttributes(ch.Attributes)
		if err != nil {
			return nil, 0, fmt.Errorf("chunk %d: %w", i, err)
		}
		ch.Tenant, ch.Collection, ch.FileID = tenant, collection, fileID
		r := row{pk: primaryKey(fileID, ch.ID), chunk: ch, attrs: attrs}
		if j, dup := at[r.pk]; dup {
			rows[j] = r
			continue
		}
		at[r.pk] = len(rows)
		rows = append(rows, r)
	}
	return rows, dim, nil
}

// encodeAttributes writes attributes as a JSON object, without HTML
// escaping so keys are stored as written (filters look them up so).
func encodeAttributes(attrs map[string]any) ([]byte, error) {
	if len(attrs) == 0 {
		return []byte("{}"), nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(attrs); err != nil {
		return nil, fmt.Errorf("%w: attributes: %w", retrieval.ErrInvalidQuery, err)
	}
	out := bytes.TrimSpace(b.Bytes())
	if len(out) > maxAttrsBytes {
		return nil, fmt.Errorf("%w: attributes exceed %d bytes", retrieval.ErrInvalidQuery, maxAttrsBytes)
	}
	return out, nil
}

// columns lays rows out as the collection's columns (the sparse BM25
// field is the server's to compute).
func columns(tenant, collection, fileID string, dim int, rows []row) []column.Column {
	n := len(rows)
	pk, ids, ten, coll, files := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	names, texts, titles, heads := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	idx, pages := make([]int64, n), make([]int64, n)
	attrs := make([][]byte, n)
	vecs := make([][]float32, n)
	for i, r := range rows {
		ch := r.chunk
		pk[i], ids[i], ten[i], coll[i], files[i] = r.pk, ch.ID, tenant, collection, fileID
		names[i], texts[i], titles[i], heads[i] = ch.Filename, ch.Text, ch.Title, ch.Heading
		idx[i], pages[i] = int64(ch.Index), int64(ch.Page)
		attrs[i], vecs[i] = r.attrs, ch.Vector
	}
	return []column.Column{
		column.NewColumnVarChar(fieldPK, pk),
		column.NewColumnVarChar(fieldChunkID, ids),
		column.NewColumnVarChar(fieldTenant, ten),
		column.NewColumnVarChar(fieldCollection, coll),
		column.NewColumnVarChar(fieldFileID, files),
		column.NewColumnVarChar(fieldFilename, names),
		column.NewColumnInt64(fieldIndex, idx),
		column.NewColumnVarChar(fieldText, texts),
		column.NewColumnVarChar(fieldTitle, titles),
		column.NewColumnVarChar(fieldHeading, heads),
		column.NewColumnInt64(fieldPage, pages),
		column.NewColumnJSONBytes(fieldAttributes, attrs),
		column.NewColumnFloatVector(fieldVector, dim, vecs),
	}
}

// batches splits rows into upserts of bounded rows and bytes.
func batches(rows []row, dim int) [][]row {
	var out [][]row
	start, size := 0, 0
	for i, r := range rows {
		n := 4*dim + len(r.chunk.Text) + len(r.chunk.Title) + len(r.chunk.Heading) + len(r.chunk.Filename) + len(r.attrs) + len(r.chunk.ID) + 256
		if i > start && (i-start >= maxBatchRows || size+n > maxBatchBytes) {
			out = append(out, rows[start:i])
			start, size = i, 0
		}
		size += n
	}
	if start < len(rows) {
		out = append(out, rows[start:])
	}
	return out
}

func (s *Store) upsert(ctx context.Context, name string, dim int, rows []row) error {
	for _, b := range batches(rows, dim) {
		ch := b[0].chunk
		cols := columns(ch.Tenant, ch.Collection, ch.FileID, dim, b)
		err := s.call(ctx, func(ctx context.Context) error {
			_, err := s.c.Upsert(ctx, milvusclient.NewColumnBasedInsertOption(name, cols...))
			return err
		})
		if err != nil {
			return fmt.Errorf("upsert: %w", err)
		}
	}
	return nil
}

// deleteStale deletes the file's chunks whose keys are not in keep.
func (s *Store) deleteStale(ctx context.Context, name, fileID string, keep map[string]bool) error {
	pks, err := s.filePKs(ctx, name, fileID)
	if err != nil {
		return err
	}
	var stale []string
	for _, pk := range pks {
		if !keep[pk] {
			stale = append(stale, pk)
		}
	}
	for start := 0; start < len(stale); start += deleteBatch {
		expr := pkListExpr(stale[start:min(start+deleteBatch, len(stale))])
		err := s.call(ctx, func(ctx context.Context) error {
			_, err := s.c.Delete(ctx, milvusclient.NewDeleteOption(name).WithExpr(expr))
			return err
		})
		if err != nil && !notFound(err) {
			return fmt.Errorf("delete: %w", err)
		}
	}
	return nil
}

// filePKs lists the keys of a file's chunks.
func (s *Store) filePKs(ctx context.Context, name, fileID string) ([]string, error) {
	expr, err := fileExpr(fileID)
	if err != nil {
		return nil, err
	}
	var pks []string
	err = s.iterate(ctx, name, expr, []string{fieldPK}, func(rs milvusclient.ResultSet) error {
		col := rs.GetColumn(fieldPK)
		if col == nil {
			return errors.New("query result has no primary key")
		}
		for i := range col.Len() {
			pk, err := col.GetAsString(i)
			if err != nil {
				return err
			}
			pks = append(pks, pk)
		}
		if len(pks) > maxFileChunks {
			return fmt.Errorf("%w: file has more than %d chunks", retrieval.ErrInvalidQuery, maxFileChunks)
		}
		return nil
	})
	if notFound(err) {
		return nil, nil
	}
	return pks, err
}

// iterate runs a query over every matching row in key order, in batches.
func (s *Store) iterate(ctx context.Context, name, expr string, fields []string, fn func(milvusclient.ResultSet) error) error {
	return s.call(ctx, func(ctx context.Context) error {
		opt := milvusclient.NewQueryIteratorOption(name).WithFilter(expr).WithOutputFields(fields...).
			WithBatchSize(1000).WithConsistencyLevel(s.level)
		it, err := s.c.QueryIterator(ctx, opt)
		if err != nil {
			return err
		}
		for {
			rs, err := it.Next(ctx)
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := fn(rs); err != nil {
				return err
			}
		}
	})
}

// hasOtherFiles reports whether a collection holds chunks of files other
// than fileID.
func (s *Store) hasOtherFiles(ctx context.Context, name, fileID string) (bool, error) {
	q, err := quote(fileID)
	if err != nil {
		return false, err
	}
	var n int
	err = s.call(ctx, func(ctx context.Context) error {
		rs, err := s.c.Query(ctx, milvusclient.NewQueryOption(name).WithFilter(fieldFileID+" != "+q).
			WithOutputFields(fieldPK).WithLimit(1).WithConsistencyLevel(s.level))
		n = rs.ResultCount
		return err
	})
	if notFound(err) {
		return false, nil
	}
	return n > 0, err
}

// DeleteCollection implements retrieval.Store: it drops the collection's
// Milvus collection.
func (s *Store) DeleteCollection(ctx context.Context, tenant, collection string) error {
	for _, r := range [][2]string{{"tenant", tenant}, {"collection", collection}} {
		if err := checkRef(r[0], r[1]); err != nil {
			return fmt.Errorf("delete collection: %w", err)
		}
	}
	name := collectionName(s.opts.Prefix, tenant, collection)
	l := lockOf(&s.collLocks, name)
	l.Lock()
	defer l.Unlock()
	if err := s.drop(ctx, name); err != nil {
		return fmt.Errorf("delete collection: %w", err)
	}
	return nil
}
