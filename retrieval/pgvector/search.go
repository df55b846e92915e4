package pgvector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
	pgv "github.com/pgvector/pgvector-go"

	"github.com/ragway/ragway/retrieval"
)

const resultColumns = `chunk_id, file_id, filename, idx, text, title, heading, page, attributes`

// Search implements retrieval.Store. Every statement of one search runs in
// one read-only repeatable-read transaction, so hybrid search fuses two
// lists from the same snapshot.
func (s *Store) Search(ctx context.Context, q retrieval.Query) ([]retrieval.Result, error) {
	return s.SearchEf(ctx, q, 0)
}

// SearchEf is Search with the HNSW search beam ef (0: the store's).
func (s *Store) SearchEf(ctx context.Context, q retrieval.Query, ef int) ([]retrieval.Result, error) {
	if ef <= 0 {
		ef = s.opts.EfSearch
	}
	mode, err := checkQuery(q)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	var out []retrieval.Result
	err = s.withTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var dim int
		err := tx.QueryRow(ctx, `SELECT dim FROM collections WHERE tenant = $1 AND collection = $2`, q.Tenant, q.Collection).Scan(&dim)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(q.Vector) > 0 && len(q.Vector) != dim {
			return fmt.Errorf("%w: query vector has %d values, collection has %d", retrieval.ErrInvalidQuery, len(q.Vector), dim)
		}
		switch {
		case mode == retrieval.ModeLexical || len(q.Vector) == 0:
			out, err = s.lexical(ctx, tx, q, q.K)
		case mode == retrieval.ModeVector || q.Text == "":
			out, err = s.vector(ctx, tx, q, dim, q.K, ef)
		default:
			out, err = s.hybrid(ctx, tx, q, dim, ef)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	if out == nil {
		out = []retrieval.Result{}
	}
	for i := range out {
		out[i].Tenant, out[i].Collection = q.Tenant, q.Collection
	}
	return out, nil
}

func checkQuery(q retrieval.Query) (retrieval.Mode, error) { return q.Check(maxDimensions) }

func (s *Store) hybrid(ctx context.Context, tx pgx.Tx, q retrieval.Query, dim, ef int) ([]retrieval.Result, error) {
	depth := max(q.K, s.opts.HybridDepth)
	lex, err := s.lexical(ctx, tx, q, depth)
	if err != nil {
		return nil, err
	}
	vec, err := s.vector(ctx, tx, q, dim, depth, ef)
	if err != nil {
		return nil, err
	}
	if s.opts.Fusion == FusionRRF {
		return retrieval.FuseRRF(retrieval.RRFK, q.K, lex, vec), nil
	}
	return retrieval.FuseWeighted(q.K, s.opts.LexicalWeight, lex, vec), nil
}

// lexical ranks the chunks sharing a lexeme with the text by BM25 from
// the postings (see schema.go). Without a filter the k best are chosen
// from the postings alone and only they are read from chunks; with one,
// every candidate is checked against it before the k best are taken, so a
// selective filter still yields k.
func (s *Store) lexical(ctx context.Context, tx pgx.Tx, q retrieval.Query, k int) ([]retrieval.Result, error) {
	if q.Text == "" {
		return nil, nil
	}
	args := []any{q.Tenant, q.Collection, q.Text, k, s.opts.K1, s.opts.B}
	if q.Filter == nil {
		return collect(ctx, tx, bm25SQL+bm25Top, append([]any{planEach}, args...))
	}
	cond, args, err := filterSQL(q.Filter, args)
	if err != nil {
		return nil, err
	}
	return collect(ctx, tx, bm25SQL+bm25Filtered+cond+bm25FilteredTail, append([]any{planEach}, args...))
}

// planEach runs a statement unprepared, so the server plans it for each
// execution from the tables' current sizes. A prepared statement may keep
// a generic plan made while the tables were small (a sequential scan of
// postings, say) long after they have grown, until autovacuum's next
// ANALYZE; planning costs far less than such a plan.
const planEach = pgx.QueryExecModeCacheDescribe

// bm25SQL scores every chunk holding a lexeme of the text; its parameters
// are tenant, collection, text, k, k1 and b. w holds each query lexeme's
// weight, (k1+1) times its count in the query times its IDF, the document
// frequency counted over its postings by an index-only scan, and the two
// constants of the length normalisation; scored sums each chunk's terms
// over the same postings, read lexeme by lexeme (OFFSET 0 keeps the
// subquery from being flattened, so even a planner without statistics
// cannot choose to scan the whole collection's postings).
const bm25SQL = `WITH q AS MATERIALIZED (
	SELECT u.lexeme, coalesce(array_length(u.positions, 1), 1)::float8 AS qtf
	FROM unnest(to_tsvector('english'::regconfig, $3::text)) AS u
), st AS (
	SELECT greatest(chunks, 1)::float8 AS n, greatest(tokens::float8 / greatest(chunks, 1), 1) AS avgdl
	FROM collections WHERE tenant = $1 AND collection = $2
), w AS MATERIALIZED (
	SELECT q.lexeme, ($5::float8 + 1) * q.qtf * ln(1 + (st.n - d.df + 0.5) / (d.df + 0.5)) AS weight,
		$5::float8 * (1 - $6::float8) AS c0, $5::float8 * $6::float8 / st.avgdl AS c1
	FROM q CROSS JOIN st CROSS JOIN LATERAL (SELECT count(*)::float8 AS df FROM postings p
		WHERE p.tenant = $1 AND p.collection = $2 AND p.lexeme = q.lexeme) AS d
	WHERE d.df > 0
), scored AS (
	SELECT p.seq, sum(w.weight * p.tf / (p.tf + w.c0 + w.c1 * p.doclen)) AS score
	FROM w CROSS JOIN LATERAL (SELECT seq, tf, doclen FROM postings
		WHERE tenant = $1 AND collection = $2 AND lexeme = w.lexeme OFFSET 0) AS p
	GROUP BY p.seq
)`

// The chunks of the results are read one by one by primary key, in a
// subquery OFFSET 0 keeps apart so the tenant and collection test stays
// outside it: a planner without statistics, on a fresh table, would
// otherwise take chunks_file's tenant and collection prefix for a
// one-row range and scan it once per candidate.

// bm25Top ends bm25SQL without a filter: the k best from the postings
// alone, then their chunks.
const bm25Top = `, top AS (
	SELECT seq, score FROM scored ORDER BY score DESC, seq LIMIT $4
)
SELECT ` + resultColumns + `, top.score FROM top CROSS JOIN LATERAL (
	SELECT tenant, collection, ` + resultColumns + ` FROM chunks WHERE seq = top.seq OFFSET 0) AS c
WHERE c.tenant = $1 AND c.collection = $2
ORDER BY top.score DESC, top.seq`

// bm25Filtered and bm25FilteredTail end bm25SQL around a filter, tested
// on every candidate before the k best are taken.
const (
	bm25Filtered = `
SELECT ` + resultColumns + `, scored.score FROM scored CROSS JOIN LATERAL (
	SELECT tenant, collection, ` + resultColumns + ` FROM chunks WHERE seq = scored.seq OFFSET 0) AS c
WHERE c.tenant = $1 AND c.collection = $2 AND `
	bm25FilteredTail = `
ORDER BY scored.score DESC, scored.seq LIMIT $4`
)

// vector returns the k nearest chunks by cosine similarity through the
// dimension's HNSW index, with iterative scans so a filter still yields k.
func (s *Store) vector(ctx context.Context, tx pgx.Tx, q retrieval.Query, dim, k, ef int) ([]retrieval.Result, error) {
	ef = min(max(ef, k), maxEfSearch)
	if _, err := tx.Exec(ctx, `SELECT set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', 'relaxed_order', true)`,
		strconv.Itoa(ef)); err != nil {
		return nil, err
	}
	cond, args, err := filterSQL(q.Filter, []any{q.Tenant, q.Collection, pgv.NewVector(q.Vector), k})
	if err != nil {
		return nil, err
	}
	// dim is an integer from the collections table: safe to format, and it
	// must be a literal for the planner to pick the partial index.
	d := strconv.Itoa(dim)
	sql := `SELECT ` + resultColumns + `, 1 - (embedding::vector(` + d + `) <=> $3::vector(` + d + `)) AS score
FROM chunks
WHERE tenant = $1 AND collection = $2 AND dim = ` + d + ` AND ` + cond + `
ORDER BY embedding::vector(` + d + `) <=> $3::vector(` + d + `) LIMIT $4`
	res, err := collect(ctx, tx, sql, args)
	if err != nil {
		return nil, err
	}
	// Relaxed iterative scans may return neighbours slightly out of order.
	slices.SortStableFunc(res, func(a, b retrieval.Result) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	return res, nil
}

func collect(ctx context.Context, tx pgx.Tx, sql string, args []any) ([]retrieval.Result, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (retrieval.Result, error) {
		var r retrieval.Result
		var idx, page int32
		err := row.Scan(&r.ID, &r.FileID, &r.Filename, &idx, &r.Text, &r.Title, &r.Heading, &page, &r.Attributes, &r.Score)
		r.Index, r.Page = int(idx), int(page)
		return r, err
	})
}
