package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/ragway/ragway/gateway/config"
)

// Options are what New needs beyond the configuration.
type Options struct {
	// Logger receives structured logs; nil logs JSON to stderr.
	Logger *slog.Logger
}

// New wires a gateway from a validated configuration. It is the composition
// root: the one place that knows every implementation.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Server, error) {
	log := opts.Logger
	if log == nil {
		log = NewLogger(os.Stderr, cfg.Log)
	}
	tp, shutdownTracing, err := newTracerProvider(ctx, cfg.Telemetry)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	s := &Server{
		log:               log,
		metrics:           newMetrics(),
		tracer:            tp.Tracer("github.com/ragway/ragway/gateway"),
		shutdownTracing:   shutdownTracing,
		maxBody:           cfg.Server.MaxBodyBytes,
		logPrompts:        cfg.Log.Prompts,
		allowTargetHeader: cfg.Server.AllowTargetHeader,
		readHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		shutdownTimeout:   cfg.Server.ShutdownTimeout,
		discoveryInterval: cfg.Discovery.Interval,
		discoveryTimeout:  cfg.Discovery.Timeout,
		shadowSem:         make(chan struct{}, max(cfg.Server.ShadowConcurrency, 1)),
		shadowTimeout:     cfg.Server.ShadowTimeout,
	}
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	rt, err := openRuntime(cfg, observer{s.metrics})
	if err != nil {
		s.bgCancel()
		return nil, err
	}
	rt.discover(ctx, cfg.Discovery.Timeout, log)
	s.rt.Store(rt)
	s.handler = s.routes()
	return s, nil
}

// NewLogger returns the slog logger the configuration asks for.
func NewLogger(w io.Writer, cfg config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	hopts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "text" {
		return slog.New(slog.NewTextHandler(w, hopts))
	}
	return slog.New(slog.NewJSONHandler(w, hopts))
}

// Reload swaps in a new configuration. Requests in flight finish on the old
// backends, which are closed once the shutdown timeout has passed. Server,
// log and telemetry settings need a restart.
func (s *Server) Reload(ctx context.Context, cfg *config.Config) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	rt, err := openRuntime(cfg, observer{s.metrics})
	if err != nil {
		s.metrics.reloads.WithLabelValues("rejected").Inc()
		return fmt.Errorf("reload: %w", err)
	}
	rt.discover(ctx, cfg.Discovery.Timeout, s.log)
	old := s.rt.Swap(rt)
	s.metrics.reloads.WithLabelValues("ok").Inc()
	if old.cfg.Server != cfg.Server || old.cfg.Log != cfg.Log || old.cfg.Telemetry != cfg.Telemetry {
		s.log.Warn("server, log and telemetry changes take effect after a restart")
	}
	s.log.Info("configuration reloaded", "routes", len(cfg.Routes), "backends", len(cfg.Backends))
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		select {
		case <-time.After(s.shutdownTimeout):
		case <-s.bgCtx.Done():
		}
		old.close()
	}()
	return nil
}
