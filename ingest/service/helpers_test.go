package service_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/embed"
	"github.com/ragway/ragway/embed/lexical"
	"github.com/ragway/ragway/ingest"
	"github.com/ragway/ragway/ingest/queue"
	"github.com/ragway/ragway/ingest/service"
	"github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/embedded"
)

// env is a service on the real embedded store, queue and lexical embedder
// in one data dir.
type env struct {
	t      *testing.T
	dir    string
	svc    *service.Service
	store  *embedded.Store
	queue  *queue.Queue
	cancel context.CancelFunc
	done   chan error
}

type envOptions struct {
	// noWorker opens the service without consuming jobs (a gateway-only
	// process).
	noWorker bool
	embedder embed.Embedder
	attempts int
	// driver and dsn choose the catalogue database (default SQLite).
	driver, dsn string
	// wrapStore, when set, wraps the embedded store (fault injection).
	wrapStore func(retrieval.Store) retrieval.Store
}

// openEnv opens a service in dir and, unless o.noWorker, runs its worker.
func openEnv(t *testing.T, dir string, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	st, err := embedded.Open(ctx, dir+"/store", embedded.Options{NoSync: true})
	require.NoError(t, err)
	q, err := queue.Open(ctx, queue.Config{Dir: dir, Dedupe: true, PollInterval: 10 * time.Millisecond,
		RetryInitial: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	require.NoError(t, err)
	var store retrieval.Store = st
	if o.wrapStore != nil {
		store = o.wrapStore(st)
	}
	emb := o.embedder
	if emb == nil {
		emb = lexical.New(lexical.Options{})
	}
	svc, err := service.Open(ctx, service.Options{
		Driver: o.driver, DSN: o.dsn, DataDir: dir, Store: store, Embedder: emb, Queue: q,
		Attempts: max(o.attempts, 3), Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
	})
	require.NoError(t, err)
	e := &env{t: t, dir: dir, svc: svc, store: st, queue: q, done: make(chan error, 1)}
	wctx, cancel := context.WithCancel(ctx)
	e.cancel = cancel
	if o.noWorker {
		e.done <- nil
	} else {
		go func() { e.done <- svc.Run(wctx) }()
	}
	t.Cleanup(e.close)
	return e
}

// close stops the worker and closes everything; later calls do nothing.
func (e *env) close() {
	if e.svc == nil {
		return
	}
	e.cancel()
	select {
	case <-e.done:
	case <-time.After(10 * time.Second):
		e.t.Fatal("worker did not stop")
	}
	require.NoError(e.t, e.svc.Close())
	require.NoError(e.t, e.queue.Close())
	require.NoError(e.t, e.store.Close())
	e.svc = nil
}

func (e *env) upload(tenant, name, text string) *service.File {
	e.t.Helper()
	f, err := e.svc.Upload(context.Background(), tenant, name, "assistants", strings.NewReader(text))
	require.NoError(e.t, err)
	return f
}

func (e *env) newStore(tenant string) *service.VectorStore {
	e.t.Helper()
	vs, err := e.svc.CreateStore(context.Background(), tenant, service.CreateStoreRequest{Name: "docs"})
	require.NoError(e.t, err)
	return vs
}

// waitStatus waits until the store file leaves in_progress and returns it.
func (e *env) waitDone(tenant, storeID, fileID string) *service.VectorStoreFile {
	e.t.Helper()
	var f *service.VectorStoreFile
	require.Eventually(e.t, func() bool {
		var err error
		f, err = e.svc.GetStoreFile(context.Background(), tenant, storeID, fileID)
		require.NoError(e.t, err)
		return f.Status != service.StatusInProgress
	}, 15*time.Second, 5*time.Millisecond)
	return f
}

func (e *env) search(tenant, storeID, query string, mut ...func(*service.SearchRequest)) ([]service.SearchResult, error) {
	req := service.SearchRequest{Query: []string{query}}
	for _, m := range mut {
		m(&req)
	}
	page, err := e.svc.Search(context.Background(), tenant, storeID, req)
	if err != nil {
		return nil, err
	}
	return page.Data, nil
}

// flaky fails its first n calls, then embeds with the lexical embedder.
type flaky struct {
	*lexical.Embedder
	fails atomic.Int64
}

func (f *flaky) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if f.fails.Add(-1) >= 0 {
		return nil, errors.New("embedder unreachable")
	}
	return f.Embedder.Embed(ctx, texts)
}

var _ = ingest.ErrInvalidDocument

var errNotFound = retrieval.ErrNotFound

// stalling blocks every Embed until its context ends, and reports that a
// call started.
type stalling struct {
	*lexical.Embedder
	started chan struct{}
}

func (s *stalling) Embed(ctx context.Context, _ []string) ([][]float32, error) {
	select {
	case s.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return nil, ctx.Err()
}
