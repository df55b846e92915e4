package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/gateway"
	"github.com/ragway/ragway/gateway/config"
)

// startGateway serves the embedded defaults (built-in backend only) on a
// loopback port until the test ends.
func startGateway(t *testing.T) string {
	t.Helper()
	cfg, err := config.Default(func(string) string { return "" })
	require.NoError(t, err)
	cfg.DataDir = t.TempDir()
	cfg.Backends = cfg.Backends[1:] // no Ollama probing
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := gateway.New(ctx, cfg, gateway.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return "http://" + l.Addr().String()
}

func TestIngestReportsEveryFile(t *testing.T) {
	url := startGateway(t)
	dir := t.TempDir()
	write := func(name string, data []byte) {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o750))
		require.NoError(t, os.WriteFile(p, data, 0o600))
	}
	write("guide.md", []byte("# Install\n\nThe gateway listens on port 8080.\n"))
	write("sub/paris.txt", []byte("Paris is the capital of France.\n"))
	write("empty.txt", nil)
	write(".hidden/skip.txt", []byte("never uploaded"))
	var out, errOut bytes.Buffer
	err := Main(context.Background(), []string{"ingest", dir, "--collection", "manual", "--server", url, "--quiet"},
		&out, &errOut, func(string) string { return "" })
	require.Error(t, err, "one file fails, so the command fails")
	text := out.String()
	require.Contains(t, text, "completed  "+filepath.Join(dir, "guide.md"))
	require.Contains(t, text, "completed  "+filepath.Join(dir, "sub/paris.txt"))
	require.Contains(t, text, "failed     "+filepath.Join(dir, "empty.txt")+": file is empty")
	require.NotContains(t, text, "skip.txt")
	require.Contains(t, text, "3 files: 2 completed, 1 not")

	// Ingesting the good files again into the same collection succeeds.
	require.NoError(t, os.Remove(filepath.Join(dir, "empty.txt")))
	out.Reset()
	require.NoError(t, Main(context.Background(), []string{"ingest", "--collection", "manual", "--server", url, "--quiet", dir},
		&out, &errOut, func(string) string { return "" }))
	require.True(t, strings.HasSuffix(strings.TrimSpace(out.String()), "2 files: 2 completed, 0 not"), out.String())
}
