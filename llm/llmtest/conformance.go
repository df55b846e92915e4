package llmtest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm"
)

// Timeouts the open function of Run must configure on the backend.
const (
	ConnectTimeout    = 2 * time.Second
	ResponseTimeout   = time.Second
	StreamIdleTimeout = 500 * time.Millisecond
)

// Models the conformance suite uses.
const (
	ChatModel  = "fake-chat"
	EmbedModel = "fake-embed"
)

// Run checks that a backend speaking to the fake behaves as llm.Backend
// requires, one subtest per case. open returns a backend for srv with the
// timeouts ConnectTimeout, ResponseTimeout and StreamIdleTimeout; each case
// gets a fresh server.
func Run(t *testing.T, open func(t *testing.T, srv *Server) llm.Backend) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(t *testing.T, srv *Server, b llm.Backend)
	}{
		{"chat", testChat},
		{"chat_stream", testChatStream},
		{"chat_max_tokens", testChatMaxTokens},
		{"completions", testCompletions},
		{"completions_stream", testCompletionsStream},
		{"tool_calls", testToolCalls},
		{"tool_calls_stream", testToolCallsStream},
		{"embeddings", testEmbeddings},
		{"models", testModels},
		{"status_429", testStatus429},
		{"status_5xx", testStatus5xx},
		{"stream_error", testStreamError},
		{"stream_close_early", testCloseEarly},
		{"reset_before_response", testResetBeforeResponse},
		{"reset_mid_stream", testResetMidStream},
		{"garbage", testGarbage},
		{"stream_stall", testStall},
		{"body_stall", testBodyStall},
		{"cancel_mid_stream", testCancel},
		{"connection_refused", testRefused},
		{"response_timeout", testResponseTimeout},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := NewServer(WithModels(ChatModel, EmbedModel))
			t.Cleanup(srv.Close)
			b := open(t, srv)
			c.fn(t, srv, b)
		})
	}
}

// ChatRequest builds a chat request for ChatModel from fields given as Go
// values.
func ChatRequest(t testing.TB, stream bool, fields map[string]any) *llm.Request {
	t.Helper()
	return request(t, llm.ChatCompletions, stream, fields)
}

func request(t testing.TB, e llm.Endpoint, stream bool, fields map[string]any) *llm.Request {
	t.Helper()
	req := &llm.Request{Endpoint: e, Model: ChatModel, Stream: stream, Fields: map[string]json.RawMessage{}}
	for k, v := range fields {
		raw, err := json.Marshal(v)
		require.NoError(t, err)
		req.Fields[k] = raw
	}
	return req
}

func userMessages(texts ...string) []map[string]any {
	out := make([]map[string]any, 0, len(texts))
	for i, text := range texts {
		role := "user"
		if i < len(texts)-1 {
			role = "system"
		}
		out = append(out, map[string]any{"role": role, "content": text})
	}
	return out
}

// Collect reads s to its end, returning the chunks and the error that ended
// it (io.EOF for a clean end). It closes s.
func Collect(t testing.TB, s llm.Stream) ([]llm.Chunk, error) {
	t.Helper()
	defer func() { require.NoError(t, s.Close()) }()
	var out []llm.Chunk
	for range 10000 {
		c, err := s.Recv()
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
	t.Fatal("stream did not end")
	return nil, nil
}

// chatCompletion is the shape the suite checks responses against.
type chatCompletion struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role      string      `json:"role"`
			Content   *string     `json:"content"`
			ToolCalls []toolCallJ `json:"tool_calls"`
		} `json:"message"`
		Delta struct {
			Role      string      `json:"role"`
			Content   *string     `json:"content"`
			ToolCalls []toolCallJ `json:"tool_calls"`
		} `json:"delta"`
		Text         string  `json:"text"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *llm.Usage `json:"usage"`
}

type toolCallJ struct {
	Index    *int   `json:"index"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

func decode(t testing.TB, data []byte) chatCompletion {
	t.Helper()
	var c chatCompletion
	require.NoError(t, json.Unmarshal(data, &c), "body: %s", data)
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func testChat(t *testing.T, srv *Server, b llm.Backend) {
	req := ChatRequest(t, false, map[string]any{"messages": userMessages("be brief", "hello there")})
	resp, err := b.Generate(ctxT(t), req)
	require.NoError(t, err)
	c := decode(t, resp.Body)
	require.Equal(t, "chat.completion", c.Object)
	require.Equal(t, ChatModel, c.Model)
	require.Equal(t, ChatModel, resp.Model)
	require.NotEmpty(t, c.ID)
	require.Len(t, c.Choices, 1)
	require.Equal(t, "assistant", c.Choices[0].Message.Role)
	require.NotNil(t, c.Choices[0].Message.Content)
	require.Equal(t, Reply("hello there"), *c.Choices[0].Message.Content)
	require.Equal(t, "stop", *c.Choices[0].FinishReason)
	want := llm.Usage{PromptTokens: PromptTokens("be brief", "hello there"), CompletionTokens: 3, TotalTokens: 7}
	require.Equal(t, want, resp.Usage)
	require.NotNil(t, c.Usage)
	require.Equal(t, want, *c.Usage)
	require.Equal(t, 1, srv.ModelCount(ChatModel))
}

// streamText checks the chunk sequence of a chat stream and returns its
// text, finish reason and usage.
func streamText(t *testing.T, chunks []llm.Chunk) (text, finish string, usage llm.Usage) {
	t.Helper()
	require.NotEmpty(t, chunks)
	last := chunks[len(chunks)-1]
	require.True(t, last.UsageOnly, "last chunk must be usage-only: %s", last.Data)
	require.NotNil(t, last.Usage)
	for i, ch := range chunks {
		c := decode(t, ch.Data)
		require.Contains(t, []string{"chat.completion.chunk", "text_completion"}, c.Object)
		require.Equal(t, ChatModel, c.Model)
		if i == len(chunks)-1 {
			require.Empty(t, c.Choices)
			require.Equal(t, *last.Usage, *c.Usage)
			break
		}
		require.False(t, ch.UsageOnly, "chunk %d", i)
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				text += *ch.Delta.Content
			}
			text += ch.Text
			if ch.FinishReason != nil && *ch.FinishReason != "" {
				require.Empty(t, finish, "two finish reasons")
				finish = *ch.FinishReason
			}
		}
	}
	return text, finish, *last.Usage
}

func testChatStream(t *testing.T, srv *Server, b llm.Backend) {
	req := ChatRequest(t, true, map[string]any{"messages": userMessages("be brief", "hello there friend")})
	s, err := b.GenerateStream(ctxT(t), req)
	require.NoError(t, err)
	first, err := s.Recv()
	require.NoError(t, err)
	require.Equal(t, "assistant", decode(t, first.Data).Choices[0].Delta.Role)
	rest, err := Collect(t, s)
	require.ErrorIs(t, err, io.EOF)
	_, err = s.Recv()
	require.ErrorIs(t, err, io.EOF, "Recv after the end keeps returning io.EOF")
	chunks := append([]llm.Chunk{first}, rest...)
	require.GreaterOrEqual(t, len(chunks), 4+1, "one chunk per word and a usage chunk")
	text, finish, usage := streamText(t, chunks)
	require.Equal(t, Reply("hello there friend"), text)
	require.Equal(t, "stop", finish)
	require.Equal(t, llm.Usage{PromptTokens: 5, CompletionTokens: 4, TotalTokens: 9}, usage)
}

func testChatMaxTokens(t *testing.T, srv *Server, b llm.Backend) {
	req := ChatRequest(t, false, map[string]any{"messages": userMessages("hello there friend"), "max_tokens": 2})
	resp, err := b.Generate(ctxT(t), req)
	require.NoError(t, err)
	c := decode(t, resp.Body)
	require.Equal(t, "echo: hello", *c.Choices[0].Message.Content)
	require.Equal(t, "length", *c.Choices[0].FinishReason)
	require.Equal(t, 2, resp.Usage.CompletionTokens)
}

func testCompletions(t *testing.T, srv *Server, b llm.Backend) {
	req := request(t, llm.Completions, false, map[string]any{"prompt": "say something nice"})
	resp, err := b.Generate(ctxT(t), req)
	require.NoError(t, err)
	c := decode(t, resp.Body)
	require.Equal(t, "text_completion", c.Object)
	require.Equal(t, ChatModel, c.Model)
	require.Len(t, c.Choices, 1)
	require.Equal(t, Reply("say something nice"), c.Choices[0].Text)
	require.Equal(t, "stop", *c.Choices[0].FinishReason)
	require.Equal(t, llm.Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7}, resp.Usage)
}

func testCompletionsStream(t *testing.T, srv *Server, b llm.Backend) {
	req := request(t, llm.Completions, true, map[string]any{"prompt": "say something nice"})
	s, err := b.GenerateStream(ctxT(t), req)
	require.NoError(t, err)
	chunks, err := Collect(t, s)
	require.ErrorIs(t, err, io.EOF)
	text, finish, usage := streamText(t, chunks)
	require.Equal(t, Reply("say something nice"), text)
	require.Equal(t, "stop", finish)
	require.Equal(t, llm.Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7}, usage)
}

var weatherTool = map[string]any{
	"type": "function",
	"function": map[string]any{
		"name":        "get_weather",
		"description": "Weather of a city",
		"parameters": map[string]any{
			"type":       "object",
			"properties": map[string]any{"text": map[string]any{"type": "string"}},
			"required":   []string{"text"},
		},
	},
}

const toolPrompt = "please call get_weather for Paris"

func testToolCalls(t *testing.T, srv *Server, b llm.Backend) {
	msgs := userMessages(toolPrompt)
	req := ChatRequest(t, false, map[string]any{"messages": msgs, "tools": []any{weatherTool}})
	resp, err := b.Generate(ctxT(t), req)
	require.NoError(t, err)
	c := decode(t, resp.Body)
	require.Len(t, c.Choices, 1)
	require.Equal(t, "tool_calls", *c.Choices[0].FinishReason)
	calls := c.Choices[0].Message.ToolCalls
	require.Len(t, calls, 1)
	require.NotEmpty(t, calls[0].ID)
	require.Equal(t, "function", calls[0].Type)
	require.Equal(t, "get_weather", calls[0].Function.Name)
	require.JSONEq(t, ToolArguments(toolPrompt), calls[0].Function.Arguments)
	require.Positive(t, resp.Usage.CompletionTokens)

	follow := append([]map[string]any{}, msgs...)
	follow = append(follow,
		map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{
			"id": calls[0].ID, "type": "function",
			"function": map[string]any{"name": "get_weather", "arguments": calls[0].Function.Arguments},
		}}},
		map[string]any{"role": "tool", "tool_call_id": calls[0].ID, "content": "sunny and warm"},
	)
	req = ChatRequest(t, false, map[string]any{"messages": follow, "tools": []any{weatherTool}})
	resp, err = b.Generate(ctxT(t), req)
	require.NoError(t, err)
	c = decode(t, resp.Body)
	require.Equal(t, Reply("sunny and warm"), *c.Choices[0].Message.Content)
	require.Equal(t, "stop", *c.Choices[0].FinishReason)
	require.Empty(t, c.Choices[0].Message.ToolCalls)
}

func testToolCallsStream(t *testing.T, srv *Server, b llm.Backend) {
	req := ChatRequest(t, true, map[string]any{"messages": userMessages(toolPrompt), "tools": []any{weatherTool}})
	s, err := b.GenerateStream(ctxT(t), req)
	require.NoError(t, err)
	chunks, err := Collect(t, s)
	require.ErrorIs(t, err, io.EOF)
	require.True(t, chunks[len(chunks)-1].UsageOnly)
	var id, name, args, finish string
	for _, ch := range chunks[:len(chunks)-1] {
		for _, choice := range decode(t, ch.Data).Choices {
			for _, tc := range choice.Delta.ToolCalls {
				require.NotNil(t, tc.Index, "streamed tool calls carry an index")
				require.Equal(t, 0, *tc.Index)
				if tc.ID != "" {
					require.Empty(t, id, "the id comes once")
					id = tc.ID
					require.Equal(t, "function", tc.Type)
				}
				name += tc.Function.Name
				args += tc.Function.Arguments
			}
			if choice.FinishReason != nil {
				finish = *choice.FinishReason
			}
		}
	}
	require.NotEmpty(t, id)
	require.Equal(t, "get_weather", name)
	require.JSONEq(t, ToolArguments(toolPrompt), args)
	require.Equal(t, "tool_calls", finish)
}

func testEmbeddings(t *testing.T, srv *Server, b llm.Backend) {
	resp, err := b.Embed(ctxT(t), &llm.EmbedRequest{Model: EmbedModel, Input: []string{"alpha", "beta gamma", "alpha"}})
	require.NoError(t, err)
	require.Len(t, resp.Vectors, 3)
	for i, in := range []string{"alpha", "beta gamma", "alpha"} {
		require.InDeltaSlice(t, Vector(in, 16), resp.Vectors[i], 1e-6, "vector %d", i)
	}
	require.NotEqual(t, resp.Vectors[0], resp.Vectors[1])
	require.Equal(t, EmbedModel, resp.Model)
	require.Equal(t, 4, resp.Usage.PromptTokens)

	resp, err = b.Embed(ctxT(t), &llm.EmbedRequest{Model: EmbedModel, Input: []string{"alpha"}, Dimensions: 8})
	require.NoError(t, err)
	require.Len(t, resp.Vectors, 1)
	require.InDeltaSlice(t, Vector("alpha", 8), resp.Vectors[0], 1e-6)
}

func testModels(t *testing.T, srv *Server, b llm.Backend) {
	models, err := b.Models(ctxT(t))
	require.NoError(t, err)
	ids := make([]string, len(models))
	for i, m := range models {
		ids[i] = m.ID
	}
	require.ElementsMatch(t, []string{ChatModel, EmbedModel}, ids)
}

func requireUpstream(t *testing.T, err error, status int) *llm.UpstreamError {
	t.Helper()
	var ue *llm.UpstreamError
	require.ErrorAs(t, err, &ue)
	require.Equal(t, status, ue.Status)
	require.NotEmpty(t, ue.Message)
	return ue
}

func testStatus429(t *testing.T, srv *Server, b llm.Backend) {
	srv.FailNext(1, 429)
	_, err := b.Generate(ctxT(t), ChatRequest(t, false, map[string]any{"messages": userMessages("hi")}))
	ue := requireUpstream(t, err, 429)
	require.Equal(t, time.Second, ue.RetryAfter)
	require.True(t, llm.Retryable(err))

	srv.Inject(Fault{Kind: FaultStatus, Status: 429, RetryAfter: "3", Times: 1})
	_, err = b.GenerateStream(ctxT(t), ChatRequest(t, true, map[string]any{"messages": userMessages("hi")}))
	ue = requireUpstream(t, err, 429)
	require.Equal(t, 3*time.Second, ue.RetryAfter)

	resp, err := b.Generate(ctxT(t), ChatRequest(t, false, map[string]any{"messages": userMessages("hi")}))
	require.NoError(t, err, "the fault is used up")
	require.NotEmpty(t, resp.Body)
}

func testStatus5xx(t *testing.T, srv *Server, b llm.Backend) {
	for _, status := range []int{500, 503} {
		srv.FailNext(1, status)
		_, err := b.Generate(ctxT(t), ChatRequest(t, false, map[string]any{"messages": userMessages("hi")}))
		requireUpstream(t, err, status)
		require.True(t, llm.Retryable(err))

		srv.FailNext(1, status)
		_, err = b.GenerateStream(ctxT(t), ChatRequest(t, true, map[string]any{"messages": userMessages("hi")}))
		requireUpstream(t, err, status)

		srv.FailNext(1, status)
		_, err = b.Embed(ctxT(t), &llm.EmbedRequest{Model: EmbedModel, Input: []string{"x"}})
		requireUpstream(t, err, status)
	}
	srv.Inject(Fault{Kind: FaultStatus, Status: 400, Message: "bad thing", Times: 1})
	_, err := b.Generate(ctxT(t), ChatRequest(t, false, map[string]any{"messages": userMessages("hi")}))
	ue := requireUpstream(t, err, 400)
	require.Equal(t, "bad thing", ue.Message)
	require.False(t, llm.Retryable(err))
}

// streamUntilError opens a stream and reads it to its end.
func streamUntilError(t *testing.T, b llm.Backend, text string) ([]llm.Chunk, error) {
	t.Helper()
	s, err := b.GenerateStream(ctxT(t), ChatRequest(t, true, map[string]any{"messages": userMessages(text)}))
	require.NoError(t, err)
	return Collect(t, s)
}

func requireNotEOF(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	require.NotErrorIs(t, err, io.EOF, "a failed stream must not end cleanly")
}

func testStreamError(t *testing.T, srv *Server, b llm.Backend) {
	srv.Inject(Fault{Kind: FaultStreamError, After: 2, Message: "model exploded", Times: 1})
	chunks, err := streamUntilError(t, b, "one two three four five")
	requireNotEOF(t, err)
	require.Len(t, chunks, 2)
	var ue *llm.UpstreamError
	require.ErrorAs(t, err, &ue)
	require.Contains(t, ue.Message, "model exploded")
}

func testCloseEarly(t *testing.T, srv *Server, b llm.Backend) {
	srv.Inject(Fault{Kind: FaultCloseEarly, After: 2, Times: 1})
	chunks, err := streamUntilError(t, b, "one two three four five")
	requireNotEOF(t, err)
	require.ErrorIs(t, err, llm.ErrBadUpstream)
	require.Len(t, chunks, 2)
}

func testResetBeforeResponse(t *testing.T, srv *Server, b llm.Backend) {
	srv.Inject(Fault{Kind: FaultReset, Times: 2})
	_, err := b.Generate(ctxT(t), ChatRequest(t, false, map[string]any{"messages": userMessages("hi")}))
	require.ErrorIs(t, err, llm.ErrUnavailable)
	_, err = b.GenerateStream(ctxT(t), ChatRequest(t, true, map[string]any{"messages": userMessages("hi")}))
	require.ErrorIs(t, err, llm.ErrUnavailable)
}

func testResetMidStream(t *testing.T, srv *Server, b llm.Backend) {
	srv.Inject(Fault{Kind: FaultReset, After: 2, Times: 1})
	chunks, err := streamUntilError(t, b, "one two three four five")
	requireNotEOF(t, err)
	require.LessOrEqual(t, len(chunks), 2)
}

func testGarbage(t *testing.T, srv *Server, b llm.Backend) {
	srv.Inject(Fault{Kind: FaultGarbage})
	_, err := b.Generate(ctxT(t), ChatRequest(t, false, map[string]any{"messages": userMessages("hi")}))
	require.ErrorIs(t, err, llm.ErrBadUpstream)

	s, err := b.GenerateStream(ctxT(t), ChatRequest(t, true, map[string]any{"messages": userMessages("hi")}))
	if err == nil {
		_, err = Collect(t, s)
	}
	require.ErrorIs(t, err, llm.ErrBadUpstream)

	_, err = b.Embed(ctxT(t), &llm.EmbedRequest{Model: EmbedModel, Input: []string{"x"}})
	require.ErrorIs(t, err, llm.ErrBadUpstream)
	_, err = b.Models(ctxT(t))
	require.ErrorIs(t, err, llm.ErrBadUpstream)
}

func testStall(t *testing.T, srv *Server, b llm.Backend) {
	srv.Inject(Fault{Kind: FaultStall, After: 2, Times: 1})
	chunks, err := streamUntilError(t, b, "one two three four five")
	require.ErrorIs(t, err, llm.ErrTimeout)
	require.Len(t, chunks, 2)
	require.Eventually(t, func() bool { return srv.Canceled() == 1 }, 5*time.Second, 5*time.Millisecond,
		"the upstream sees the stream abandoned")
}

// testBodyStall: a non-streaming answer whose body never comes after its
// headers fails with a timeout instead of hanging until the caller gives up.
func testBodyStall(t *testing.T, srv *Server, b llm.Backend) {
	srv.Inject(Fault{Kind: FaultStall, Times: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := b.Generate(ctx, ChatRequest(t, false, map[string]any{"messages": userMessages("hello")}))
	require.ErrorIs(t, err, llm.ErrTimeout)
	require.NoError(t, ctx.Err(), "the backend's own timeout must fire, not the caller's")
}

func testCancel(t *testing.T, srv *Server, b llm.Backend) {
	srv.SetChunkDelay(time.Minute)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	s, err := b.GenerateStream(ctx, ChatRequest(t, true, map[string]any{"messages": userMessages("one two three")}))
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	_, err = s.Recv()
	require.NoError(t, err)
	cancel()
	_, err = s.Recv()
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, llm.ErrTimeout)
	require.False(t, errors.Is(err, llm.ErrUnavailable), "cancellation is not unavailability")
	require.Eventually(t, func() bool { return srv.Canceled() == 1 }, 5*time.Second, 5*time.Millisecond,
		"the upstream sees the cancellation")
}

func testRefused(t *testing.T, srv *Server, b llm.Backend) {
	srv.Close()
	ctx := ctxT(t)
	_, err := b.Generate(ctx, ChatRequest(t, false, map[string]any{"messages": userMessages("hi")}))
	require.ErrorIs(t, err, llm.ErrUnavailable)
	_, err = b.GenerateStream(ctx, ChatRequest(t, true, map[string]any{"messages": userMessages("hi")}))
	require.ErrorIs(t, err, llm.ErrUnavailable)
	_, err = b.Embed(ctx, &llm.EmbedRequest{Model: EmbedModel, Input: []string{"x"}})
	require.ErrorIs(t, err, llm.ErrUnavailable)
	_, err = b.Models(ctx)
	require.ErrorIs(t, err, llm.ErrUnavailable)
	require.True(t, llm.Retryable(err))
}

func testResponseTimeout(t *testing.T, srv *Server, b llm.Backend) {
	srv.SetLatency(time.Minute)
	_, err := b.Generate(ctxT(t), ChatRequest(t, false, map[string]any{"messages": userMessages("hi")}))
	require.ErrorIs(t, err, llm.ErrTimeout)
	_, err = b.GenerateStream(ctxT(t), ChatRequest(t, true, map[string]any{"messages": userMessages("hi")}))
	require.ErrorIs(t, err, llm.ErrTimeout)
	require.Eventually(t, func() bool { return srv.Canceled() == 2 }, 5*time.Second, 5*time.Millisecond,
		"the upstream sees both requests abandoned")
}
