package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/ragway/ragway/gateway"
	"github.com/ragway/ragway/gateway/config"
)

// InProcess launches the gateway inside this process, for Go benchmarks
// and tests. Its peak RSS is that of the whole process.
type InProcess struct{}

var _ Launcher = InProcess{}

// Launch implements Launcher. A CPU profile is not supported in process.
func (InProcess) Launch(ctx context.Context, s Setup) (Gateway, error) {
	if s.CPUProfile != "" {
		return nil, errors.New("cpu profile: not supported for an in-process gateway")
	}
	dir, err := os.MkdirTemp("", "ragway-bench-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("listen: %w", err)
	}
	yml := s.config(l.Addr().String(), dir)
	key, err := prepareKey(ctx, s, yml)
	if err != nil {
		_ = l.Close()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	cfg, err := config.Parse(yml, noEnv)
	if err != nil {
		_ = l.Close()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	srv, err := gateway.New(sctx, cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		cancel()
		_ = l.Close()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("new gateway: %w", err)
	}
	g := &inProcess{url: "http://" + l.Addr().String(), key: key, dir: dir, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(g.done)
		g.err = srv.Serve(sctx, l)
	}()
	if err := waitReady(ctx, g.url, 10*time.Second, g.done); err != nil {
		_ = g.Close()
		return nil, fmt.Errorf("gateway not ready: %w", err)
	}
	return g, nil
}

type inProcess struct {
	url    string
	key    string
	dir    string
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func (g *inProcess) URL() string { return g.url }

func (g *inProcess) APIKey() string { return g.key }

func (g *inProcess) PeakRSS() (int64, error) { return peakRSS(0) }

func (g *inProcess) MinorFaults() (int64, error) { return minorFaults(0) }

func (g *inProcess) Describe() string { return "in process (RSS is the whole process)" }

func (g *inProcess) Close() error {
	g.cancel()
	<-g.done
	_ = os.RemoveAll(g.dir)
	if g.err != nil {
		return fmt.Errorf("serve: %w", g.err)
	}
	return nil
}
