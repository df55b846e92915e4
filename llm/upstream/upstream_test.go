package upstream

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm"
)

func TestWithDefaults(t *testing.T) {
	o, err := Options{BaseURL: "http://h:1/v1/"}.WithDefaults()
	require.NoError(t, err)
	require.Equal(t, "http://h:1/v1", o.BaseURL)
	require.Equal(t, 2*time.Second, o.ConnectTimeout)
	require.Equal(t, 256, o.MaxIdleConns)
	for _, bad := range []string{"", "h:1", "ftp://h", "http://"} {
		_, err := Options{BaseURL: bad}.WithDefaults()
		require.Error(t, err, bad)
	}
}

func TestHeader(t *testing.T) {
	h := Options{APIKey: "sk-1", Headers: map[string]string{"x-team": "a"}}.Header()
	require.Equal(t, "Bearer sk-1", h.Get("Authorization"))
	require.Equal(t, "a", h.Get("X-Team"))
	h = Options{APIKey: "sk-1", Headers: map[string]string{"Authorization": "Basic x"}}.Header()
	require.Equal(t, "Basic x", h.Get("Authorization"), "an explicit header wins")
}

func TestTransportError(t *testing.T) {
	ctx := context.Background()
	dial := &net.OpError{Op: "dial", Err: errors.New("refused")}
	require.ErrorIs(t, TransportError(ctx, dial), llm.ErrUnavailable)
	require.ErrorIs(t, TransportError(ctx, &net.DNSError{IsTimeout: true}), llm.ErrTimeout)
	require.ErrorIs(t, TransportError(ctx, errors.New("reset")), llm.ErrUnavailable)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err := TransportError(cctx, dial)
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, llm.ErrUnavailable)
}

func TestRetryAfterAndClip(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.Equal(t, 2*time.Second, RetryAfter(" 2 ", now))
	require.Equal(t, 1500*time.Millisecond, RetryAfter("1.5", now))
	require.Equal(t, time.Minute, RetryAfter(now.Add(time.Minute).Format(http.TimeFormat), now))
	for _, bad := range []string{"", "-1", "0", "soon", "99999999", now.Add(-time.Minute).Format(http.TimeFormat)} {
		require.Zero(t, RetryAfter(bad, now), bad)
	}
	long := strings.Repeat("é", MaxMessage)
	c := Clip(long)
	require.LessOrEqual(t, len(c), MaxMessage)
	require.True(t, strings.HasPrefix(long, c))
	require.Equal(t, "short", Clip("short"))
}
