package openai

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/sse"
	"github.com/ragway/ragway/llm/upstream"
)

func newTestStream(data []byte) *stream {
	ctx := context.Background()
	_, cancel, detach := upstream.StreamContext(ctx)
	body := io.NopCloser(bytes.NewReader(data))
	s := &stream{ctx: ctx, cancel: cancel, detach: detach, body: body, r: sse.NewReader(body), idle: time.Hour, op: "test"}
	s.timer = time.AfterFunc(time.Hour, s.onIdle)
	s.timer.Stop()
	return s
}

func FuzzStream(f *testing.F) {
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}\n\ndata: [DONE]\n\n"))
	f.Add([]byte("event: error\ndata: {\"error\":{\"message\":\"x\",\"code\":503}}\n\n"))
	f.Add([]byte("data: {\"error\":\"plain\"}\n\n"))
	f.Add([]byte("data: {\"choices\":null,\"usage\":null}\n\n"))
	f.Add([]byte(": ping\n\ndata: nope\n\n"))
	f.Add([]byte("data: {\"choices\":[{}]}\n\ndata: {\"cho"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newTestStream(data)
		defer s.Close()
		for range len(data) + 2 {
			c, err := s.Recv()
			if err != nil {
				var ue *llm.UpstreamError
				if !errors.Is(err, io.EOF) && !errors.Is(err, llm.ErrBadUpstream) && !errors.As(err, &ue) {
					t.Fatalf("unclassified error %v", err)
				}
				_, again := s.Recv()
				require.Equal(t, err, again, "the end is sticky")
				return
			}
			require.NotEmpty(t, c.Data)
			if c.UsageOnly {
				require.NotNil(t, c.Usage)
			}
		}
		t.Fatal("more chunks than input bytes")
	})
}

func FuzzParseError(f *testing.F) {
	f.Add([]byte(`{"error":{"message":"m","type":"t","param":"p","code":"c"}}`))
	f.Add([]byte(`{"error":"s"}`))
	f.Add([]byte(`{"message":"m","code":400}`))
	f.Add([]byte(`{"error":{"code":[1]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ue := parseError(data)
		require.LessOrEqual(t, len(ue.Message), upstream.MaxMessage)
		require.LessOrEqual(t, len(ue.Code), upstream.MaxMessage)
		_ = streamError(data).Error()
	})
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{"0.5", 500 * time.Millisecond},
		{"-1", 0},
		{"99999999", 0},
		{"soon", 0},
		{"Tue, 01 Jan 2030 00:00:10 GMT", 10 * time.Second},
		{"Mon, 31 Dec 2029 23:59:00 GMT", 0},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, upstream.RetryAfter(tt.in, now), tt.in)
	}
}
