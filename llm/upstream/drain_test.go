package upstream

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStreamContext(t *testing.T) {
	parent, cancelParent := context.WithCancel(context.Background())
	ctx, cancel, detach := StreamContext(parent)
	defer cancel()
	cancelParent()
	require.Eventually(t, func() bool { return ctx.Err() != nil }, time.Second, time.Millisecond, "the caller's cancel reaches the request")
	require.False(t, detach(), "too late to detach")

	parent, cancelParent = context.WithCancel(context.Background())
	ctx, cancel, detach = StreamContext(parent)
	require.True(t, detach())
	cancelParent()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, ctx.Err(), "detached: the caller leaving no longer cancels it")
	cancel()
	require.Error(t, ctx.Err())
}

// streamServer sends one event, then ends the response after end (or
// never, when end is zero), and counts its connections.
func streamServer(t *testing.T, end time.Duration) (*httptest.Server, *atomic.Int64, *atomic.Int64) {
	t.Helper()
	var conns, gone atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
		w.(http.Flusher).Flush()
		wait := time.Hour
		if end > 0 {
			wait = end
		}
		select {
		case <-time.After(wait):
		case <-r.Context().Done():
			gone.Add(1)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns, &gone
}

// stream sends a request and reads its one event, leaving the body open.
func stream(t *testing.T, c *Client, url string) (*http.Response, context.CancelFunc, func() bool) {
	t.Helper()
	caller, leave := context.WithCancel(context.Background())
	ctx, cancel, detach := StreamContext(caller)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := c.HTTP.Do(req)
	require.NoError(t, err)
	buf := make([]byte, len("data: [DONE]\n\n"))
	_, err = io.ReadFull(resp.Body, buf)
	require.NoError(t, err)
	ok := detach()
	leave() // the caller returns at once, as the gateway's handler does
	require.True(t, ok)
	return resp, cancel, detach
}

func TestDrainKeepsTheConnection(t *testing.T) {
	srv, conns, gone := streamServer(t, 5*time.Millisecond)
	c, err := NewClient(Options{BaseURL: srv.URL})
	require.NoError(t, err)
	defer c.Close()
	for range 5 {
		resp, cancel, _ := stream(t, c, srv.URL)
		Drain(resp.Body, cancel)
		time.Sleep(30 * time.Millisecond)
	}
	require.EqualValues(t, 1, conns.Load(), "the terminator was read after the caller left, and the connection reused")
	require.Zero(t, gone.Load())
}

func TestDrainGivesUpAfterDrainWait(t *testing.T) {
	srv, conns, gone := streamServer(t, 0)
	c, err := NewClient(Options{BaseURL: srv.URL})
	require.NoError(t, err)
	defer c.Close()
	for i := range 2 {
		resp, cancel, _ := stream(t, c, srv.URL)
		Drain(resp.Body, cancel)
		require.Eventually(t, func() bool { return gone.Load() == int64(i+1) }, 2*time.Second, time.Millisecond,
			"after DrainWait the request is cancelled")
	}
	require.EqualValues(t, 2, conns.Load(), "a body that never ends loses its connection")
}

// chunks returns data in reads of at most n bytes.
type chunks struct {
	data []byte
	n    int
}

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), c.n, len(c.data))
	copy(p, c.data[:k])
	c.data = c.data[k:]
	return k, nil
}

func TestReadAll(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 1000)
	for _, c := range []struct {
		name string
		hint int64
	}{
		{"unknown length", -1},
		{"exact length", int64(len(data))},
		{"length too small", 100},
		{"length too large", 1 << 40},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ReadAll(&chunks{data: data, n: 333}, c.hint)
			require.NoError(t, err)
			require.Equal(t, data, got)
		})
	}
	t.Run("one allocation for a known length", func(t *testing.T) {
		allocs := testing.AllocsPerRun(20, func() {
			_, _ = ReadAll(&chunks{data: data, n: 4096}, int64(len(data)))
		})
		assert.LessOrEqual(t, allocs, 2.0) // the buffer (and the reader's escape)
	})
	t.Run("a false length reserves at most 32 KiB", func(t *testing.T) {
		got, err := ReadAll(&chunks{}, 1<<40)
		require.NoError(t, err)
		assert.Empty(t, got)
		assert.LessOrEqual(t, cap(got), maxPrealloc+1)
	})
	t.Run("errors pass through", func(t *testing.T) {
		_, err := ReadAll(iotest.ErrReader(io.ErrUnexpectedEOF), 10)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	})
}

func TestRequestHeader(t *testing.T) {
	c, err := NewClient(Options{BaseURL: "http://127.0.0.1:1/v1", APIKey: "sk-test", Headers: map[string]string{"X-Team": "search"}})
	require.NoError(t, err)
	h := c.RequestHeader(context.Background(), "text/event-stream", true)
	assert.Equal(t, "Bearer sk-test", h.Get("Authorization"))
	assert.Equal(t, "search", h.Get("X-Team"))
	assert.Equal(t, "application/json", h.Get("Content-Type"))
	assert.Equal(t, "text/event-stream", h.Get("Accept"))
	// Changing one request's header leaves the next one's alone.
	h.Set("Accept", "application/x-ndjson")
	h.Add("Content-Type", "charset=utf-8")
	h.Set("X-Team", "other")
	g := c.RequestHeader(context.Background(), "", false)
	assert.Equal(t, "search", g.Get("X-Team"))
	assert.Empty(t, g.Get("Accept"))
	assert.Empty(t, g.Get("Content-Type"))
	assert.Equal(t, []string{"application/json"}, c.RequestHeader(context.Background(), "application/json", true)["Content-Type"])
	assert.Equal(t, "text/event-stream", c.RequestHeader(context.Background(), "text/event-stream", false).Get("Accept"))
}
