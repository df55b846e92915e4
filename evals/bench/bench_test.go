package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm/llmtest"
	"github.com/ragway/ragway/policies/limits"
)

// BenchmarkGatewayChat sends the bench's chat request straight to the fake
// upstream and through an in-process gateway, one at a time; the difference
// in ns/op is what the gateway adds (on shared CPUs: ragway bench pins
// them apart).
func BenchmarkGatewayChat(b *testing.B) {
	ctx := context.Background()
	up, err := llmtest.Start("127.0.0.1:0", llmtest.WithChunks(10), llmtest.WithRecordLimit(0))
	require.NoError(b, err)
	defer up.Close()
	gw, err := InProcess{}.Launch(ctx, Setup{UpstreamURL: up.OpenAIURL()})
	require.NoError(b, err)
	defer func() { require.NoError(b, gw.Close()) }()

	for _, stream := range []bool{false, true} {
		routes := []route{{name: "direct", baseURL: up.OpenAIURL()}, {name: "gateway", baseURL: gw.URL() + "/v1"}}
		ps, err := newPaths(ctx, DefaultOptions, routes, stream)
		require.NoError(b, err)
		for _, e := range ps {
			name := e.name
			if stream {
				name += "-stream"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				if stream {
					benchStreams(b, e)
					return
				}
				for b.Loop() {
					if err := e.do(nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		ps.close()
	}
}

func benchStreams(b *testing.B, e *endpoint) {
	br := bufio.NewReaderSize(nil, 16<<10)
	var frames int64
	for b.Loop() {
		resp, err := e.send()
		if err != nil {
			b.Fatal(err)
		}
		var s frameScanner
		br.Reset(resp.Body)
		_, err = scanStream(br, &s, nil)
		_ = resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
		f := s.finish()
		if f.Merged+f.Corrupt+f.ErrorEvents+f.Unterminated > 0 {
			b.Fatalf("bad stream: %+v", f)
		}
		frames += int64(f.Payloads)
	}
	b.ReportMetric(float64(frames)/float64(b.N), "frames/op")
}

// BenchmarkGatewayAuth sends the chat request, one at a time, through an
// in-process gateway with auth off, one with API-key auth and limits in
// memory and, when RAGWAY_TEST_REDIS_ADDR is set, one with limits in
// Redis; the differences in ns/op are what auth and limits add.
func BenchmarkGatewayAuth(b *testing.B) {
	ctx := context.Background()
	up, err := llmtest.Start("127.0.0.1:0", llmtest.WithRecordLimit(0))
	require.NoError(b, err)
	defer up.Close()
	setups := []struct {
		name  string
		setup Setup
	}{
		{"auth-off", Setup{UpstreamURL: up.OpenAIURL()}},
		{"embedded", Setup{UpstreamURL: up.OpenAIURL(), Limits: limits.StoreMemory}},
	}
	if addr := os.Getenv("RAGWAY_TEST_REDIS_ADDR"); addr != "" {
		setups = append(setups, struct {
			name  string
			setup Setup
		}{"shared", Setup{UpstreamURL: up.OpenAIURL(), Limits: limits.StoreRedis, RedisAddr: addr,
			RedisPrefix: fmt.Sprintf("ragway:bench-test:%d:", os.Getpid())}})
	}
	for _, s := range setups {
		gw, err := InProcess{}.Launch(ctx, s.setup)
		require.NoError(b, err)
		e, err := gatewayEndpoint(ctx, DefaultOptions, s.name, gw)
		require.NoError(b, err)
		// The first requests load the tokenizer the token limit counts with.
		for range 50 {
			require.NoError(b, e.do(nil))
		}
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := e.do(nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		closeIdle(e)
		require.NoError(b, gw.Close())
	}
}
