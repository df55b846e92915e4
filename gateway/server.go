// Package gateway is Ragway's HTTP edge: the OpenAI-compatible API, traffic
// splitting, SSE relay, error mapping, metrics, traces and access logs, and
// the composition root that wires every capability together.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/ragway/ragway/gateway/config"
	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/policies/keys"
	"github.com/ragway/ragway/policies/tokens"
	"github.com/ragway/ragway/policies/usage"
)

// Server is a running gateway.
type Server struct {
	log     *slog.Logger
	metrics *metrics
	// secrets are the configured credentials, scrubbed from logs and error
	// messages.
	secrets *secrets
	tracer  trace.Tracer
	// shutdownTracing flushes spans on exit.
	shutdownTracing func(context.Context) error

	rt      atomic.Pointer[runtime]
	handler http.Handler
	ready   atomic.Bool

	maxBody           int64
	logPrompts        bool
	allowTargetHeader bool
	readHeaderTimeout time.Duration
	shutdownTimeout   time.Duration
	discoveryInterval time.Duration
	discoveryTimeout  time.Duration

	shadowSem     chan struct{}
	shadowTimeout time.Duration

	// bg owns background work: shadow calls, discovery, delayed closes.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       sync.WaitGroup

	reloadMu sync.Mutex
	// requests counts handlers running, so that Close waits for them even
	// when the drain timed out and connections were closed under them.
	requests sync.WaitGroup

	// API keys and usage live in a database and outlive reloads.
	keyStore keys.Store
	keySvc   *keys.Service
	keyAuth  *keys.Cache
	usage    *usage.Recorder
	tokens   *tokens.Counter

	// role is config.RoleAll, RoleGateway or RoleWorker; ingest is the
	// Files and Vector Stores service.
	role   string
	ingest *ingestStack
}

// Handler returns the HTTP handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.UseRawPath = true
	r.Use(s.recovery)
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", s.handleReady)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})))
	if s.role != config.RoleWorker {
		s.apiRoutes(r)
	}
	r.NoRoute(func(c *gin.Context) {
		s.fail(c, &APIError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "unknown_url",
			Message: fmt.Sprintf("Unknown request URL: %s %s.", c.Request.Method, c.Request.URL.Path)})
	})
	r.NoMethod(func(c *gin.Context) {
		s.fail(c, &APIError{Status: http.StatusMethodNotAllowed, Type: "invalid_request_error", Code: "method_not_allowed",
			Message: fmt.Sprintf("Method %s is not allowed for %s.", c.Request.Method, c.Request.URL.Path)})
	})
	return r
}

// apiRoutes registers the /v1 and /admin APIs.
func (s *Server) apiRoutes(r *gin.Engine) {
	v1 := r.Group("/v1")
	v1.POST("/chat/completions", s.observe("chat.completions"), s.authenticate, s.handleGenerate(llm.ChatCompletions))
	v1.POST("/completions", s.observe("completions"), s.authenticate, s.handleGenerate(llm.Completions))
	v1.POST("/embeddings", s.observe("embeddings"), s.authenticate, s.handleEmbeddings)
	v1.GET("/models", s.observe("models"), s.authenticate, s.handleModels)
	v1.GET("/models/*id", s.observe("models"), s.authenticate, s.handleModel)
	s.ingestRoutes(v1)
	s.adminRoutes(r.Group("/admin", s.observe("admin"), s.authenticate, s.requireAdmin))
}

func (s *Server) handleReady(c *gin.Context) {
	if !s.ready.Load() {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "not ready"})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

// recovery turns a handler panic into a 500 in the OpenAI shape.
func (s *Server) recovery(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.log.Error("handler panicked", "path", c.Request.URL.Path, "panic", r)
			s.fail(c, fmt.Errorf("panic: %v", r))
			c.Abort()
		}
	}()
	c.Next()
}

// Serve serves on l until ctx is done, then stops accepting, lets in-flight
// requests and streams finish within the shutdown timeout, and returns.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.readHeaderTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	s.startDiscovery()
	s.startIngest()
	s.ready.Store(true)
	s.log.Info("serving", "addr", l.Addr().String())
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.ready.Store(false)
	s.log.Info("shutting down", "timeout", s.shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		s.log.Warn("shutdown timeout reached; closing remaining connections", "error", err)
		_ = srv.Close()
		// Closed connections cancel their requests; wait for the handlers
		// to return before the stores and limiters they use are closed.
		done := make(chan struct{})
		go func() { s.requests.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			s.log.Error("handlers still running 5s after their connections closed")
		}
	}
	s.Close()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	return nil
}

// Close stops background work and releases backends.
func (s *Server) Close() {
	s.bgCancel()
	s.bg.Wait()
	s.closeIngest()
	if rt := s.rt.Load(); rt != nil {
		rt.close()
	}
	if s.usage != nil {
		if err := s.usage.Close(); err != nil {
			s.log.Error("usage flush on close failed", "error", err)
		}
	}
	if s.keyStore != nil {
		_ = s.keyStore.Close()
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.shutdownTracing(sctx)
}

// startDiscovery refreshes the models of discover: true backends on an
// interval, until Close.
func (s *Server) startDiscovery() {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer s.recoverBackground("discovery")
		t := time.NewTicker(s.discoveryInterval)
		defer t.Stop()
		for {
			select {
			case <-s.bgCtx.Done():
				return
			case <-t.C:
				s.rt.Load().discover(s.bgCtx, s.discoveryTimeout, s.log)
			}
		}
	}()
}
