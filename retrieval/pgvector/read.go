package pgvector

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	pgv "github.com/pgvector/pgvector-go"

	"github.com/ragway/ragway/retrieval"
)

var _ retrieval.Reader = (*Store)(nil)

var readOnly = pgx.TxOptions{AccessMode: pgx.ReadOnly}

// Collections lists the collections holding chunks.
func (s *Store) Collections(ctx context.Context) ([]retrieval.CollectionRef, error) {
	var out []retrieval.CollectionRef
	err := s.withTx(ctx, readOnly, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT tenant, collection FROM collections WHERE chunks > 0 ORDER BY tenant COLLATE "C", collection COLLATE "C"`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (retrieval.CollectionRef, error) {
			var c retrieval.CollectionRef
			return c, row.Scan(&c.Tenant, &c.Collection)
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list collections: %w", err)
	}
	return out, nil
}

// Files lists the collection's files and their chunk counts.
func (s *Store) Files(ctx context.Context, tenant, collection string) ([]retrieval.FileInfo, error) {
	var out []retrieval.FileInfo
	err := s.withTx(ctx, readOnly, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT file_id, count(*) FROM chunks WHERE tenant = $1 AND collection = $2
			GROUP BY file_id ORDER BY file_id COLLATE "C"`, tenant, collection)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (retrieval.FileInfo, error) {
			var f retrieval.FileInfo
			var n int64
			err := row.Scan(&f.ID, &n)
			f.Chunks = int(n)
			return f, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list files: %w", err)
	}
	return out, nil
}

// FileChunks returns one file's chunks in index order, vectors included.
func (s *Store) FileChunks(ctx context.Context, tenant, collection, fileID string) ([]retrieval.Chunk, error) {
	var out []retrieval.Chunk
	err := s.withTx(ctx, readOnly, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+resultColumns+`, embedding FROM chunks
			WHERE tenant = $1 AND collection = $2 AND file_id = $3 ORDER BY idx, seq`, tenant, collection, fileID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (retrieval.Chunk, error) {
			c := retrieval.Chunk{Tenant: tenant, Collection: collection}
			var idx, page int32
			var vec pgv.Vector
			err := row.Scan(&c.ID, &c.FileID, &c.Filename, &idx, &c.Text, &c.Title, &c.Heading, &page, &c.Attributes, &vec)
			c.Index, c.Page, c.Vector = int(idx), int(page), vec.Slice()
			return c, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read file: %w", err)
	}
	return out, nil
}
