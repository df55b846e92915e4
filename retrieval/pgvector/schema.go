package pgvector

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Layout. All chunks of every tenant and collection live in one table,
// chunks, whose embedding column is an untyped vector: collections of any
// dimension share it. The dimension of each row is kept in dim, and each
// dimension in use gets its own partial HNSW expression index
//
//	USING hnsw ((embedding::vector(D)) vector_cosine_ops) WHERE dim = D
//
// created on the first write of a vector of that size. Vector queries cast
// to vector(D) and filter dim = D with D a literal, so the planner matches
// the partial index. collections records each collection's dimension, and
// its row is the lock writers of the collection take.
//
// Lexical search is BM25 over an inverted index kept in SQL, to rank as
// the embedded store does. tsv is a stored generated tsvector of the text
// ('english' configuration) and doclen its number of tokens. postings holds
// one row per chunk and distinct lexeme of its tsv:
//
//	(tenant, collection, lexeme, seq) -> tf, doclen
//
// with tf the lexeme's number of positions in tsv. Its primary key
// INCLUDEs tf and doclen, so a query reads the postings of each of its
// lexemes by an index-only range scan and touches chunks only to fetch
// the k winners (or, under a filter, to test the candidates): a lexeme's
// document frequency is its number of postings, a chunk's score the sum of
// its postings' BM25 terms, and the collection's chunk and token counts,
// which writers keep in its collections row, give the IDF's N and the
// average length. Every statement names the tenant and collection, the
// leading key columns.
//
// Writers keep postings in the transaction that changes chunks, under the
// collection's row lock: ReplaceFile deletes the postings of the chunks it
// deletes (one key probe per lexeme of their tsv) and derives the new
// chunks' postings from their tsv; DeleteCollection deletes the
// collection's key range. Migration 2 created postings, filled it from the
// chunks already stored and dropped the GIN index on tsv that the earlier
// query used; migration 1's tsquery_or_agg is no longer used. Index-only
// scans skip the heap only on pages the visibility map marks all-visible,
// so postings is vacuumed eagerly: low autovacuum thresholds on the table,
// and Analyze vacuums it after a bulk load.

var errNoExtension = errors.New("the vector extension is not installed in the database (CREATE EXTENSION vector, as a superuser)")

// migration is one versioned step of the schema.
type migration struct {
	version int
	sql     string
}

// migrations are applied in order, each once, in its own transaction.
// Append only: never edit a released step.
var migrations = []migration{
	{1, `
CREATE TABLE collections (
	tenant     text NOT NULL,
	collection text NOT NULL,
	dim        integer NOT NULL,
	chunks     bigint NOT NULL DEFAULT 0,
	tokens     bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant, collection)
);
CREATE FUNCTION tsvector_tokens(tsvector) RETURNS integer
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	AS $$ SELECT coalesce(sum(coalesce(array_length(positions, 1), 1)), 0)::integer FROM unnest($1) $$;
CREATE TABLE chunks (
	seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant     text NOT NULL,
	collection text NOT NULL,
	file_id    text NOT NULL,
	chunk_id   text NOT NULL,
	filename   text NOT NULL DEFAULT '',
	idx        integer NOT NULL,
	text       text NOT NULL,
	title      text NOT NULL DEFAULT '',
	heading    text NOT NULL DEFAULT '',
	page       integer NOT NULL DEFAULT 0,
	attributes jsonb,
	dim        integer NOT NULL,
	embedding  vector NOT NULL,
	tsv        tsvector GENERATED ALWAYS AS (to_tsvector('english'::regconfig, text)) STORED,
	doclen     integer GENERATED ALWAYS AS (tsvector_tokens(to_tsvector('english'::regconfig, text))) STORED
);
CREATE INDEX chunks_file ON chunks (tenant, collection, file_id);
CREATE INDEX chunks_tsv ON chunks USING gin (tsv);
CREATE AGGREGATE tsquery_or_agg (tsquery) (SFUNC = tsquery_or, STYPE = tsquery);
`},
	{2, `
CREATE TABLE IF NOT EXISTS postings (
	tenant     text NOT NULL,
	collection text NOT NULL,
	lexeme     text NOT NULL,
	seq        bigint NOT NULL,
	tf         integer NOT NULL,
	doclen     integer NOT NULL,
	PRIMARY KEY (tenant, collection, lexeme, seq) INCLUDE (tf, doclen)
) WITH (autovacuum_vacuum_insert_scale_factor = 0.02, autovacuum_vacuum_scale_factor = 0.05);
INSERT INTO postings (tenant, collection, lexeme, seq, tf, doclen)
SELECT c.tenant, c.collection, u.lexeme, c.seq, coalesce(array_length(u.positions, 1), 1), c.doclen
FROM chunks c CROSS JOIN LATERAL unnest(c.tsv) AS u
ON CONFLICT DO NOTHING;
DROP INDEX IF EXISTS chunks_tsv;
ANALYZE postings;
`},
}

// migrate creates the schema if needed and applies the missing
// migrations, holding an advisory lock so concurrent openers take turns.
func migrate(ctx context.Context, conn *pgx.Conn, schema string) error {
	return migrateSteps(ctx, conn, schema, migrations)
}

// migrateSteps is migrate with the list of steps, a prefix of migrations.
func migrateSteps(ctx context.Context, conn *pgx.Conn, schema string, steps []migration) error {
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT to_regtype('vector') IS NOT NULL`).Scan(&ok); err != nil {
		return fmt.Errorf("check extension: %w", err)
	}
	if !ok {
		return errNoExtension
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext('ragway.pgvector.' || $1))`, schema); err != nil {
		return fmt.Errorf("lock schema: %w", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext('ragway.pgvector.' || $1))`, schema)
	}()
	id := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+id); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+id+`.schema_migrations (
		version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	applied := map[int]bool{}
	rows, err := conn.Query(ctx, `SELECT version FROM `+id+`.schema_migrations`)
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	for _, v := range versions {
		applied[int(v)] = true
	}
	for _, m := range steps {
		if applied[m.version] {
			continue
		}
		if err := apply(ctx, conn, id, m); err != nil {
			return err
		}
	}
	return nil
}

func apply(ctx context.Context, conn *pgx.Conn, schemaID string, m migration) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migration %d: %w", m.version, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SET LOCAL search_path = `+schemaID+`, public`); err != nil {
		return fmt.Errorf("migration %d: %w", m.version, err)
	}
	if _, err := tx.Exec(ctx, m.sql); err != nil {
		return fmt.Errorf("migration %d: %w", m.version, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO `+schemaID+`.schema_migrations (version) VALUES ($1)`, m.version); err != nil {
		return fmt.Errorf("migration %d: %w", m.version, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migration %d: %w", m.version, err)
	}
	return nil
}

// ensureIndex creates the HNSW index for vectors of dim values unless it
// exists. dim is an integer checked by the caller, so formatting it into
// the statement is safe; DDL cannot take parameters.
func (s *Store) ensureIndex(ctx context.Context, dim int) error {
	if _, ok := s.indexed.Load(dim); ok {
		return nil
	}
	err := s.withTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('ragway.pgvector.' || $1))`, s.schema); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, fmt.Sprintf(
			`CREATE INDEX IF NOT EXISTS chunks_hnsw_%d ON chunks USING hnsw ((embedding::vector(%d)) vector_cosine_ops) WITH (m = %d, ef_construction = %d) WHERE dim = %d`,
			dim, dim, s.opts.M, s.opts.EfConstruction, dim))
		return err
	})
	if err != nil {
		return fmt.Errorf("create index for %d dimensions: %w", dim, err)
	}
	s.indexed.Store(dim, true)
	return nil
}
