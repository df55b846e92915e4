package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/ragway/ragway/gateway/config"
	"github.com/ragway/ragway/policies/keys"
	"github.com/ragway/ragway/policies/keys/stores"
	"github.com/ragway/ragway/policies/limits"
	"github.com/ragway/ragway/policies/tokens"
	"github.com/ragway/ragway/policies/usage"
)

// Options are what New needs beyond the configuration.
type Options struct {
	// Logger receives structured logs; nil logs JSON to stderr.
	Logger *slog.Logger
	// Role, when set, overrides server.role (ragway serve --role).
	Role string
}

// New wires a gateway from a validated configuration. It is the composition
// root: the one place that knows every implementation.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Server, error) {
	role := cfg.Server.Role
	if opts.Role != "" {
		role = opts.Role
	}
	if role != config.RoleAll && role != config.RoleGateway && role != config.RoleWorker {
		return nil, fmt.Errorf("role must be all, gateway or worker, not %q", role)
	}
	log := opts.Logger
	if log == nil {
		log = NewLogger(os.Stderr, cfg.Log)
	}
	sec := &secrets{}
	sec.add(cfg)
	log = slog.New(redactHandler{next: log.Handler(), secrets: sec})
	tp, shutdownTracing, err := newTracerProvider(ctx, cfg.Telemetry)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	s := &Server{
		log:               log,
		secrets:           sec,
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
		tokens:            &tokens.Counter{},
		role:              role,
	}
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	if err := s.openStores(ctx, cfg); err != nil {
		s.bgCancel()
		return nil, err
	}
	if s.ingest, err = openIngest(ctx, cfg, log); err != nil {
		s.Close()
		return nil, err
	}
	rt, err := openRuntime(cfg, observer{s.metrics}, nil, s.limitOptions())
	if err != nil {
		s.Close()
		return nil, err
	}
	rt.discover(ctx, cfg.Discovery.Timeout, log)
	s.rt.Store(rt)
	s.handler = s.routes()
	return s, nil
}

// openStores opens the databases that outlive reloads: API keys and usage,
// in the data dir (SQLite) or in PostgreSQL when keys are stored there.
func (s *Server) openStores(ctx context.Context, cfg *config.Config) error {
	store, err := stores.Open(ctx, cfg.Auth.Keys, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("open key store: %w", err)
	}
	s.keyStore = store
	s.keySvc = keys.NewService(store, cfg.Auth.Keys.ServiceOptions())
	s.keyAuth = keys.NewCache(s.keySvc, cfg.Auth.Keys.CacheOptions())
	driver, dsn := "sqlite", filepath.Join(cfg.DataDir, "usage.db")
	if cfg.Auth.Keys.Store == keys.StorePostgres {
		driver, dsn = "pgx", cfg.Auth.Keys.Postgres.DSN.Reveal()
	}
	s.usage, err = usage.Open(ctx, driver, dsn, cfg.Usage.FlushInterval, s.log)
	if err != nil {
		return fmt.Errorf("open usage store: %w", err)
	}
	return nil
}

func (s *Server) limitOptions() limits.Options {
	return limits.Options{Logger: s.log, OnStoreError: func(op string, _ error) {
		s.metrics.limitStoreErrs.WithLabelValues(op).Inc()
	}, OnStoreCall: func(op string, d time.Duration) {
		s.metrics.limitStoreCalls.WithLabelValues(op).Observe(d.Seconds())
	}}
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
	s.secrets.add(cfg)
	rt, err := openRuntime(cfg, observer{s.metrics}, s.rt.Load(), s.limitOptions())
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
