package gateway

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/ragway/ragway/gateway/config"
)

// WatchConfig reloads the configuration at path on SIGHUP and whenever the
// file changes, until ctx is done. A file that does not load or validate is
// rejected, logged with every problem, and the running configuration stays.
func (s *Server) WatchConfig(ctx context.Context, path string, getenv func(string) string) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	var events <-chan fsnotify.Event
	w, err := fsnotify.NewWatcher()
	if err == nil {
		// Watch the directory: editors and Kubernetes ConfigMaps replace the
		// file rather than write it in place.
		if err = w.Add(filepath.Dir(path)); err == nil {
			events = w.Events
		}
	}
	if err != nil {
		s.log.Warn("config file watching disabled; reload with SIGHUP", "error", err)
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer signal.Stop(hup)
		if w != nil {
			defer w.Close()
		}
		defer s.recoverBackground("config watch")
		var debounce <-chan time.Time
		name := filepath.Clean(path)
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.bgCtx.Done():
				return
			case <-hup:
				s.reloadFile(ctx, path, getenv, "signal")
			case ev, ok := <-events:
				if !ok {
					events = nil
					continue
				}
				if filepath.Clean(ev.Name) == name && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
					debounce = time.After(200 * time.Millisecond)
				}
			case <-debounce:
				debounce = nil
				s.reloadFile(ctx, path, getenv, "file change")
			}
		}
	}()
}

func (s *Server) reloadFile(ctx context.Context, path string, getenv func(string) string, why string) {
	cfg, err := config.Load(path, getenv)
	if err == nil {
		err = s.Reload(ctx, cfg)
	} else {
		s.metrics.reloads.WithLabelValues("rejected").Inc()
	}
	if err != nil {
		s.log.Error("configuration rejected; the previous one keeps serving", "trigger", why, "error", err)
		return
	}
	s.log.Info("configuration reload applied", "trigger", why)
}
