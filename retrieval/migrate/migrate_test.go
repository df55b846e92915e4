package migrate_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/embedded"
	"github.com/ragway/ragway/retrieval/migrate"
	"github.com/ragway/ragway/retrieval/pgvector"
	"github.com/ragway/ragway/retrieval/retrievaltest"
)

var ref = retrieval.CollectionRef{Tenant: "acme", Collection: "vs_docs"}

func openEmbedded(t *testing.T) *embedded.Store {
	t.Helper()
	s, err := embedded.Open(context.Background(), t.TempDir(), embedded.Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// fill writes files f00..f(n-1), file i holding i%4+1 chunks, plus a file
// in another collection that must not be copied.
func fill(t *testing.T, s retrieval.Store, n int) (chunks int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		id := fmt.Sprintf("f%02d", i)
		var cs []retrieval.Chunk
		for j := range i%4 + 1 {
			cs = append(cs, retrievaltest.Chunk(id, j, fmt.Sprintf("file %d part %d topic%d", i, j, i%7), retrievaltest.Vec(i, float64(i)*0.013+float64(j)*0.1), map[string]any{"n": float64(i)}))
		}
		chunks += len(cs)
		require.NoError(t, s.ReplaceFile(ctx, ref.Tenant, ref.Collection, id, cs))
	}
	require.NoError(t, s.ReplaceFile(ctx, ref.Tenant, "other", "x", []retrieval.Chunk{retrievaltest.Chunk("x", 0, "elsewhere", retrievaltest.Vec(0, 0), nil)}))
	return chunks
}

// sameSearches checks both stores score every chunk alike in every mode.
// K covers every chunk, so ties cannot cut the lists differently.
func sameSearches(t *testing.T, a, b retrieval.Store) {
	t.Helper()
	for _, mode := range []retrieval.Mode{retrieval.ModeLexical, retrieval.ModeVector, retrieval.ModeHybrid} {
		q := retrieval.Query{Tenant: ref.Tenant, Collection: ref.Collection, Text: "topic3 part", Vector: retrievaltest.Vec(3, 0.05), K: 500, Mode: mode}
		ra, rb := retrievaltest.Search(t, a, q), retrievaltest.Search(t, b, q)
		require.NotEmpty(t, ra)
		require.Len(t, rb, len(ra), "mode %s", mode)
		scores := map[string]float64{}
		for _, r := range ra {
			scores[r.ID] = r.Score
		}
		for _, r := range rb {
			require.Contains(t, scores, r.ID, "mode %s", mode)
			require.InDelta(t, scores[r.ID], r.Score, 1e-4, "mode %s: %s", mode, r.ID)
		}
	}
}

func TestCopyEmbeddedToEmbedded(t *testing.T) {
	ctx := context.Background()
	src, dst := openEmbedded(t), openEmbedded(t)
	chunks := fill(t, src, 30)
	// A file only the destination has is removed by the copy.
	require.NoError(t, dst.ReplaceFile(ctx, ref.Tenant, ref.Collection, "zz-stale", []retrieval.Chunk{retrievaltest.Chunk("zz-stale", 0, "stale", retrievaltest.Vec(1, 0), nil)}))
	var calls []migrate.Progress
	rep, err := migrate.Collection(ctx, src, dst, ref, migrate.Options{Workers: 3, Progress: func(p migrate.Progress) { calls = append(calls, p) }})
	require.NoError(t, err)
	require.Equal(t, 30, rep.Files)
	require.Equal(t, chunks, rep.Chunks)
	require.Equal(t, 30, rep.Copied)
	require.Equal(t, 0, rep.Resumed)
	require.Equal(t, 1, rep.Removed)
	require.Len(t, calls, 30)
	require.Equal(t, migrate.Progress{Files: 30, TotalFiles: 30, Chunks: chunks, TotalChunks: chunks}, calls[29])
	files, err := dst.Files(ctx, ref.Tenant, ref.Collection)
	require.NoError(t, err)
	want, err := src.Files(ctx, ref.Tenant, ref.Collection)
	require.NoError(t, err)
	require.Equal(t, want, files)
	colls, err := dst.Collections(ctx)
	require.NoError(t, err)
	require.Equal(t, []retrieval.CollectionRef{ref}, colls, "only the named collection is copied")
	sameSearches(t, src, dst)
}

// failing is a real store whose writes fail after a number of successes,
// like a destination going down mid-copy.
type failing struct {
	*embedded.Store
	left atomic.Int64
}

var errDown = errors.New("destination down")

func (f *failing) ReplaceFile(ctx context.Context, tenant, coll, file string, chunks []retrieval.Chunk) error {
	if f.left.Add(-1) < 0 {
		return fmt.Errorf("%w: %w", retrieval.ErrUnavailable, errDown)
	}
	return f.Store.ReplaceFile(ctx, tenant, coll, file, chunks)
}

func TestResumeAfterFailure(t *testing.T) {
	ctx := context.Background()
	src := openEmbedded(t)
	fill(t, src, 40)
	dst := &failing{Store: openEmbedded(t)}
	dst.left.Store(17)
	cp := filepath.Join(t.TempDir(), "cp", "acme.json")
	opts := migrate.Options{Checkpoint: cp, From: "embedded", To: "other", Workers: 2}
	_, err := migrate.Collection(ctx, src, dst, ref, opts)
	require.ErrorIs(t, err, errDown)
	require.ErrorIs(t, err, retrieval.ErrUnavailable)
	b, err := os.ReadFile(cp)
	require.NoError(t, err)
	require.Contains(t, string(b), `"done":"f`, "the checkpoint records the copied prefix")

	dst.left.Store(1 << 30)
	rep, err := migrate.Collection(ctx, src, dst, ref, opts)
	require.NoError(t, err)
	require.Positive(t, rep.Resumed)
	require.LessOrEqual(t, rep.Resumed, 17)
	require.Equal(t, 40, rep.Resumed+rep.Copied)
	sameSearches(t, src, dst.Store)

	// Running again resumes past everything and still verifies.
	rep, err = migrate.Collection(ctx, src, dst, ref, opts)
	require.NoError(t, err)
	require.Equal(t, [2]int{40, 0}, [2]int{rep.Resumed, rep.Copied})

	// A file added to the source below the checkpoint is caught by the
	// verification, and a fresh copy fixes it.
	require.NoError(t, src.ReplaceFile(ctx, ref.Tenant, ref.Collection, "f00a", []retrieval.Chunk{retrievaltest.Chunk("f00a", 0, "late", retrievaltest.Vec(2, 0), nil)}))
	_, err = migrate.Collection(ctx, src, dst, ref, opts)
	require.ErrorIs(t, err, migrate.ErrMismatch)
	require.ErrorContains(t, err, "file f00a missing")
	opts.Fresh = true
	rep, err = migrate.Collection(ctx, src, dst, ref, opts)
	require.NoError(t, err)
	require.Equal(t, 41, rep.Copied)
}

func TestCheckpointOfAnotherCopy(t *testing.T) {
	ctx := context.Background()
	src, dst := openEmbedded(t), openEmbedded(t)
	fill(t, src, 3)
	cp := filepath.Join(t.TempDir(), "cp.json")
	_, err := migrate.Collection(ctx, src, dst, ref, migrate.Options{Checkpoint: cp, From: "a", To: "b"})
	require.NoError(t, err)
	_, err = migrate.Collection(ctx, src, dst, ref, migrate.Options{Checkpoint: cp, From: "a", To: "c"})
	require.ErrorContains(t, err, "not this copy")
	require.NoError(t, os.WriteFile(cp, []byte("{garbage"), 0o600))
	_, err = migrate.Collection(ctx, src, dst, ref, migrate.Options{Checkpoint: cp, From: "a", To: "b"})
	require.ErrorContains(t, err, "bad checkpoint")
}

// shrinking is a real store that loses a chunk of one file between the
// listing and the read, as a concurrent writer would.
type shrinking struct{ *embedded.Store }

func (s shrinking) FileChunks(ctx context.Context, tenant, coll, file string) ([]retrieval.Chunk, error) {
	cs, err := s.Store.FileChunks(ctx, tenant, coll, file)
	if file == "f03" && len(cs) > 1 {
		cs = cs[1:]
	}
	return cs, err
}

func TestSourceChangingDuringCopy(t *testing.T) {
	src, dst := openEmbedded(t), openEmbedded(t)
	fill(t, src, 5)
	_, err := migrate.Collection(context.Background(), shrinking{src}, dst, ref, migrate.Options{})
	require.ErrorIs(t, err, migrate.ErrMismatch)
	require.ErrorContains(t, err, "f03")
}

func TestCopyEmbeddedToPgvector(t *testing.T) {
	dsn := retrievaltest.PostgresDSN(t)
	ctx := context.Background()
	schema := retrievaltest.PostgresSchema(t, dsn, "rgmigrate", t.TempDir())
	pg, err := pgvector.Open(ctx, dsn, pgvector.Options{Schema: schema})
	require.NoError(t, err)
	defer pg.Close()
	src := openEmbedded(t)
	chunks := fill(t, src, 25)
	rep, err := migrate.Collection(ctx, src, pg, ref, migrate.Options{})
	require.NoError(t, err)
	require.Equal(t, chunks, rep.Chunks)
	sameSearches(t, src, pg)

	// And back, into an empty embedded store.
	back := openEmbedded(t)
	rep, err = migrate.Collection(ctx, pg, back, ref, migrate.Options{})
	require.NoError(t, err)
	require.Equal(t, 25, rep.Copied)
	sameSearches(t, src, back)
}
