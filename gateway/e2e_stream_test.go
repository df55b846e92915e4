package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm/llmtest"
)

// streamConfig has a short stream idle timeout for stall tests.
const streamConfig = `
server: {addr: 127.0.0.1:0, shutdown_timeout: 5s}
backends:
  - name: fake
    type: openai
    url: {{FAKE}}
    timeouts: {connect: 1s, response: 2s, stream_idle: 300ms}
    retry: {attempts: 3, initial_backoff: 1ms, max_backoff: 5ms}
    breaker: {failures: 100, open_for: 1s}
  - name: fakeollama
    type: ollama
    url: {{OLLAMA}}
    timeouts: {connect: 1s, response: 2s, stream_idle: 300ms}
    retry: {attempts: 3, initial_backoff: 1ms, max_backoff: 5ms}
    breaker: {failures: 100, open_for: 1s}
routes:
  - model: chat
    targets: [{backend: fake, model: fake-chat}]
  - model: ollama-chat
    targets: [{backend: fakeollama, model: fake-chat}]
`

// sseFrame is one server-sent event.
type sseFrame struct {
	event string
	data  string
}

// parseSSE splits a complete SSE body into events, failing on anything that
// is not an "event:" or "data:" line.
func parseSSE(t *testing.T, body string) []sseFrame {
	t.Helper()
	require.True(t, strings.HasSuffix(body, "\n\n"), "the body ends with a complete event: %q", tail(body))
	var frames []sseFrame
	for _, block := range strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n") {
		var f sseFrame
		for _, line := range strings.Split(block, "\n") {
			switch {
			case strings.HasPrefix(line, "event: "):
				f.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				require.Empty(t, f.data, "one data line per event")
				f.data = strings.TrimPrefix(line, "data: ")
			default:
				t.Fatalf("unexpected SSE line %q", line)
			}
		}
		frames = append(frames, f)
	}
	return frames
}

func tail(s string) string {
	if len(s) > 200 {
		return s[len(s)-200:]
	}
	return s
}

// chunkFrame is the part of a streamed chunk the framing tests look at.
type chunkFrame struct {
	Object  string `json:"object"`
	Choices []struct {
		Delta struct {
			Content *string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage json.RawMessage `json:"usage"`
}

// paddedReply is the fake's reply to text when it answers in n chunks.
func paddedReply(text string, n int) string {
	words := strings.Fields(llmtest.Reply(text))
	for len(words) < n {
		words = append(words, "lorem")
	}
	return strings.Join(words, " ")
}

func TestE2EStreamWithUsage(t *testing.T) {
	h := startE2E(t, fakeConfig)
	c := h.client()
	text := "stream this answer to me"
	for _, r := range e2eRoutes {
		t.Run(r.model, func(t *testing.T) {
			var raw *http.Response
			stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
				Model:         r.model,
				Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)},
				StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
			}, option.WithResponseInto(&raw))
			defer stream.Close()
			acc := openai.ChatCompletionAccumulator{}
			chunks, usageChunks, contentDone := 0, 0, 0
			for stream.Next() {
				cur := stream.Current()
				chunks++
				require.Equal(t, 0, usageChunks, "the usage chunk is the last one")
				require.True(t, acc.AddChunk(cur))
				if len(cur.Choices) == 0 {
					usageChunks++
					require.Positive(t, cur.Usage.TotalTokens)
				}
				if _, ok := acc.JustFinishedContent(); ok {
					contentDone++
				}
			}
			require.NoError(t, stream.Err())
			requireGatewayHeaders(t, raw.Header, r.target)
			require.Equal(t, "text/event-stream", raw.Header.Get("Content-Type"))
			require.Equal(t, 1, usageChunks)
			require.Equal(t, 1, contentDone)
			require.Len(t, acc.Choices, 1)
			require.Equal(t, llmtest.Reply(text), acc.Choices[0].Message.Content)
			require.Equal(t, "stop", acc.Choices[0].FinishReason)
			wantPrompt := int64(llmtest.PromptTokens(text))
			wantCompletion := int64(len(strings.Fields(llmtest.Reply(text))))
			require.Equal(t, wantPrompt, acc.Usage.PromptTokens)
			require.Equal(t, wantCompletion, acc.Usage.CompletionTokens)
			require.Equal(t, wantPrompt+wantCompletion, acc.Usage.TotalTokens)
			require.Greater(t, chunks, int(wantCompletion), "one chunk per word at least")
		})
	}
}

// TestE2EStreamsKeepUpstreamConnections: a stream ends with [DONE] (or
// Ollama's done line) and the upstream's chunked terminator comes a moment
// after; the gateway finishes the body off the request path, so its
// connection serves the next stream instead of a new one per stream.
func TestE2EStreamsKeepUpstreamConnections(t *testing.T) {
	h := startE2E(t, fakeConfig, llmtest.WithEndDelay(5*time.Millisecond))
	c := h.client()
	for _, r := range e2eRoutes {
		t.Run(r.model, func(t *testing.T) {
			before := h.fake.Conns()
			const streams = 10
			for range streams {
				stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
					Model:    r.model,
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("keep the line open")},
				})
				n := 0
				for stream.Next() {
					n++
				}
				require.NoError(t, stream.Err())
				require.Positive(t, n)
				require.NoError(t, stream.Close())
				// The terminator is drained off the request path.
				time.Sleep(20 * time.Millisecond)
			}
			require.LessOrEqual(t, h.fake.Conns()-before, 1, "%d streams, one upstream connection", streams)
		})
	}
}

// TestE2EStreamFraming reads raw SSE and checks that every upstream chunk
// reaches the client as its own frame, the usage chunk only when asked for,
// and that the stream ends with [DONE].
func TestE2EStreamFraming(t *testing.T) {
	const pieces = 40
	h := startE2E(t, fakeConfig, llmtest.WithChunks(pieces))
	text := "count every frame"
	want := paddedReply(text, pieces)
	for _, r := range e2eRoutes {
		// Frames besides the content pieces: OpenAI sends a role chunk
		// and a finish chunk; Ollama's role rides on the first piece and
		// its last line becomes the finish chunk.
		extra := 2
		if r.path == "/api/chat" {
			extra = 1
		}
		for _, usage := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/include_usage=%v", r.model, usage), func(t *testing.T) {
				opts := ""
				if usage {
					opts = `"stream_options":{"include_usage":true}`
				}
				extraFields := []string{`"stream":true`}
				if opts != "" {
					extraFields = append(extraFields, opts)
				}
				status, hdr, body := h.post("/v1/chat/completions", chatBody(r.model, text, extraFields...))
				require.Equal(t, http.StatusOK, status, body)
				requireGatewayHeaders(t, hdr, r.target)
				require.True(t, strings.HasSuffix(body, "data: [DONE]\n\n"), "stream ends with [DONE]")
				frames := parseSSE(t, body)
				require.Equal(t, "[DONE]", frames[len(frames)-1].data)
				frames = frames[:len(frames)-1]

				wantFrames := pieces + extra
				if usage {
					wantFrames++
				}
				require.Len(t, frames, wantFrames, "no frame merged or lost")
				var content strings.Builder
				contentFrames, usageOnly, finishes := 0, 0, 0
				for i, f := range frames {
					require.Empty(t, f.event, "frame %d", i)
					var ch chunkFrame
					require.NoError(t, json.Unmarshal([]byte(f.data), &ch), "frame %d: %s", i, f.data)
					require.Equal(t, "chat.completion.chunk", ch.Object)
					if len(ch.Choices) == 0 {
						usageOnly++
						require.Equal(t, len(frames)-1, i, "the usage chunk comes last")
						var u openai.CompletionUsage
						require.NoError(t, json.Unmarshal(ch.Usage, &u))
						require.Equal(t, int64(llmtest.PromptTokens(text)), u.PromptTokens)
						require.Equal(t, int64(pieces), u.CompletionTokens)
						continue
					}
					if !usage {
						require.True(t, len(ch.Usage) == 0 || string(ch.Usage) == "null",
							"no usage reaches a client that did not ask: %s", f.data)
					}
					for _, choice := range ch.Choices {
						if d := choice.Delta.Content; d != nil && *d != "" {
							contentFrames++
							content.WriteString(*d)
						}
						if choice.FinishReason != nil {
							finishes++
							require.Equal(t, "stop", *choice.FinishReason)
						}
					}
				}
				require.Equal(t, want, content.String())
				require.Equal(t, pieces, contentFrames)
				require.Equal(t, 1, finishes)
				if usage {
					require.Equal(t, 1, usageOnly)
				} else {
					require.Zero(t, usageOnly)
				}
			})
		}
	}
}

// streamFault is a fault injected into a stream after it has begun.
type streamFault struct {
	name  string
	fault llmtest.FaultKind
	code  string
}

var streamFaults = []streamFault{
	{"mid-stream error", llmtest.FaultStreamError, "upstream_error"},
	{"early close", llmtest.FaultCloseEarly, "bad_upstream_response"},
	{"stall", llmtest.FaultStall, "upstream_timeout"},
	{"reset", llmtest.FaultReset, "bad_upstream_response"},
}

// TestE2EStreamFaults breaks streams after two chunks have reached the
// client: the client gets an SSE error event in the OpenAI error shape, the
// stream ends without [DONE], and the gateway does not retry.
func TestE2EStreamFaults(t *testing.T) {
	h := startE2E(t, streamConfig)
	c := h.client()
	text := "a stream that breaks"
	for _, r := range e2eRoutes {
		for _, sf := range streamFaults {
			inject := func() {
				h.fake.Inject(llmtest.Fault{Kind: sf.fault, After: 2, Times: 1, Path: r.path, Message: "model crashed"})
			}
			t.Run(r.model+"/"+sf.name+"/sdk", func(t *testing.T) {
				inject()
				before := h.fake.Count(r.path)
				stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
					Model:    r.model,
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)},
				})
				defer stream.Close()
				var content strings.Builder
				chunks := 0
				for stream.Next() {
					chunks++
					for _, ch := range stream.Current().Choices {
						content.WriteString(ch.Delta.Content)
					}
				}
				err := stream.Err()
				require.Error(t, err)
				var se *ssestream.StreamError
				require.True(t, errors.As(err, &se), "error %T %v", err, err)
				require.Equal(t, "error", se.Event.Type)
				requireOpenAIErrorJSON(t, se.Event.Data, "api_error", sf.code)
				require.Positive(t, chunks, "the stream had begun")
				require.True(t, strings.HasPrefix(llmtest.Reply(text), content.String()))
				require.Equal(t, 1, h.fake.Count(r.path)-before, "no retry after the first byte")
			})
			t.Run(r.model+"/"+sf.name+"/raw", func(t *testing.T) {
				inject()
				before := h.fake.Count(r.path)
				status, _, body := h.post("/v1/chat/completions", chatBody(r.model, text, `"stream":true`))
				require.Equal(t, http.StatusOK, status)
				require.NotContains(t, body, "[DONE]")
				frames := parseSSE(t, body)
				require.GreaterOrEqual(t, len(frames), 2)
				last := frames[len(frames)-1]
				require.Equal(t, "error", last.event)
				requireOpenAIErrorJSON(t, []byte(last.data), "api_error", sf.code)
				for _, f := range frames[:len(frames)-1] {
					require.Empty(t, f.event)
					require.Contains(t, f.data, `"chat.completion.chunk"`)
				}
				require.Equal(t, 1, h.fake.Count(r.path)-before, "no retry after the first byte")
			})
		}
	}
}

// requireOpenAIErrorJSON checks {"error":{"message","type","param","code"}}.
func requireOpenAIErrorJSON(t *testing.T, data []byte, typ, code string) map[string]json.RawMessage {
	t.Helper()
	var body struct {
		Error map[string]json.RawMessage `json:"error"`
	}
	require.NoError(t, json.Unmarshal(data, &body), "error body %s", data)
	for _, k := range []string{"message", "type", "param", "code"} {
		require.Contains(t, body.Error, k, "error body %s", data)
	}
	var msg string
	require.NoError(t, json.Unmarshal(body.Error["message"], &msg))
	require.NotEmpty(t, msg)
	require.JSONEq(t, fmt.Sprintf("%q", typ), string(body.Error["type"]), "error body %s", data)
	if code == "" {
		require.JSONEq(t, "null", string(body.Error["code"]), "error body %s", data)
	} else {
		require.JSONEq(t, fmt.Sprintf("%q", code), string(body.Error["code"]), "error body %s", data)
	}
	return body.Error
}

// TestE2EStreamRetryBeforeFirstByte checks that failures before any output
// are retried and the stream then succeeds.
func TestE2EStreamRetryBeforeFirstByte(t *testing.T) {
	h := startE2E(t, streamConfig)
	c := h.client()
	text := "try again"
	for _, r := range e2eRoutes {
		for _, tc := range []struct {
			name  string
			fault llmtest.Fault
		}{
			{"503", llmtest.Fault{Kind: llmtest.FaultStatus, Status: http.StatusServiceUnavailable}},
			{"reset before headers", llmtest.Fault{Kind: llmtest.FaultReset}},
			{"garbage", llmtest.Fault{Kind: llmtest.FaultGarbage}},
		} {
			t.Run(r.model+"/"+tc.name, func(t *testing.T) {
				f := tc.fault
				f.Times, f.Path = 1, r.path
				h.fake.Inject(f)
				before := h.fake.Count(r.path)
				stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
					Model:    r.model,
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)},
				})
				defer stream.Close()
				acc := openai.ChatCompletionAccumulator{}
				for stream.Next() {
					require.True(t, acc.AddChunk(stream.Current()))
				}
				require.NoError(t, stream.Err())
				require.Equal(t, llmtest.Reply(text), acc.Choices[0].Message.Content)
				require.Equal(t, 2, h.fake.Count(r.path)-before, "one failure, one retry")
			})
		}
	}
	t.Run("FailNext", func(t *testing.T) {
		h.fake.FailNext(1, http.StatusServiceUnavailable)
		before := h.fake.Count("/v1/chat/completions")
		stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
			Model:    "chat",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)},
		})
		defer stream.Close()
		acc := openai.ChatCompletionAccumulator{}
		for stream.Next() {
			require.True(t, acc.AddChunk(stream.Current()))
		}
		require.NoError(t, stream.Err())
		require.Equal(t, llmtest.Reply(text), acc.Choices[0].Message.Content)
		require.Equal(t, 2, h.fake.Count("/v1/chat/completions")-before)
	})
}

// TestE2EStreamClientDisconnect checks that a client that goes away
// mid-stream cancels the upstream call.
func TestE2EStreamClientDisconnect(t *testing.T) {
	h := startE2E(t, streamConfig, llmtest.WithChunks(1000), llmtest.WithChunkDelay(5*time.Millisecond))
	c := h.client()
	for _, r := range e2eRoutes {
		t.Run(r.model, func(t *testing.T) {
			canceled := h.fake.Canceled()
			closed := strings.Count(h.logs.String(), `"code":"client_closed"`)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
				Model:    r.model,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("a very long answer")},
			})
			for i := 0; i < 3; i++ {
				require.True(t, stream.Next(), "chunk %d: %v", i, stream.Err())
			}
			cancel()
			require.NoError(t, stream.Close())
			require.Eventually(t, func() bool { return h.fake.Canceled() == canceled+1 }, 3*time.Second, 5*time.Millisecond,
				"the upstream call was cancelled")
			require.Eventually(t, func() bool {
				return strings.Count(h.logs.String(), `"code":"client_closed"`) == closed+1
			}, 3*time.Second, 5*time.Millisecond, "the access log records the client leaving")
		})
	}
}
