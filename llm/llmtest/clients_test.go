package llmtest_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/ollama/ollama/api"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm/llmtest"
)

// The official clients of both protocols read the fake's answers.

func sdk(srv *llmtest.Server) openai.Client {
	return openai.NewClient(option.WithBaseURL(srv.OpenAIURL()+"/"), option.WithAPIKey("k"), option.WithMaxRetries(0))
}

func TestOpenAISDK(t *testing.T) {
	srv := llmtest.NewServer()
	t.Cleanup(srv.Close)
	c := sdk(srv)
	ctx := context.Background()

	params := openai.ChatCompletionNewParams{
		Model:    "gpt-x",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("hello there")},
		N:        openai.Int(2),
	}
	resp, err := c.Chat.Completions.New(ctx, params)
	require.NoError(t, err)
	require.Equal(t, "gpt-x", resp.Model)
	require.Len(t, resp.Choices, 2)
	require.Equal(t, "echo: hello there", resp.Choices[1].Message.Content)
	require.Equal(t, int64(4), resp.Usage.PromptTokens)
	require.Equal(t, int64(6), resp.Usage.CompletionTokens)

	params.N = openai.Int(1)
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := c.Chat.Completions.NewStreaming(ctx, params)
	acc := openai.ChatCompletionAccumulator{}
	n := 0
	for stream.Next() {
		require.True(t, acc.AddChunk(stream.Current()))
		n++
	}
	require.NoError(t, stream.Err())
	require.Equal(t, 6, n, "role, three words, finish, usage")
	require.Equal(t, "echo: hello there", acc.Choices[0].Message.Content)
	require.Equal(t, "stop", acc.Choices[0].FinishReason)
	require.Equal(t, int64(7), acc.Usage.TotalTokens)

	params.Messages = []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}
	params.Tools = []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "lookup"})}
	params.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("required")}
	stream = c.Chat.Completions.NewStreaming(ctx, params)
	acc = openai.ChatCompletionAccumulator{}
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	require.NoError(t, stream.Err())
	calls := acc.Choices[0].Message.ToolCalls
	require.Len(t, calls, 1)
	require.Equal(t, "lookup", calls[0].Function.Name)
	require.JSONEq(t, `{"text":"x"}`, calls[0].Function.Arguments)
	require.Equal(t, "tool_calls", acc.Choices[0].FinishReason)

	comp, err := c.Completions.New(ctx, openai.CompletionNewParams{
		Model:  "gpt-x",
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("a b")},
	})
	require.NoError(t, err)
	require.Equal(t, "echo: a b", comp.Choices[0].Text)

	for _, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
		emb, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model:          "e",
			Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}},
			Dimensions:     openai.Int(5),
			EncodingFormat: format,
		})
		require.NoError(t, err)
		require.Len(t, emb.Data, 2)
		if format == openai.EmbeddingNewParamsEncodingFormatFloat {
			require.InDeltaSlice(t, llmtest.Vector("b", 5), emb.Data[1].Embedding, 1e-6)
		}
	}

	page, err := c.Models.List(ctx)
	require.NoError(t, err)
	require.Len(t, page.Data, 2)
	m, err := c.Models.Get(ctx, "fake-chat")
	require.NoError(t, err)
	require.Equal(t, "fake-chat", m.ID)
	_, err = c.Models.Get(ctx, "missing")
	var apiErr *openai.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusNotFound, apiErr.StatusCode)

	srv.FailNext(1, http.StatusTooManyRequests)
	_, err = c.Chat.Completions.New(ctx, params)
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusTooManyRequests, apiErr.StatusCode)
	require.Equal(t, "rate_limit_error", apiErr.Type)
	require.Equal(t, "rate_limit_exceeded", apiErr.Code)
}

func TestOllamaClient(t *testing.T) {
	srv := llmtest.NewServer()
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL())
	require.NoError(t, err)
	c := api.NewClient(u, http.DefaultClient)
	ctx := context.Background()

	var parts []api.ChatResponse
	err = c.Chat(ctx, &api.ChatRequest{Model: "llama3", Messages: []api.Message{{Role: "user", Content: "hi you"}}}, func(r api.ChatResponse) error {
		parts = append(parts, r)
		return nil
	})
	require.NoError(t, err)
	require.Len(t, parts, 4)
	text := ""
	for _, p := range parts {
		text += p.Message.Content
	}
	require.Equal(t, "echo: hi you", text)
	last := parts[len(parts)-1]
	require.True(t, last.Done)
	require.Equal(t, "stop", last.DoneReason)
	require.Equal(t, 2, last.PromptEvalCount)
	require.Equal(t, 3, last.EvalCount)

	parts = nil
	stream := false
	tools := api.Tools{{Type: "function", Function: api.ToolFunction{Name: "lookup"}}}
	err = c.Chat(ctx, &api.ChatRequest{Model: "llama3", Stream: &stream, Tools: tools,
		Messages: []api.Message{{Role: "user", Content: "please call lookup"}}}, func(r api.ChatResponse) error {
		parts = append(parts, r)
		return nil
	})
	require.NoError(t, err)
	require.Len(t, parts, 1)
	calls := parts[0].Message.ToolCalls
	require.Len(t, calls, 1)
	require.Equal(t, "lookup", calls[0].Function.Name)
	v, ok := calls[0].Function.Arguments.Get("text")
	require.True(t, ok)
	require.Equal(t, "please call lookup", v)

	var gen []api.GenerateResponse
	err = c.Generate(ctx, &api.GenerateRequest{Model: "llama3", Prompt: "a b c", Options: map[string]any{"num_predict": 2}}, func(r api.GenerateResponse) error {
		gen = append(gen, r)
		return nil
	})
	require.NoError(t, err)
	require.Len(t, gen, 3)
	require.Equal(t, "length", gen[2].DoneReason)
	require.NotEmpty(t, gen[2].Context)

	emb, err := c.Embed(ctx, &api.EmbedRequest{Model: "e", Input: []string{"a", "b"}, Dimensions: 3})
	require.NoError(t, err)
	require.Len(t, emb.Embeddings, 2)
	require.Equal(t, llmtest.Vector("a", 3), emb.Embeddings[0])

	list, err := c.List(ctx)
	require.NoError(t, err)
	require.Len(t, list.Models, 2)
	ver, err := c.Version(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, ver)

	srv.FailNext(1, http.StatusServiceUnavailable)
	_, err = c.List(ctx)
	var se api.StatusError
	require.True(t, errors.As(err, &se), "%v", err)
	require.Equal(t, http.StatusServiceUnavailable, se.StatusCode)
}
