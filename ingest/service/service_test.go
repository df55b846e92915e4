package service_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/embed"
	"github.com/ragway/ragway/embed/lexical"
	"github.com/ragway/ragway/ingest"
	"github.com/ragway/ragway/ingest/service"
	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/retrieval"
)

const guide = `Installing Ragway

Download the binary and run ragway serve to start the gateway on port 8080.

Configuring backends

Backends are listed in the YAML file with a name, a type and a URL.`

func TestUploadIndexSearch(t *testing.T) {
	e := openEnv(t, t.TempDir(), envOptions{})
	ctx := context.Background()
	f := e.upload("acme", "guide.txt", guide)
	require.Equal(t, int64(len(guide)), f.Bytes)
	require.FileExists(t, filepath.Join(e.dir, "files", "acme", f.ID))

	vs := e.newStore("acme")
	require.Equal(t, e.svc.Embedder(), vs.Embedder)
	require.Equal(t, "auto", vs.ChunkingStrategy.Type)
	vf, err := e.svc.AddFile(ctx, "acme", vs.ID, service.AddFileRequest{FileID: f.ID, Attributes: map[string]any{"lang": "en", "year": 2024}})
	require.NoError(t, err)
	require.Equal(t, service.StatusInProgress, vf.Status)

	done := e.waitDone("acme", vs.ID, f.ID)
	require.Equal(t, service.StatusCompleted, done.Status, "last error: %+v", done.LastError)
	require.Nil(t, done.LastError)
	require.Positive(t, done.UsageBytes)
	require.Equal(t, map[string]any{"lang": "en", "year": float64(2024)}, done.Attributes)

	got, err := e.svc.GetStore(ctx, "acme", vs.ID)
	require.NoError(t, err)
	require.Equal(t, service.FileCounts{Completed: 1, Total: 1}, got.FileCounts)
	require.Equal(t, "completed", got.Status)
	require.Equal(t, done.UsageBytes, got.UsageBytes)

	for _, mode := range []retrieval.Mode{retrieval.ModeHybrid, retrieval.ModeVector, retrieval.ModeLexical} {
		t.Run(string(mode), func(t *testing.T) {
			res, err := e.search("acme", vs.ID, "backends YAML URL", func(r *service.SearchRequest) { r.Mode = mode })
			require.NoError(t, err)
			require.NotEmpty(t, res)
			require.Equal(t, f.ID, res[0].FileID)
			require.Equal(t, "guide.txt", res[0].Filename)
			require.Contains(t, res[0].Content[0].Text, "YAML")
			require.Equal(t, "text", res[0].Content[0].Type)
			require.Equal(t, "en", res[0].Attributes["lang"])
		})
	}
	res, err := e.search("acme", vs.ID, "backends", func(r *service.SearchRequest) {
		r.Filters = &retrieval.Filter{Type: "eq", Key: "lang", Value: "fr"}
	})
	require.NoError(t, err)
	require.Empty(t, res)
	res, err = e.search("acme", vs.ID, "backends", func(r *service.SearchRequest) {
		r.Filters = &retrieval.Filter{Type: "gte", Key: "year", Value: float64(2020)}
		r.MaxNumResults = 1
	})
	require.NoError(t, err)
	require.Len(t, res, 1)

	_, rc, err := e.svc.OpenContent(ctx, "acme", f.ID)
	require.NoError(t, err)
	b, err := io.ReadAll(rc)
	require.NoError(t, rc.Close())
	require.NoError(t, err)
	require.Equal(t, guide, string(b))
}

func TestBadFilesFail(t *testing.T) {
	e := openEnv(t, t.TempDir(), envOptions{})
	vs := e.newStore("acme")
	tests := []struct {
		name, filename, content, code, msg string
	}{
		{"empty", "empty.txt", "", ingest.CodeEmpty, "empty"},
		{"binary named txt", "garbage.txt", "\x00\x01\x02\xff\xfe binary", ingest.CodeInvalid, "not text"},
		{"truncated pdf", "report.pdf", "%PDF-1.7\n1 0 obj\n<< /Type /Catalog", ingest.CodeInvalid, "PDF"},
		{"whitespace only", "blank.txt", "\n\n   \n\n", ingest.CodeEmpty, "text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := e.upload("acme", tt.filename, tt.content)
			_, err := e.svc.AddFile(context.Background(), "acme", vs.ID, service.AddFileRequest{FileID: f.ID})
			require.NoError(t, err)
			got := e.waitDone("acme", vs.ID, f.ID)
			require.Equal(t, service.StatusFailed, got.Status)
			require.NotNil(t, got.LastError)
			require.Equal(t, tt.code, got.LastError.Code)
			require.Contains(t, got.LastError.Message, tt.msg)
		})
	}
}

func TestOversizedUploadRefused(t *testing.T) {
	dir := t.TempDir()
	e := openEnv(t, dir, envOptions{})
	_, err := e.svc.Upload(context.Background(), "acme", "big.txt", "assistants", strings.NewReader(strings.Repeat("a", 33<<20)))
	require.ErrorIs(t, err, service.ErrTooLarge)
	entries, err := os.ReadDir(filepath.Join(dir, "files", "acme"))
	require.NoError(t, err)
	require.Empty(t, entries, "no partial upload may stay behind")
	page, err := e.svc.ListFiles(context.Background(), "acme", service.ListParams{})
	require.NoError(t, err)
	require.Empty(t, page.Data)
}

func TestTransientFailuresRetriedThenFailed(t *testing.T) {
	tests := []struct {
		name   string
		fails  int64
		status service.Status
	}{
		{"recovers", 2, service.StatusCompleted},
		{"gives up", 1000, service.StatusFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emb := &flaky{Embedder: lexical.New(lexical.Options{})}
			e := openEnv(t, t.TempDir(), envOptions{embedder: emb, attempts: 3})
			f := e.upload("acme", "guide.txt", guide)
			vs := e.newStore("acme")
			emb.fails.Store(tt.fails)
			_, err := e.svc.AddFile(context.Background(), "acme", vs.ID, service.AddFileRequest{FileID: f.ID})
			require.NoError(t, err)
			got := e.waitDone("acme", vs.ID, f.ID)
			require.Equal(t, tt.status, got.Status)
			if tt.status == service.StatusFailed {
				require.Equal(t, ingest.CodeServerError, got.LastError.Code)
				require.Equal(t, "the embedder failed after 3 attempts", got.LastError.Message)
				emb.fails.Store(0)
				res, err := e.search("acme", vs.ID, "backends", func(r *service.SearchRequest) { r.Mode = retrieval.ModeLexical })
				require.NoError(t, err)
				require.Empty(t, res)
			}
		})
	}
}

func TestRestartResumesPendingFiles(t *testing.T) {
	tests := []struct {
		name string
		// loseQueue deletes the queue file as if jobs had been lost:
		// in_progress files are queued again from the catalogue.
		loseQueue bool
	}{
		{"durable jobs", false},
		{"jobs lost", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			e := openEnv(t, dir, envOptions{noWorker: true})
			vs := e.newStore("acme")
			var ids []string
			for _, name := range []string{"a.txt", "b.txt", "c.txt"} {
				f := e.upload("acme", name, guide+"\n\n"+name)
				ids = append(ids, f.ID)
			}
			_, err := e.svc.CreateBatch(context.Background(), "acme", vs.ID, service.BatchRequest{FileIDs: ids})
			require.NoError(t, err)
			e.close()
			if tt.loseQueue {
				matches, err := filepath.Glob(filepath.Join(dir, "ingest-queue.db*"))
				require.NoError(t, err)
				require.NotEmpty(t, matches)
				for _, m := range matches {
					require.NoError(t, os.Remove(m))
				}
			}

			e = openEnv(t, dir, envOptions{})
			for _, id := range ids {
				require.Equal(t, service.StatusCompleted, e.waitDone("acme", vs.ID, id).Status)
			}
			res, err := e.search("acme", vs.ID, "c.txt", func(r *service.SearchRequest) { r.Mode = retrieval.ModeLexical })
			require.NoError(t, err)
			require.NotEmpty(t, res)
			require.Equal(t, ids[2], res[0].FileID)
		})
	}
}

func TestStopMidIndexingResumes(t *testing.T) {
	dir := t.TempDir()
	emb := &stalling{Embedder: lexical.New(lexical.Options{}), started: make(chan struct{}, 1)}
	e := openEnv(t, dir, envOptions{embedder: emb})
	f := e.upload("acme", "guide.txt", guide)
	vs := e.newStore("acme")
	_, err := e.svc.AddFile(context.Background(), "acme", vs.ID, service.AddFileRequest{FileID: f.ID})
	require.NoError(t, err)
	select {
	case <-emb.started:
	case <-time.After(10 * time.Second):
		t.Fatal("indexing never reached the embedder")
	}
	e.close() // stops the worker in the middle of embedding

	e = openEnv(t, dir, envOptions{})
	got := e.waitDone("acme", vs.ID, f.ID)
	require.Equal(t, service.StatusCompleted, got.Status, "a stop is not a failure: %+v", got.LastError)
	res, err := e.search("acme", vs.ID, "backends")
	require.NoError(t, err)
	require.NotEmpty(t, res)
}

// chunkIDs returns the ids of every chunk of the store, via lexical search
// for a word every chunk holds.
func chunkIDs(t *testing.T, e *env, tenant, storeID string) []string {
	t.Helper()
	res, err := e.store.Search(context.Background(), retrieval.Query{Tenant: tenant, Collection: storeID, Text: "ragway gateway backends",
		K: 100, Mode: retrieval.ModeLexical})
	require.NoError(t, err)
	var ids []string
	for _, r := range res {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestReaddIsIdempotentAndReplaces(t *testing.T) {
	e := openEnv(t, t.TempDir(), envOptions{})
	ctx := context.Background()
	f := e.upload("acme", "guide.txt", guide)
	vs := e.newStore("acme")
	_, err := e.svc.AddFile(ctx, "acme", vs.ID, service.AddFileRequest{FileID: f.ID, Attributes: map[string]any{"v": "1"}})
	require.NoError(t, err)
	require.Equal(t, service.StatusCompleted, e.waitDone("acme", vs.ID, f.ID).Status)
	before := chunkIDs(t, e, "acme", vs.ID)
	require.NotEmpty(t, before)

	_, err = e.svc.AddFile(ctx, "acme", vs.ID, service.AddFileRequest{FileID: f.ID, Attributes: map[string]any{"v": "2"}})
	require.NoError(t, err)
	require.Equal(t, service.StatusCompleted, e.waitDone("acme", vs.ID, f.ID).Status)
	after := chunkIDs(t, e, "acme", vs.ID)
	require.ElementsMatch(t, before, after, "same content, same chunk ids, no duplicates")

	for v, want := range map[string]int{"1": 0, "2": len(after)} {
		res, err := e.search("acme", vs.ID, "ragway gateway backends", func(r *service.SearchRequest) {
			r.Mode, r.MaxNumResults = retrieval.ModeLexical, 50
			r.Filters = &retrieval.Filter{Type: "eq", Key: "v", Value: v}
		})
		require.NoError(t, err)
		require.Len(t, res, want, "attributes v=%s", v)
	}
	page, err := e.svc.ListStoreFiles(ctx, "acme", vs.ID, service.ListParams{})
	require.NoError(t, err)
	require.Len(t, page.Data, 1)
}

func TestDelete(t *testing.T) {
	e := openEnv(t, t.TempDir(), envOptions{})
	ctx := context.Background()
	keep := e.upload("acme", "keep.txt", "Ragway keeps this gateway note.")
	drop := e.upload("acme", "drop.txt", guide)
	vs1, vs2 := e.newStore("acme"), e.newStore("acme")
	for _, vs := range []*service.VectorStore{vs1, vs2} {
		for _, f := range []*service.File{keep, drop} {
			_, err := e.svc.AddFile(ctx, "acme", vs.ID, service.AddFileRequest{FileID: f.ID})
			require.NoError(t, err)
			require.Equal(t, service.StatusCompleted, e.waitDone("acme", vs.ID, f.ID).Status)
		}
	}

	_, err := e.svc.DeleteFile(ctx, "acme", drop.ID)
	require.NoError(t, err)
	for _, vs := range []*service.VectorStore{vs1, vs2} {
		res, err := e.search("acme", vs.ID, "ragway gateway backends", func(r *service.SearchRequest) { r.Mode = retrieval.ModeLexical })
		require.NoError(t, err)
		require.NotEmpty(t, res)
		for _, r := range res {
			require.Equal(t, keep.ID, r.FileID)
		}
		_, err = e.svc.GetStoreFile(ctx, "acme", vs.ID, drop.ID)
		require.ErrorIs(t, err, retrieval.ErrNotFound)
	}
	_, err = e.svc.GetFile(ctx, "acme", drop.ID)
	require.ErrorIs(t, err, retrieval.ErrNotFound)
	require.NoFileExists(t, filepath.Join(e.dir, "files", "acme", drop.ID))

	_, err = e.svc.DeleteStoreFile(ctx, "acme", vs1.ID, keep.ID)
	require.NoError(t, err)
	res, err := e.search("acme", vs1.ID, "ragway", func(r *service.SearchRequest) { r.Mode = retrieval.ModeLexical })
	require.NoError(t, err)
	require.Empty(t, res)
	_, err = e.svc.GetFile(ctx, "acme", keep.ID)
	require.NoError(t, err, "detaching keeps the file")

	_, err = e.svc.DeleteStore(ctx, "acme", vs2.ID)
	require.NoError(t, err)
	_, err = e.svc.GetStore(ctx, "acme", vs2.ID)
	require.ErrorIs(t, err, retrieval.ErrNotFound)
	_, err = e.search("acme", vs2.ID, "ragway")
	require.ErrorIs(t, err, retrieval.ErrNotFound)
}

func TestTenantIsolation(t *testing.T) {
	e := openEnv(t, t.TempDir(), envOptions{})
	ctx := context.Background()
	f := e.upload("acme", "guide.txt", guide)
	vs := e.newStore("acme")
	_, err := e.svc.AddFile(ctx, "acme", vs.ID, service.AddFileRequest{FileID: f.ID})
	require.NoError(t, err)
	e.waitDone("acme", vs.ID, f.ID)

	other := "globex"
	notFound := []struct {
		name string
		call func() error
	}{
		{"get file", func() error { _, err := e.svc.GetFile(ctx, other, f.ID); return err }},
		{"content", func() error { _, _, err := e.svc.OpenContent(ctx, other, f.ID); return err }},
		{"delete file", func() error { _, err := e.svc.DeleteFile(ctx, other, f.ID); return err }},
		{"get store", func() error { _, err := e.svc.GetStore(ctx, other, vs.ID); return err }},
		{"update store", func() error { _, err := e.svc.UpdateStore(ctx, other, vs.ID, service.UpdateStoreRequest{}); return err }},
		{"delete store", func() error { _, err := e.svc.DeleteStore(ctx, other, vs.ID); return err }},
		{"search", func() error { _, err := e.search(other, vs.ID, "backends"); return err }},
		{"list store files", func() error { _, err := e.svc.ListStoreFiles(ctx, other, vs.ID, service.ListParams{}); return err }},
		{"get store file", func() error { _, err := e.svc.GetStoreFile(ctx, other, vs.ID, f.ID); return err }},
		{"add to own store", func() error {
			own := e.newStore(other)
			_, err := e.svc.AddFile(ctx, other, own.ID, service.AddFileRequest{FileID: f.ID})
			return err
		}},
	}
	for _, tt := range notFound {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorIs(t, tt.call(), retrieval.ErrNotFound)
		})
	}
	files, err := e.svc.ListFiles(ctx, other, service.ListParams{})
	require.NoError(t, err)
	require.Empty(t, files.Data)
	stores, err := e.svc.ListStores(ctx, other, service.ListParams{})
	require.NoError(t, err)
	require.Len(t, stores.Data, 1, "only the store globex made")
	// acme still has everything.
	res, err := e.search("acme", vs.ID, "backends")
	require.NoError(t, err)
	require.NotEmpty(t, res)
}

func TestEmbedderMismatchRefused(t *testing.T) {
	dir := t.TempDir()
	e := openEnv(t, dir, envOptions{})
	ctx := context.Background()
	f := e.upload("acme", "guide.txt", guide)
	vs := e.newStore("acme")
	e.close()

	e = openEnv(t, dir, envOptions{embedder: lexical.New(lexical.Options{Dimensions: 128})})
	_, err := e.svc.AddFile(ctx, "acme", vs.ID, service.AddFileRequest{FileID: f.ID})
	require.ErrorIs(t, err, embed.ErrModelMismatch)
	_, err = e.svc.CreateBatch(ctx, "acme", vs.ID, service.BatchRequest{FileIDs: []string{f.ID}})
	require.ErrorIs(t, err, embed.ErrModelMismatch)
	_, err = e.search("acme", vs.ID, "backends")
	require.ErrorIs(t, err, embed.ErrModelMismatch)
	// A new store records the new embedder and works.
	vs2 := e.newStore("acme")
	_, err = e.svc.AddFile(ctx, "acme", vs2.ID, service.AddFileRequest{FileID: f.ID})
	require.NoError(t, err)
	require.Equal(t, service.StatusCompleted, e.waitDone("acme", vs2.ID, f.ID).Status)
}

// refusing rejects every call as an invalid request, as an upstream
// answering 400 does, and counts the calls.
type refusing struct {
	*lexical.Embedder
	calls atomic.Int64
}

func (r *refusing) Embed(context.Context, []string) ([][]float32, error) {
	r.calls.Add(1)
	return nil, fmt.Errorf("embed: input too long: %w", llm.ErrInvalidRequest)
}

func TestInvalidRequestNotRetried(t *testing.T) {
	emb := &refusing{Embedder: lexical.New(lexical.Options{})}
	e := openEnv(t, t.TempDir(), envOptions{embedder: emb, attempts: 3})
	f := e.upload("acme", "guide.txt", guide)
	vs := e.newStore("acme")
	_, err := e.svc.AddFile(context.Background(), "acme", vs.ID, service.AddFileRequest{FileID: f.ID})
	require.NoError(t, err)
	got := e.waitDone("acme", vs.ID, f.ID)
	require.Equal(t, service.StatusFailed, got.Status)
	require.Equal(t, "the embedder failed after 1 attempts", got.LastError.Message)
	require.Equal(t, int64(1), emb.calls.Load())
}

// failingDeletes refuses the next n chunk removals, as a store that is down.
type failingDeletes struct {
	retrieval.Store
	n atomic.Int32
}

func (f *failingDeletes) ReplaceFile(ctx context.Context, tenant, collection, fileID string, chunks []retrieval.Chunk) error {
	if len(chunks) == 0 && f.n.Add(-1) >= 0 {
		return fmt.Errorf("store down: %w", retrieval.ErrUnavailable)
	}
	return f.Store.ReplaceFile(ctx, tenant, collection, fileID, chunks)
}

func TestDetachRetriedAfterStoreFailureLeavesNoChunks(t *testing.T) {
	var fd *failingDeletes
	e := openEnv(t, t.TempDir(), envOptions{wrapStore: func(s retrieval.Store) retrieval.Store {
		fd = &failingDeletes{Store: s}
		return fd
	}})
	ctx := context.Background()
	vs := e.newStore("acme")
	f := e.upload("acme", "note.txt", "The lighthouse keeper counts ships every evening.")
	_, err := e.svc.AddFile(ctx, "acme", vs.ID, service.AddFileRequest{FileID: f.ID})
	require.NoError(t, err)
	e.waitDone("acme", vs.ID, f.ID)
	res, err := e.search("acme", vs.ID, "lighthouse keeper")
	require.NoError(t, err)
	require.NotEmpty(t, res)

	fd.n.Store(1)
	_, err = e.svc.DeleteStoreFile(ctx, "acme", vs.ID, f.ID)
	require.ErrorIs(t, err, retrieval.ErrUnavailable)
	// The file is still attached, so the delete can be retried...
	_, err = e.svc.DeleteStoreFile(ctx, "acme", vs.ID, f.ID)
	require.NoError(t, err)
	// ...and no chunk is left behind.
	res, err = e.search("acme", vs.ID, "lighthouse keeper")
	require.NoError(t, err)
	require.Empty(t, res)
}
