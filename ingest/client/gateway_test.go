package client_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/gateway"
	"github.com/ragway/ragway/gateway/config"
	"github.com/ragway/ragway/ingest/client"
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

// countingTransport counts the requests whose path has a prefix.
type countingTransport struct {
	prefix string
	n      atomic.Int64
}

func (ct *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.URL.Path, ct.prefix) {
		ct.n.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func newClient(t *testing.T, url string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(url, opts...)
	require.NoError(t, err)
	return c
}

// opener serves content and counts how often it was opened.
func opener(content string, opened *atomic.Int64) client.Opener {
	return func() (io.ReadCloser, error) {
		opened.Add(1)
		return io.NopCloser(strings.NewReader(content)), nil
	}
}

// waitStatus polls a vector store file until it leaves in_progress.
func waitStatus(t *testing.T, c *client.Client, storeID, fileID string) *client.VectorStoreFile {
	t.Helper()
	var last *client.VectorStoreFile
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		f, err := c.GetFile(context.Background(), storeID, fileID)
		require.NoError(ct, err)
		last = f
		require.NotEqual(ct, client.StatusInProgress, f.Status)
	}, 30*time.Second, 20*time.Millisecond)
	return last
}

func TestUploadAddAndIndex(t *testing.T) {
	c := newClient(t, startGateway(t))
	ctx := context.Background()
	var opened atomic.Int64
	const content = "# Install\n\nThe gateway listens on port 8080.\n"
	f, err := c.UploadFile(ctx, "guide.md", opener(content, &opened))
	require.NoError(t, err)
	require.Equal(t, int64(1), opened.Load())
	require.NotEmpty(t, f.ID)
	require.Equal(t, "file", f.Object)
	require.Equal(t, "guide.md", f.Filename)
	require.Equal(t, client.PurposeAssistants, f.Purpose)
	require.Equal(t, int64(len(content)), f.Bytes)

	vs, err := c.CreateVectorStore(ctx, "manual")
	require.NoError(t, err)
	require.NotEmpty(t, vs.ID)
	require.Equal(t, "manual", vs.Name)

	vf, err := c.AddFile(ctx, vs.ID, client.AddFileParams{
		FileID:           f.ID,
		Attributes:       map[string]string{"path": "docs/guide.md", "lang": "en"},
		ChunkingStrategy: client.StaticStrategy(200, 20),
	})
	require.NoError(t, err)
	require.Equal(t, f.ID, vf.ID)
	require.Equal(t, vs.ID, vf.VectorStoreID)
	require.Equal(t, map[string]any{"path": "docs/guide.md", "lang": "en"}, vf.Attributes)
	require.Equal(t, client.StaticStrategy(200, 20), vf.ChunkingStrategy)

	done := waitStatus(t, c, vs.ID, f.ID)
	require.Equal(t, client.StatusCompleted, done.Status, done.ErrorMessage())
	require.Empty(t, done.ErrorMessage())
	require.Equal(t, map[string]any{"path": "docs/guide.md", "lang": "en"}, done.Attributes)
}

func TestEmptyFileFailsWithLastError(t *testing.T) {
	c := newClient(t, startGateway(t))
	ctx := context.Background()
	var opened atomic.Int64
	vs, err := c.CreateVectorStore(ctx, "empty")
	require.NoError(t, err)
	f, err := c.UploadFile(ctx, "empty.txt", opener("", &opened))
	require.NoError(t, err)
	vf, err := c.AddFile(ctx, vs.ID, client.AddFileParams{FileID: f.ID})
	require.NoError(t, err)
	if vf.Status == client.StatusInProgress {
		vf = waitStatus(t, c, vs.ID, f.ID)
	}
	require.Equal(t, client.StatusFailed, vf.Status)
	require.NotNil(t, vf.LastError)
	require.Equal(t, "file is empty", vf.LastError.Message)
	require.NotEmpty(t, vf.LastError.Code)
}

func TestListVectorStoresPages(t *testing.T) {
	url := startGateway(t)
	ct := &countingTransport{prefix: "/v1/vector_stores"}
	c := newClient(t, url, client.WithHTTPClient(&http.Client{Transport: ct}))
	ctx := context.Background()
	const n = client.MaxPageLimit + 5
	want := map[string]string{}
	for i := range n {
		vs, err := c.CreateVectorStore(ctx, fmt.Sprintf("store-%03d", i))
		require.NoError(t, err)
		want[vs.ID] = vs.Name
	}
	require.Len(t, want, n, "every store has its own id")

	first, err := c.ListVectorStores(ctx, client.ListParams{Limit: client.MaxPageLimit})
	require.NoError(t, err)
	require.Len(t, first.Data, client.MaxPageLimit)
	require.True(t, first.HasMore)
	require.NotNil(t, first.LastID)
	require.Equal(t, first.Data[len(first.Data)-1].ID, *first.LastID)
	second, err := c.ListVectorStores(ctx, client.ListParams{Limit: client.MaxPageLimit, After: *first.LastID})
	require.NoError(t, err)
	require.Len(t, second.Data, n-client.MaxPageLimit)
	require.False(t, second.HasMore)

	ct.n.Store(0)
	got := map[string]string{}
	for vs, err := range c.VectorStores(ctx) {
		require.NoError(t, err)
		_, dup := got[vs.ID]
		require.False(t, dup, "store %s listed twice", vs.ID)
		got[vs.ID] = vs.Name
	}
	require.Equal(t, want, got)
	require.Equal(t, int64(2), ct.n.Load(), "two pages of %d", client.MaxPageLimit)

	// Stopping early reads no further page.
	ct.n.Store(0)
	for range c.VectorStores(ctx) {
		break
	}
	require.Equal(t, int64(1), ct.n.Load())
}

func TestGatewayErrors(t *testing.T) {
	url := startGateway(t)
	ct := &countingTransport{prefix: "/v1/"}
	c := newClient(t, url, client.WithHTTPClient(&http.Client{Transport: ct}))
	ctx := context.Background()
	vs, err := c.CreateVectorStore(ctx, "errors")
	require.NoError(t, err)
	var opened atomic.Int64
	f, err := c.UploadFile(ctx, "a.txt", opener("some text", &opened))
	require.NoError(t, err)

	tests := []struct {
		name   string
		call   func() error
		status int
		code   string
		param  string
	}{
		{"unknown store", func() error {
			_, err := c.GetFile(ctx, "vs_does_not_exist", f.ID)
			return err
		}, http.StatusNotFound, "not_found", ""},
		{"unknown store on add", func() error {
			_, err := c.AddFile(ctx, "vs_does_not_exist", client.AddFileParams{FileID: f.ID})
			return err
		}, http.StatusNotFound, "not_found", ""},
		{"file not in store", func() error {
			_, err := c.GetFile(ctx, vs.ID, f.ID)
			return err
		}, http.StatusNotFound, "not_found", ""},
		{"overlap larger than chunks", func() error {
			_, err := c.AddFile(ctx, vs.ID, client.AddFileParams{FileID: f.ID, ChunkingStrategy: client.StaticStrategy(100, 400)})
			return err
		}, http.StatusBadRequest, "", "chunking_strategy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct.n.Store(0)
			err := tt.call()
			var ae *client.APIError
			require.ErrorAs(t, err, &ae)
			require.Equal(t, tt.status, ae.Status)
			require.Equal(t, "invalid_request_error", ae.Type)
			require.NotEmpty(t, ae.Message)
			require.Empty(t, ae.Body, "an OpenAI error body is parsed, not quoted")
			if tt.code != "" {
				require.Equal(t, tt.code, ae.Code)
			}
			if tt.param != "" {
				require.True(t, strings.HasPrefix(ae.Param, tt.param), ae.Param)
			}
			require.Contains(t, err.Error(), fmt.Sprintf("HTTP %d: %s", tt.status, ae.Message))
			require.Equal(t, int64(1), ct.n.Load(), "a 4xx is not retried")
		})
	}
}
