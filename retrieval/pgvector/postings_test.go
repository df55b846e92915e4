package pgvector_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/pgvector"
	"github.com/ragway/ragway/retrieval/retrievaltest"
)

// requirePostings checks that postings holds exactly one row per chunk and
// distinct lexeme of its tsv, with the right tf and doclen, that the
// collections rows count the chunks and tokens they hold, and returns the
// number of postings.
func requirePostings(t *testing.T, s *pgvector.Store) int64 {
	t.Helper()
	ctx := context.Background()
	const expected = `SELECT c.tenant, c.collection, u.lexeme, c.seq, coalesce(array_length(u.positions, 1), 1), c.doclen
		FROM chunks c CROSS JOIN LATERAL unnest(c.tsv) AS u`
	const postings = `SELECT tenant, collection, lexeme, seq, tf, doclen FROM postings`
	var missing, extra, total, want int64
	require.NoError(t, s.Pool().QueryRow(ctx, `SELECT
		(SELECT count(*) FROM (`+expected+` EXCEPT ALL `+postings+`) x),
		(SELECT count(*) FROM (`+postings+` EXCEPT ALL `+expected+`) x),
		(SELECT count(*) FROM postings),
		(SELECT count(*) FROM chunks c CROSS JOIN LATERAL unnest(c.tsv))`).Scan(&missing, &extra, &total, &want))
	require.Zero(t, missing, "postings missing")
	require.Zero(t, extra, "postings of no chunk")
	require.Equal(t, want, total)
	var wrongCounts int64
	require.NoError(t, s.Pool().QueryRow(ctx, `SELECT count(*) FROM collections k
		LEFT JOIN LATERAL (SELECT count(*) AS n, coalesce(sum(doclen), 0) AS tokens FROM chunks c
			WHERE c.tenant = k.tenant AND c.collection = k.collection) AS c ON true
		WHERE k.chunks <> c.n OR k.tokens <> c.tokens`).Scan(&wrongCounts))
	require.Zero(t, wrongCounts, "collections counts differ from the chunks")
	return total
}

type scored struct {
	id    string
	score float64
}

// referenceBM25 ranks the collection's chunks for text by BM25 computed
// from their tsv alone (df, n and average length counted over chunks), with
// the store's default k1 and b.
func referenceBM25(t *testing.T, s *pgvector.Store, tenant, collection, text string) []scored {
	t.Helper()
	rows, err := s.Pool().Query(context.Background(), `WITH q AS (
		SELECT u.lexeme, coalesce(array_length(u.positions, 1), 1)::float8 AS qtf
		FROM unnest(to_tsvector('english'::regconfig, $3::text)) AS u
	), c AS (
		SELECT seq, chunk_id, tsv, doclen FROM chunks WHERE tenant = $1 AND collection = $2
	), st AS (
		SELECT greatest(count(*), 1)::float8 AS n, greatest(coalesce(sum(doclen), 0)::float8 / greatest(count(*), 1), 1) AS avgdl FROM c
	), m AS (
		SELECT c.seq, c.chunk_id, c.doclen, u.lexeme, coalesce(array_length(u.positions, 1), 1)::float8 AS tf
		FROM c CROSS JOIN LATERAL unnest(c.tsv) AS u WHERE u.lexeme IN (SELECT lexeme FROM q)
	), df AS (
		SELECT lexeme, count(*)::float8 AS df FROM m GROUP BY lexeme
	)
	SELECT m.chunk_id, sum(q.qtf * ln(1 + (st.n - df.df + 0.5) / (df.df + 0.5)) * m.tf * 2.2 / (m.tf + 1.2 * (0.25 + 0.75 * m.doclen / st.avgdl)))
	FROM m JOIN q USING (lexeme) JOIN df USING (lexeme) CROSS JOIN st
	GROUP BY m.seq, m.chunk_id ORDER BY 2 DESC, m.seq`, tenant, collection, text)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (scored, error) {
		var r scored
		return r, row.Scan(&r.id, &r.score)
	})
	require.NoError(t, err)
	return out
}

// requireRanking checks that lexical search ranks as the reference does,
// with and without a filter.
func requireRanking(t *testing.T, s *pgvector.Store, tenant, collection, text string, f *retrieval.Filter) {
	t.Helper()
	ref := referenceBM25(t, s, tenant, collection, text)
	all := retrievaltest.Search(t, s, retrieval.Query{Tenant: tenant, Collection: collection, Text: text, K: 1000, Mode: retrieval.ModeLexical})
	require.Len(t, all, len(ref), "query %q", text)
	for i, r := range all {
		require.Equal(t, ref[i].id, r.ID, "query %q rank %d", text, i)
		require.InDelta(t, ref[i].score, r.Score, 1e-9, "query %q rank %d", text, i)
	}
	var want []string
	for _, r := range all {
		if f.Match(r.Attributes) {
			want = append(want, r.ID)
		}
	}
	want = want[:min(len(want), 2)]
	got := retrievaltest.Search(t, s, retrieval.Query{Tenant: tenant, Collection: collection, Text: text, K: 2, Mode: retrieval.ModeLexical, Filter: f})
	require.Equal(t, want, idsOf(got), "query %q filtered", text)
}

func idsOf(res []retrieval.Result) []string {
	var ids []string
	for _, r := range res {
		ids = append(ids, r.ID)
	}
	return ids
}

var corpus = []string{
	"The quick brown fox jumps over the lazy dog",
	"Foxes and dogs, and more foxes: fox after fox",
	"A lazy afternoon; the dog sleeps and the cat sleeps",
	"Brown bread and brown butter",
	"Jumping foxes jumped over jumping dogs",
	"Nothing in common with the others",
}

var queries = []string{"fox", "lazy dog", "brown foxes jumping", "sleeping cats and dogs", "the and of", "unknownword"}

// fileChunks builds n chunks of file from the corpus, starting at offset,
// each with attribute "even" telling whether its index is even.
func fileChunks(file string, offset, n int) []retrieval.Chunk {
	chunks := make([]retrieval.Chunk, n)
	for i := range chunks {
		text := corpus[(offset+i)%len(corpus)]
		chunks[i] = retrievaltest.Chunk(file, i, text, retrievaltest.Vec(i, 0.1), map[string]any{"even": i%2 == 0})
	}
	return chunks
}

// TestPostingsConsistency replaces, deletes and drops files and
// collections and checks after each step that the postings match the
// chunks and that lexical search ranks as BM25 recomputed from the chunks.
func TestPostingsConsistency(t *testing.T) {
	s := open(t, t.TempDir(), pgvector.Options{})
	defer s.Close()
	ctx := context.Background()
	even := &retrieval.Filter{Type: "eq", Key: "even", Value: true}
	type target struct{ tenant, collection string }
	targets := []target{{"t1", "a"}, {"t1", "b"}, {"t2", "a"}}
	steps := []struct {
		name     string
		apply    func() error
		postings bool // some postings remain
	}{
		{"first files", func() error {
			for i, tg := range targets {
				for f := range 3 {
					file := fmt.Sprintf("f%d", f)
					if err := s.ReplaceFile(ctx, tg.tenant, tg.collection, file, fileChunks(file, i+f, 4+f)); err != nil {
						return err
					}
				}
			}
			return nil
		}, true},
		{"replace with other text", func() error {
			return s.ReplaceFile(ctx, "t1", "a", "f0", fileChunks("f0", 3, 5))
		}, true},
		{"replace with the same text", func() error {
			return s.ReplaceFile(ctx, "t1", "a", "f1", fileChunks("f1", 1, 5))
		}, true},
		{"delete a file", func() error {
			return s.ReplaceFile(ctx, "t1", "a", "f2", nil)
		}, true},
		{"delete a file of another tenant", func() error {
			return s.ReplaceFile(ctx, "t2", "a", "f0", nil)
		}, true},
		{"delete a collection", func() error {
			return s.DeleteCollection(ctx, "t1", "b")
		}, true},
		{"delete the rest", func() error {
			if err := s.DeleteCollection(ctx, "t1", "a"); err != nil {
				return err
			}
			return s.DeleteCollection(ctx, "t2", "a")
		}, false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			require.NoError(t, st.apply())
			n := requirePostings(t, s)
			require.Equal(t, st.postings, n > 0)
			for _, tg := range targets {
				for _, q := range queries {
					requireRanking(t, s, tg.tenant, tg.collection, q, even)
				}
			}
		})
	}
	res := retrievaltest.Search(t, s, retrieval.Query{Tenant: "t1", Collection: "a", Text: "fox", K: 10, Mode: retrieval.ModeLexical})
	require.Empty(t, res)
}

// TestPostingsBackfill stores chunks under the first schema version, then
// opens the store, whose migration must derive their postings, twice.
func TestPostingsBackfill(t *testing.T) {
	ctx := context.Background()
	dsn := testDSN(t)
	schema := schemaFor(t, dsn, t.TempDir())
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	require.NoError(t, pgvector.MigrateFirst(ctx, conn, schema, 1))
	id := pgx.Identifier{schema}.Sanitize()
	for i, text := range corpus {
		_, err := conn.Exec(ctx, `INSERT INTO `+id+`.chunks (tenant, collection, file_id, chunk_id, idx, text, attributes, dim, embedding)
			VALUES ('t', 'c', $1, $2, 0, $3, $4, 2, '[1,0]')`,
			fmt.Sprintf("f%d", i), fmt.Sprintf("c%d", i), text, map[string]any{"even": i%2 == 0})
		require.NoError(t, err)
	}
	_, err = conn.Exec(ctx, `INSERT INTO `+id+`.collections (tenant, collection, dim, chunks, tokens)
		SELECT 't', 'c', 2, count(*), sum(doclen) FROM `+id+`.chunks`)
	require.NoError(t, err)
	for range 2 {
		s, err := pgvector.Open(ctx, dsn, pgvector.Options{Schema: schema})
		require.NoError(t, err)
		require.Positive(t, requirePostings(t, s))
		for _, q := range queries {
			requireRanking(t, s, "t", "c", q, &retrieval.Filter{Type: "eq", Key: "even", Value: false})
		}
		require.NoError(t, s.ReplaceFile(ctx, "t", "c", "f0", nil))
		requirePostings(t, s)
		require.NoError(t, s.Close())
	}
}

// TestPostingsNeverLeak plants postings of one tenant that point at
// another tenant's chunk and checks that search still returns only the
// tenant's own chunks: the chunks are checked too, not only the postings.
func TestPostingsNeverLeak(t *testing.T) {
	s := open(t, t.TempDir(), pgvector.Options{})
	defer s.Close()
	ctx := context.Background()
	require.NoError(t, s.ReplaceFile(ctx, "alice", "c", "f", []retrieval.Chunk{retrievaltest.Chunk("f", 0, "public notes", retrievaltest.Vec(0, 0), map[string]any{"x": "z"})}))
	require.NoError(t, s.ReplaceFile(ctx, "bob", "c", "f", []retrieval.Chunk{retrievaltest.Chunk("f", 0, "secret plans", retrievaltest.Vec(0, 0), map[string]any{"x": "z"})}))
	tag, err := s.Pool().Exec(ctx, `INSERT INTO postings (tenant, collection, lexeme, seq, tf, doclen)
		SELECT 'alice', 'c', lexeme, seq, tf, doclen FROM postings WHERE tenant = 'bob'`)
	require.NoError(t, err)
	require.EqualValues(t, 2, tag.RowsAffected())
	for _, f := range []*retrieval.Filter{nil, {Type: "eq", Key: "x", Value: "z"}} {
		for _, mode := range []retrieval.Mode{retrieval.ModeLexical, retrieval.ModeHybrid} {
			res := retrievaltest.Search(t, s, retrieval.Query{Tenant: "alice", Collection: "c", Text: "secret plans public", Vector: retrievaltest.Vec(0, 0), K: 10, Mode: mode, Filter: f})
			require.Len(t, res, 1, "mode %s filter %v", mode, f)
			require.Equal(t, "public notes", res[0].Text, "mode %s filter %v", mode, f)
		}
	}
	res := retrievaltest.Search(t, s, retrieval.Query{Tenant: "alice", Collection: "c", Text: "public", K: 10, Mode: retrieval.ModeLexical})
	require.Len(t, res, 1)
}
