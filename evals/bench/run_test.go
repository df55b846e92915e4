package bench

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestRunInProcess runs a small benchmark end to end against an in-process
// gateway and checks the report is whole and consistent.
func TestRunInProcess(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var progressOut bytes.Buffer
	r := smallRunner(&progressOut)
	// The shared row only when a Redis is at hand; it is a figure, not an
	// assertion.
	r.RedisAddr = os.Getenv("RAGWAY_TEST_REDIS_ADDR")
	rep, err := r.Run(ctx)
	require.NoError(t, err)

	for _, s := range []Side{rep.Direct, rep.Gateway} {
		require.Equal(t, 60, s.Latency.N)
		require.Positive(t, s.Latency.P50)
		require.LessOrEqual(t, s.Latency.P50, s.Latency.P99)
		require.Positive(t, s.RPS)
		require.Zero(t, s.Errors)
		require.Equal(t, 20, s.TTFT.N)
		require.Equal(t, 1, s.TTFTFirst.N)
		require.Equal(t, 21, s.Frames.Streams, "20 and the one that opens the turn")
	}
	// role, three content chunks, finish, usage, [DONE].
	require.Equal(t, 7, rep.FramesPerStream)
	require.Equal(t, 147, rep.FramesSent)
	require.Equal(t, 147, rep.Direct.Frames.Payloads)
	require.Zero(t, rep.FramesLost)
	require.Zero(t, rep.Gateway.Frames.Merged)
	require.True(t, rep.Targets[3].Pass, rep.Targets[3].Measured)
	require.Equal(t, 60, rep.Overhead.N, "every gateway response carries %s", HeaderOverhead)
	require.Positive(t, rep.PeakRSS)
	require.Len(t, rep.Targets, 6)

	a := rep.AuthLimits
	require.NotNil(t, a)
	require.Equal(t, 60, a.Requests)
	for _, row := range []AuthRow{a.Off, a.Embedded} {
		require.Equal(t, 60, row.Latency.N, row.Name)
		require.Equal(t, 60, row.Own.N, row.Name+": every response has the overhead header")
		require.Len(t, row.OwnP99Turns, 1, row.Name+": one turn of 60")
		require.Equal(t, row.Own.P99, row.OwnP99Turns[0], row.Name+": one turn's p99 is the whole run's")
		require.Len(t, row.FaultsTurns, 1, row.Name+": faults counted for the one turn")
		require.GreaterOrEqual(t, row.FaultsTurns[0], int64(0), row.Name)
		require.Zero(t, row.Errors, row.Name)
	}
	require.Equal(t, a.Embedded.AddedOwnP99, a.Embedded.PairedOwnP99, "with one round, paired is pooled")
	require.Equal(t, a.Embedded.Latency.P99-a.Off.Latency.P99, a.Embedded.AddedP99)
	require.Equal(t, a.Embedded.Own.P99-a.Off.Own.P99, a.Embedded.AddedOwnP99)
	require.Equal(t, a.EmbeddedPass, rep.Targets[5].Pass)
	if r.RedisAddr == "" {
		require.Nil(t, a.Shared)
		require.Equal(t, NoRedis, a.SharedSkipped)
	} else {
		require.NotNil(t, a.Shared)
		require.Equal(t, 60, a.Shared.Latency.N)
		require.Zero(t, a.Shared.Errors)
		require.Equal(t, 60, a.RedisPing.N)
		require.Positive(t, a.RedisPing.P50)
		require.InDelta(t, 1.0, a.SharedStore.PerRequest, 1e-9, "one Redis call per request on the request path")
		require.Positive(t, a.SharedStore.Mean)
		require.Positive(t, a.SharedStore.P50)
	}

	require.Contains(t, progressOut.String(), "bench: latency c=1, direct and gateway in turns...")
	require.Contains(t, progressOut.String(), "bench: streams, direct and gateway in turns: 42 done")
	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	require.Contains(t, table.String(), "unpinned (test)")
	require.Contains(t, table.String(), "auth and limits at c=1: 60 requests per gateway")
	require.Contains(t, table.String(), authEmbeddedName)
	t.Log(table.String())
}

func TestRunOptionsInvalid(t *testing.T) {
	r := Runner{Options: Options{Requests: -5}, Launcher: InProcess{}}
	_, err := r.Run(context.Background())
	require.ErrorContains(t, err, "requests must be")
}

func TestRunCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := Runner{Options: Options{Requests: 10, Warmup: 1, Duration: time.Second, Concurrency: 2, Streams: 2, Chunks: 1},
		Launcher: InProcess{}}
	_, err := r.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
}

func TestRunRedisUnreachable(t *testing.T) {
	addr, err := freeAddr()
	require.NoError(t, err)
	r := Runner{Options: Options{Requests: 10, Warmup: 1, Duration: 50 * time.Millisecond, Concurrency: 2, Streams: 2, Chunks: 1},
		Launcher: InProcess{}, RedisAddr: addr}
	_, err = r.Run(context.Background())
	require.ErrorContains(t, err, "redis "+addr+": ping")
}

// goProxy is a reference proxy in process: httputil's reverse proxy,
// flushing every write, in front of the upstream.
type goProxy struct{}

func (goProxy) Name() string { return "goproxy" }

func (goProxy) Start(_ context.Context, upstreamURL string) (Proxy, error) {
	u, err := url.Parse(upstreamURL)
	if err != nil {
		return nil, err
	}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	rp.FlushInterval = -1
	srv := httptest.NewServer(rp)
	return &goProxyServer{srv: srv}, nil
}

type goProxyServer struct{ srv *httptest.Server }

func (g *goProxyServer) URL() string      { return g.srv.URL }
func (g *goProxyServer) Describe() string { return "in process" }
func (g *goProxyServer) Close() error {
	g.srv.Close()
	return nil
}

// failingReference fails to start.
type failingReference struct{}

func (failingReference) Name() string { return "broken" }

func (failingReference) Start(context.Context, string) (Proxy, error) {
	return nil, errors.New("no such proxy")
}

// TestRunWithReference runs the main phases on three paths, the third a
// reference proxy in process, and checks each side is whole.
func TestRunWithReference(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var progressOut bytes.Buffer
	r := smallRunner(&progressOut)
	r.Reference = goProxy{}
	rep, err := r.Run(ctx)
	require.NoError(t, err)
	for _, s := range []Side{rep.Direct, rep.Gateway} {
		require.Equal(t, 60, s.Latency.N)
		require.Equal(t, 20, s.TTFT.N)
		require.Zero(t, s.Errors)
	}
	requireReferenceSide(t, rep, "goproxy")
	require.Equal(t, "in process", rep.ReferenceProcess)
	require.Equal(t, 60, rep.Overhead.N, "the overhead header is the gateway's alone")
	require.Equal(t, 147, rep.FramesSent)
	out := progressOut.String()
	for _, want := range []string{
		"bench: starting goproxy...",
		"bench: warm-up: 60 done", // three paths of 10 requests and 10 streams
		"bench: latency c=1, direct, gateway and goproxy in turns: 180 done",
		"bench: throughput c=4, direct, gateway and goproxy in turns...",
		"bench: streams, direct, gateway and goproxy in turns: 63 done",
		"bench: auth and limits c=1, gateways in turns",
	} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out[strings.Index(out, "auth and limits"):], "goproxy", "the reference is not in the auth phase")
}

func TestRunReferenceFails(t *testing.T) {
	r := Runner{Options: Options{Requests: 10, Warmup: 1, Duration: 50 * time.Millisecond, Concurrency: 2, Streams: 2, Chunks: 1},
		Launcher: InProcess{}, Reference: failingReference{}}
	_, err := r.Run(context.Background())
	require.ErrorContains(t, err, "reference broken: no such proxy")
}

func TestPathsTurns(t *testing.T) {
	tests := []struct {
		names []string
		want  string
	}{
		{[]string{"direct"}, "direct alone"},
		{[]string{"direct", "gateway"}, "direct and gateway in turns"},
		{[]string{"direct", "gateway", "nginx"}, "direct, gateway and nginx in turns"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			var ps paths
			for _, n := range tt.names {
				ps = append(ps, &endpoint{name: n})
			}
			require.Equal(t, tt.want, ps.turns())
		})
	}
}

// smallRunner is a Runner for a quick whole run against an in-process
// gateway, its progress written to progress.
func smallRunner(progress *bytes.Buffer) Runner {
	return Runner{
		Options:  Options{Requests: 60, Warmup: 10, Duration: 200 * time.Millisecond, Concurrency: 4, Streams: 20, Chunks: 3},
		Launcher: InProcess{},
		Pinning:  Pinning{Reason: "test"},
		Progress: progress,
	}
}
