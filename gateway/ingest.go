package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/ragway/ragway/embed"
	"github.com/ragway/ragway/embed/embedders"
	"github.com/ragway/ragway/gateway/config"
	"github.com/ragway/ragway/ingest"
	"github.com/ragway/ragway/ingest/queue"
	"github.com/ragway/ragway/ingest/redisqueue"
	"github.com/ragway/ragway/ingest/service"
	"github.com/ragway/ragway/policies"
	"github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/stores"
)

// ingestStack is the ingestion service and the parts it runs on.
type ingestStack struct {
	svc      *service.Service
	store    retrieval.Store
	queue    ingest.Queue
	embedder embed.Embedder
	// redis is the queue's client, when the queue is on Redis.
	redis *redis.Client
	// maxUpload bounds a POST /v1/files body.
	maxUpload int64
}

// formOverhead is what a multipart upload may add to the file's bytes.
const formOverhead = 1 << 20

// openIngest opens the embedder, the store, the queue and the catalogue
// the configuration names (by default all embedded in the data dir).
func openIngest(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *ingestStack, err error) {
	ic := cfg.Ingest
	st := &ingestStack{maxUpload: ic.MaxFileBytes + formOverhead}
	defer func() {
		if err != nil {
			st.close(log)
		}
	}()
	if st.embedder, err = embedders.Open(ic.Embedder); err != nil {
		return nil, fmt.Errorf("open embedder: %w", err)
	}
	if st.store, err = stores.Open(ctx, ic.Retrieval, cfg.DataDir); err != nil {
		return nil, fmt.Errorf("open vector store: %w", err)
	}
	if st.queue, err = st.openQueue(ctx, cfg); err != nil {
		return nil, fmt.Errorf("open ingest queue: %w", err)
	}
	opts := service.Options{DataDir: cfg.DataDir, Store: st.store, Embedder: st.embedder, Queue: st.queue,
		MaxFileBytes: ic.MaxFileBytes, LoadTimeout: ic.LoadTimeout, EmbedBatch: ic.EmbedBatch,
		Attempts: ic.Attempts, Backoff: ic.Backoff, MaxBackoff: ic.MaxBackoff, Logger: log}
	if ic.Database == config.IngestPostgres {
		opts.Driver, opts.DSN = "pgx", ic.PostgresDSN.Reveal()
	}
	if st.svc, err = service.Open(ctx, opts); err != nil {
		return nil, fmt.Errorf("open ingest catalogue: %w", err)
	}
	return st, nil
}

// openQueue opens Redis Streams when Redis is configured, else the
// embedded queue in the data dir.
func (st *ingestStack) openQueue(ctx context.Context, cfg *config.Config) (ingest.Queue, error) {
	if rc := cfg.Ingest.Redis; rc.Addr != "" {
		st.redis = redis.NewClient(&redis.Options{Addr: rc.Addr, Password: rc.Password.Reveal(), DB: rc.DB})
		return redisqueue.New(ctx, st.redis, rc.Queue)
	}
	qc := cfg.Ingest.Queue
	if qc.Path == "" && qc.Dir == "" {
		qc.Dir = cfg.DataDir
	}
	qc.Dedupe = true
	return queue.Open(ctx, qc)
}

// close releases what openIngest opened, the service first.
func (st *ingestStack) close(log *slog.Logger) {
	if st == nil {
		return
	}
	var errs []error
	if st.svc != nil {
		errs = append(errs, st.svc.Close())
	}
	if st.queue != nil {
		errs = append(errs, st.queue.Close())
	}
	if st.store != nil {
		errs = append(errs, st.store.Close())
	}
	if st.redis != nil {
		errs = append(errs, st.redis.Close())
	}
	if c, ok := st.embedder.(io.Closer); ok {
		errs = append(errs, c.Close())
	}
	if err := errors.Join(errs...); err != nil {
		log.Error("closing ingestion failed", "error", err)
	}
}

// startIngest runs the ingestion worker until Close, unless the process
// only serves the API.
func (s *Server) startIngest() {
	if s.ingest == nil || s.role == config.RoleGateway {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer s.recoverBackground("ingest worker")
		if err := s.ingest.svc.Run(s.bgCtx); err != nil && s.bgCtx.Err() == nil {
			s.log.Error("ingest worker stopped", "error", err)
		}
	}()
}

// closeIngest releases ingestion; background work must have stopped.
func (s *Server) closeIngest() {
	s.ingest.close(s.log)
	s.ingest = nil
}

// ingestRoutes registers the Files and Vector Stores API.
func (s *Server) ingestRoutes(v1 *gin.RouterGroup) {
	auth := func(endpoint string) []gin.HandlerFunc {
		return []gin.HandlerFunc{s.observe(endpoint), s.authenticate}
	}
	v1.POST("/files", append(auth("files"), s.handleFileUpload)...)
	v1.GET("/files", append(auth("files"), s.handleFileList)...)
	v1.GET("/files/:id", append(auth("files"), s.handleFileGet)...)
	v1.GET("/files/:id/content", append(auth("files"), s.handleFileContent)...)
	v1.DELETE("/files/:id", append(auth("files"), s.handleFileDelete)...)

	vs := v1.Group("/vector_stores")
	vs.POST("", append(auth("vector_stores"), s.handleStoreCreate)...)
	vs.GET("", append(auth("vector_stores"), s.handleStoreList)...)
	vs.GET("/:id", append(auth("vector_stores"), s.handleStoreGet)...)
	vs.POST("/:id", append(auth("vector_stores"), s.handleStoreUpdate)...)
	vs.DELETE("/:id", append(auth("vector_stores"), s.handleStoreDelete)...)
	vs.POST("/:id/files", append(auth("vector_stores.files"), s.handleStoreFileAdd)...)
	vs.GET("/:id/files", append(auth("vector_stores.files"), s.handleStoreFileList)...)
	vs.GET("/:id/files/:file_id", append(auth("vector_stores.files"), s.handleStoreFileGet)...)
	vs.POST("/:id/files/:file_id", append(auth("vector_stores.files"), s.handleStoreFileUpdate)...)
	vs.DELETE("/:id/files/:file_id", append(auth("vector_stores.files"), s.handleStoreFileDelete)...)
	vs.POST("/:id/file_batches", append(auth("vector_stores.file_batches"), s.handleBatchCreate)...)
	vs.GET("/:id/file_batches/:batch_id", append(auth("vector_stores.file_batches"), s.handleBatchGet)...)
	vs.POST("/:id/file_batches/:batch_id/cancel", append(auth("vector_stores.file_batches"), s.handleBatchCancel)...)
	vs.GET("/:id/file_batches/:batch_id/files", append(auth("vector_stores.file_batches"), s.handleBatchFiles)...)
	vs.POST("/:id/search", append(auth("vector_stores.search"), s.handleStoreSearch)...)
}

// mayUseStore reports whether the caller may use the vector store, by
// name or by id.
func mayUseStore(st *reqState, vs *service.VectorStore) bool {
	az := st.rt.access.authz
	return az.Authorize(st.principal, policies.ActionUseCollection, vs.Name) == nil ||
		az.Authorize(st.principal, policies.ActionUseCollection, vs.ID) == nil
}

// storeFor returns the vector store of the path's :id when the caller may
// use it. Stores the caller may not use do not exist for it.
func (s *Server) storeFor(c *gin.Context) (*service.VectorStore, bool) {
	st := stateOf(c)
	vs, err := s.ingest.svc.GetStore(c.Request.Context(), st.principal.Tenant, c.Param("id"))
	if err == nil && !mayUseStore(st, vs) {
		err = fmt.Errorf("vector store %s: %w", vs.ID, retrieval.ErrNotFound)
	}
	if err != nil {
		s.fail(c, err)
		return nil, false
	}
	return vs, true
}

// listParams reads OpenAI's pagination query parameters.
func listParams(c *gin.Context) (service.ListParams, error) {
	p := service.ListParams{Order: c.Query("order"), After: c.Query("after"), Before: c.Query("before"),
		Filter: service.Status(c.Query("filter")), Purpose: c.Query("purpose")}
	if l := c.Query("limit"); l != "" {
		n, err := parseLimit(l)
		if err != nil {
			return p, err
		}
		p.Limit = n
	}
	return p, nil
}

func parseLimit(v string) (int, error) {
	n := 0
	if len(v) > 4 {
		return 0, invalid("limit", "limit must be between 1 and %d", service.MaxPageLimit)
	}
	for _, r := range v {
		if r < '0' || r > '9' {
			return 0, invalid("limit", "limit must be an integer")
		}
		n = n*10 + int(r-'0')
	}
	if n < 1 {
		return 0, invalid("limit", "limit must be between 1 and %d", service.MaxPageLimit)
	}
	return n, nil
}

// tenantOf is the caller's tenant.
func tenantOf(c *gin.Context) string { return stateOf(c).principal.Tenant }
