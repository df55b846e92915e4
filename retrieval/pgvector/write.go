package pgvector

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	pgv "github.com/pgvector/pgvector-go"

	"github.com/ragway/ragway/retrieval"
)

var chunkColumns = []string{
	"tenant", "collection", "file_id", "chunk_id", "filename", "idx", "text",
	"title", "heading", "page", "attributes", "dim", "embedding",
}

// checkChunks verifies every chunk has an id and a vector of one size.
func checkChunks(chunks []retrieval.Chunk) (int, error) {
	if len(chunks) == 0 {
		return 0, nil
	}
	dim := len(chunks[0].Vector)
	if dim < 1 || dim > maxDimensions {
		return 0, fmt.Errorf("%w: chunks need vectors of 1 to %d values", retrieval.ErrInvalidQuery, maxDimensions)
	}
	for i, ch := range chunks {
		if ch.ID == "" {
			return 0, fmt.Errorf("%w: chunk %d has no id", retrieval.ErrInvalidQuery, i)
		}
		if len(ch.Vector) != dim {
			return 0, fmt.Errorf("%w: chunk %d has %d vector values, chunk 0 has %d", retrieval.ErrInvalidQuery, i, len(ch.Vector), dim)
		}
	}
	return dim, nil
}

// ReplaceFile implements retrieval.Store: in one transaction it locks the
// collection, deletes the file's chunks and their postings, copies the new
// chunks in and writes their postings.
func (s *Store) ReplaceFile(ctx context.Context, tenant, collection, fileID string, chunks []retrieval.Chunk) error {
	if tenant == "" || collection == "" || fileID == "" {
		return fmt.Errorf("replace file: %w: tenant, collection and file id are required", retrieval.ErrInvalidQuery)
	}
	dim, err := checkChunks(chunks)
	if err != nil {
		return fmt.Errorf("replace file: %w", err)
	}
	if dim > 0 {
		if err := s.ensureIndex(ctx, dim); err != nil {
			return fmt.Errorf("replace file: %w", wrap(err))
		}
	}
	err = s.withTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if err := lockCollection(ctx, tx, tenant, collection, fileID, dim); err != nil {
			return err
		}
		var delChunks, delTokens int64
		if err := tx.QueryRow(ctx, deleteFileSQL, planEach, tenant, collection, fileID).Scan(&delChunks, &delTokens); err != nil {
			return err
		}
		if dim > 0 {
			if err := copyChunks(ctx, tx, tenant, collection, fileID, dim, chunks); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, indexFileSQL, planEach, tenant, collection, fileID, delChunks, delTokens)
		return err
	})
	if err != nil {
		return fmt.Errorf("replace file: %w", err)
	}
	return nil
}

// deleteFileSQL deletes a file's chunks and their postings and returns
// the number of chunks and tokens deleted; its parameters are tenant,
// collection and file id. Each posting is found by one primary key probe
// per lexeme of the deleted tsv and then deleted by its row address. The
// LIMIT keeps the probe a subquery run per lexeme, and the outer DELETE
// names only row addresses, found within the tenant and collection: a
// planner without statistics, on a fresh table, would otherwise take the
// collection's key range for one row and scan it.
const deleteFileSQL = `WITH d AS (
	DELETE FROM chunks WHERE tenant = $1 AND collection = $2 AND file_id = $3 RETURNING seq, tsv, doclen
), dp AS (
	DELETE FROM postings WHERE ctid = ANY (ARRAY(
		SELECT p.ctid FROM d CROSS JOIN LATERAL unnest(d.tsv) AS u
		CROSS JOIN LATERAL (SELECT ctid FROM postings p
			WHERE p.tenant = $1 AND p.collection = $2 AND p.lexeme = u.lexeme AND p.seq = d.seq LIMIT 1) AS p))
)
SELECT count(*), coalesce(sum(doclen), 0) FROM d`

// indexFileSQL writes the postings of a file's chunks, just copied in,
// and updates the collection's chunk and token counts; its parameters are
// tenant, collection, file id, and the chunks and tokens deleted before
// the copy.
const indexFileSQL = `WITH f AS MATERIALIZED (
	SELECT seq, tsv, doclen FROM chunks WHERE tenant = $1 AND collection = $2 AND file_id = $3
), ip AS (
	INSERT INTO postings (tenant, collection, lexeme, seq, tf, doclen)
	SELECT $1, $2, u.lexeme, f.seq, coalesce(array_length(u.positions, 1), 1), f.doclen
	FROM f CROSS JOIN LATERAL unnest(f.tsv) AS u
)
UPDATE collections SET
	chunks = chunks - $4 + (SELECT count(*) FROM f),
	tokens = tokens - $5 + (SELECT coalesce(sum(doclen), 0) FROM f)
WHERE tenant = $1 AND collection = $2`

// copyChunks bulk-inserts the file's chunks with COPY.
func copyChunks(ctx context.Context, tx pgx.Tx, tenant, collection, fileID string, dim int, chunks []retrieval.Chunk) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"chunks"}, chunkColumns, pgx.CopyFromSlice(len(chunks), func(i int) ([]any, error) {
		ch := chunks[i]
		var attrs any
		if len(ch.Attributes) > 0 {
			attrs = ch.Attributes
		}
		return []any{tenant, collection, fileID, ch.ID, ch.Filename, ch.Index, ch.Text,
			ch.Title, ch.Heading, ch.Page, attrs, dim, pgv.NewVector(ch.Vector)}, nil
	}))
	return err
}

// lockCollection takes the collection's row lock, creating the row for a
// write of vectors (dim > 0). A collection's dimension changes only when no
// other file has chunks in it.
func lockCollection(ctx context.Context, tx pgx.Tx, tenant, collection, fileID string, dim int) error {
	if dim > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO collections (tenant, collection, dim) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			tenant, collection, dim); err != nil {
			return err
		}
	}
	var have int
	err := tx.QueryRow(ctx, `SELECT dim FROM collections WHERE tenant = $1 AND collection = $2 FOR UPDATE`,
		tenant, collection).Scan(&have)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil || dim == 0 || have == dim {
		return err
	}
	var others bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM chunks WHERE tenant = $1 AND collection = $2 AND file_id <> $3)`,
		tenant, collection, fileID).Scan(&others); err != nil {
		return err
	}
	if others {
		return fmt.Errorf("%w: vectors of %d values in a collection of %d", retrieval.ErrInvalidQuery, dim, have)
	}
	_, err = tx.Exec(ctx, `UPDATE collections SET dim = $3 WHERE tenant = $1 AND collection = $2`, tenant, collection, dim)
	return err
}

// DeleteCollection implements retrieval.Store.
func (s *Store) DeleteCollection(ctx context.Context, tenant, collection string) error {
	err := s.withTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT 1 FROM collections WHERE tenant = $1 AND collection = $2 FOR UPDATE`, tenant, collection); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM postings WHERE tenant = $1 AND collection = $2`, tenant, collection); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM chunks WHERE tenant = $1 AND collection = $2`, tenant, collection); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM collections WHERE tenant = $1 AND collection = $2`, tenant, collection)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete collection: %w", err)
	}
	return nil
}
