package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/gateway/config"
	"github.com/ragway/ragway/llm/llmtest"
)

// e2eRoutes are the chat routes of fakeConfig, one per backend type, with the
// target label each answers with and the fake's path it reaches.
var e2eRoutes = []struct {
	model  string
	target string
	path   string
}{
	{"chat", "fake/fake-chat", "/v1/chat/completions"},
	{"ollama-chat", "fakeollama/fake-chat", "/api/chat"},
}

var overheadFormat = regexp.MustCompile(`^[0-9]+\.[0-9]{3}$`)

// requireGatewayHeaders checks the headers every gateway response carries.
func requireGatewayHeaders(t *testing.T, h http.Header, target string) {
	t.Helper()
	require.Equal(t, target, h.Get(HeaderTarget))
	v := h.Get(HeaderOverhead)
	require.Regexp(t, overheadFormat, v, "overhead header has sub-millisecond precision")
	ms, err := strconv.ParseFloat(v, 64)
	require.NoError(t, err)
	require.GreaterOrEqual(t, ms, 0.0)
	require.Less(t, ms, 5000.0)
	require.NotEmpty(t, h.Get(HeaderRequestID))
}

// startGatewayEnv is startGatewayWith with an environment for config.Parse,
// for configurations that read secrets.
func startGatewayEnv(t *testing.T, fake *llmtest.Server, yamlText string, env map[string]string) *harness {
	t.Helper()
	return startGatewayFull(t, fake, yamlText, env, "")
}

// startE2E is startGateway for tests that use the SDK client. Its cleanup
// closes the client's idle connections before the gateway shuts down: the
// server counts a connection that never carried a request as active for 5s,
// which would hold up the shutdown.
func startE2E(t *testing.T, yamlText string, opts ...llmtest.Option) *harness {
	t.Helper()
	h := startGateway(t, yamlText, opts...)
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	return h
}

func weatherTool() openai.ChatCompletionToolUnionParam {
	return openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:        "get_weather",
		Description: openai.String("Weather in a city"),
		Parameters: shared.FunctionParameters{
			"type":       "object",
			"properties": map[string]any{"text": map[string]any{"type": "string"}},
			"required":   []string{"text"},
		},
	})
}

func TestE2EChat(t *testing.T) {
	h := startE2E(t, fakeConfig)
	c := h.client()
	ctx := context.Background()
	for _, r := range e2eRoutes {
		t.Run(r.model, func(t *testing.T) {
			var raw *http.Response
			text := "what is the capital of France"
			resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
				Model: r.model,
				Messages: []openai.ChatCompletionMessageParamUnion{
					openai.SystemMessage("be brief"),
					openai.UserMessage(text),
				},
			}, option.WithResponseInto(&raw))
			require.NoError(t, err)
			require.Equal(t, "chat.completion", string(resp.Object))
			require.NotEmpty(t, resp.ID)
			require.Len(t, resp.Choices, 1)
			ch := resp.Choices[0]
			require.Equal(t, llmtest.Reply(text), ch.Message.Content)
			require.Equal(t, "assistant", string(ch.Message.Role))
			require.Equal(t, "stop", ch.FinishReason)
			require.Empty(t, ch.Message.ToolCalls)
			wantPrompt := int64(llmtest.PromptTokens("be brief", text))
			wantCompletion := int64(len(strings.Fields(llmtest.Reply(text))))
			require.Equal(t, wantPrompt, resp.Usage.PromptTokens)
			require.Equal(t, wantCompletion, resp.Usage.CompletionTokens)
			require.Equal(t, wantPrompt+wantCompletion, resp.Usage.TotalTokens)
			requireGatewayHeaders(t, raw.Header, r.target)
			require.Contains(t, raw.Header.Get("Content-Type"), "application/json")

			// The upstream received the upstream model, not the route name.
			rec, ok := h.fake.LastRequest(r.path)
			require.True(t, ok)
			require.Equal(t, "fake-chat", rec.Model)
		})
	}
}

func TestE2EChatLengthLimit(t *testing.T) {
	h := startE2E(t, fakeConfig)
	c := h.client()
	for _, r := range e2eRoutes {
		t.Run(r.model, func(t *testing.T) {
			resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
				Model:     r.model,
				Messages:  []openai.ChatCompletionMessageParamUnion{openai.UserMessage("one two three four five")},
				MaxTokens: openai.Int(3),
			})
			require.NoError(t, err)
			require.Equal(t, "echo: one two", resp.Choices[0].Message.Content)
			require.Equal(t, "length", resp.Choices[0].FinishReason)
			require.Equal(t, int64(3), resp.Usage.CompletionTokens)
		})
	}
}

func TestE2EToolCalls(t *testing.T) {
	h := startE2E(t, fakeConfig)
	c := h.client()
	ctx := context.Background()
	text := "please call get_weather for Paris"
	for _, r := range e2eRoutes {
		t.Run(r.model+"/non-streaming", func(t *testing.T) {
			params := openai.ChatCompletionNewParams{
				Model:    r.model,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)},
				Tools:    []openai.ChatCompletionToolUnionParam{weatherTool()},
			}
			resp, err := c.Chat.Completions.New(ctx, params)
			require.NoError(t, err)
			ch := resp.Choices[0]
			require.Equal(t, "tool_calls", ch.FinishReason)
			require.Len(t, ch.Message.ToolCalls, 1)
			call := ch.Message.ToolCalls[0]
			require.Equal(t, "get_weather", call.Function.Name)
			require.NotEmpty(t, call.ID)
			require.JSONEq(t, llmtest.ToolArguments(text), call.Function.Arguments)

			// The upstream was offered the tool.
			rec, ok := h.fake.LastRequest(r.path)
			require.True(t, ok)
			require.Contains(t, string(rec.Body), `"get_weather"`)

			requireToolFollowUp(t, h, c, r.path, params, ch.Message.ToParam(), call.ID)
		})
		t.Run(r.model+"/streaming", func(t *testing.T) {
			params := openai.ChatCompletionNewParams{
				Model:    r.model,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)},
				Tools:    []openai.ChatCompletionToolUnionParam{weatherTool()},
			}
			stream := c.Chat.Completions.NewStreaming(ctx, params)
			defer stream.Close()
			acc := openai.ChatCompletionAccumulator{}
			finished := 0
			for stream.Next() {
				require.True(t, acc.AddChunk(stream.Current()))
				if tc, ok := acc.JustFinishedToolCall(); ok {
					finished++
					require.Equal(t, "get_weather", tc.Name)
					require.JSONEq(t, llmtest.ToolArguments(text), tc.Arguments)
				}
			}
			require.NoError(t, stream.Err())
			require.Equal(t, 1, finished)
			require.Len(t, acc.Choices, 1)
			ch := acc.Choices[0]
			require.Equal(t, "tool_calls", ch.FinishReason)
			require.Len(t, ch.Message.ToolCalls, 1)
			call := ch.Message.ToolCalls[0]
			require.Equal(t, "get_weather", call.Function.Name)
			require.NotEmpty(t, call.ID)
			require.JSONEq(t, llmtest.ToolArguments(text), call.Function.Arguments)

			requireToolFollowUp(t, h, c, r.path, params, ch.Message.ToParam(), call.ID)
		})
	}
}

// requireToolFollowUp sends the tool's result back after the assistant's
// tool call and checks the model answers from it.
func requireToolFollowUp(t *testing.T, h *harness, c openai.Client, path string, params openai.ChatCompletionNewParams,
	assistant openai.ChatCompletionMessageParamUnion, callID string) {
	t.Helper()
	result := "sunny and 24 degrees"
	params.Messages = append(params.Messages, assistant, openai.ToolMessage(result, callID))
	resp, err := c.Chat.Completions.New(context.Background(), params)
	require.NoError(t, err)
	require.Equal(t, llmtest.Reply(result), resp.Choices[0].Message.Content)
	require.Equal(t, "stop", resp.Choices[0].FinishReason)
	require.Empty(t, resp.Choices[0].Message.ToolCalls)

	rec, ok := h.fake.LastRequest(path)
	require.True(t, ok)
	var body struct {
		Messages []struct {
			Role       string `json:"role"`
			ToolCallID string `json:"tool_call_id"`
			ToolCalls  []struct {
				Function struct {
					Name string `json:"name"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"messages"`
	}
	require.NoError(t, json.Unmarshal(rec.Body, &body))
	require.Len(t, body.Messages, 3)
	require.Equal(t, "assistant", body.Messages[1].Role)
	require.Len(t, body.Messages[1].ToolCalls, 1)
	require.Equal(t, "get_weather", body.Messages[1].ToolCalls[0].Function.Name)
	require.Equal(t, "tool", body.Messages[2].Role)
	if path == "/v1/chat/completions" {
		require.Equal(t, callID, body.Messages[2].ToolCallID)
	}
}

func TestE2EPassThrough(t *testing.T) {
	h := startE2E(t, fakeConfig)
	var sent []byte
	capture := option.WithMiddleware(func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		sent = b
		req.Body = io.NopCloser(bytes.NewReader(b))
		return next(req)
	})
	c := h.client(capture)
	resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "chat",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("give me json")},
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{
			OfJSONObject: &shared.ResponseFormatJSONObjectParam{},
		},
		N:                   openai.Int(2),
		Stop:                openai.ChatCompletionNewParamsStopUnion{OfStringArray: []string{"END", "STOP"}},
		Temperature:         openai.Float(0.25),
		TopP:                openai.Float(0.5),
		MaxTokens:           openai.Int(50),
		MaxCompletionTokens: openai.Int(40),
		Seed:                openai.Int(42),
		Logprobs:            openai.Bool(true),
		TopLogprobs:         openai.Int(2),
		User:                openai.String("user-1234"),
	},
		option.WithJSONSet("x_vendor_extension", map[string]any{"mode": "fast", "level": 3}),
		option.WithJSONSet("repetition_penalty", 1.1),
	)
	require.NoError(t, err)
	require.Len(t, resp.Choices, 2, "n=2 reached the upstream")

	var client, upstream map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(sent, &client))
	rec, ok := h.fake.LastRequest("/v1/chat/completions")
	require.True(t, ok)
	require.NoError(t, json.Unmarshal(rec.Body, &upstream))

	for _, k := range []string{"response_format", "n", "stop", "temperature", "top_p", "max_tokens",
		"max_completion_tokens", "seed", "logprobs", "top_logprobs", "user", "x_vendor_extension", "repetition_penalty"} {
		require.Contains(t, client, k, "the SDK sent %s", k)
	}
	for k, v := range client {
		if k == "model" {
			continue
		}
		require.Contains(t, upstream, k)
		require.JSONEq(t, string(v), string(upstream[k]), "field %s", k)
	}
	require.JSONEq(t, `"fake-chat"`, string(upstream["model"]))
	for k := range upstream {
		if _, ok := client[k]; !ok {
			require.Equal(t, "stream", k, "the gateway added only stream")
			require.JSONEq(t, "false", string(upstream[k]))
		}
	}
}

func TestE2ELegacyCompletions(t *testing.T) {
	h := startE2E(t, fakeConfig)
	c := h.client()
	ctx := context.Background()
	prompt := "once upon a time"
	for _, r := range []struct{ model, target, path string }{
		{"chat", "fake/fake-chat", "/v1/completions"},
		{"ollama-chat", "fakeollama/fake-chat", "/api/generate"},
	} {
		t.Run(r.model+"/non-streaming", func(t *testing.T) {
			var raw *http.Response
			resp, err := c.Completions.New(ctx, openai.CompletionNewParams{
				Model:  openai.CompletionNewParamsModel(r.model),
				Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String(prompt)},
			}, option.WithResponseInto(&raw))
			require.NoError(t, err)
			require.Equal(t, "text_completion", string(resp.Object))
			require.Len(t, resp.Choices, 1)
			require.Equal(t, llmtest.Reply(prompt), resp.Choices[0].Text)
			require.Equal(t, openai.CompletionChoiceFinishReason("stop"), resp.Choices[0].FinishReason)
			require.Equal(t, int64(llmtest.PromptTokens(prompt)), resp.Usage.PromptTokens)
			require.Equal(t, int64(len(strings.Fields(llmtest.Reply(prompt)))), resp.Usage.CompletionTokens)
			requireGatewayHeaders(t, raw.Header, r.target)
			rec, ok := h.fake.LastRequest(r.path)
			require.True(t, ok)
			require.Equal(t, "fake-chat", rec.Model)
		})
		t.Run(r.model+"/streaming", func(t *testing.T) {
			stream := c.Completions.NewStreaming(ctx, openai.CompletionNewParams{
				Model:         openai.CompletionNewParamsModel(r.model),
				Prompt:        openai.CompletionNewParamsPromptUnion{OfString: openai.String(prompt)},
				StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
			})
			defer stream.Close()
			var text strings.Builder
			finish := ""
			var usage *openai.CompletionUsage
			for stream.Next() {
				cur := stream.Current()
				for _, ch := range cur.Choices {
					text.WriteString(ch.Text)
					if ch.FinishReason != "" {
						finish = string(ch.FinishReason)
					}
				}
				if cur.JSON.Usage.Valid() && cur.Usage.TotalTokens > 0 {
					u := cur.Usage
					usage = &u
				}
			}
			require.NoError(t, stream.Err())
			require.Equal(t, llmtest.Reply(prompt), text.String())
			require.Equal(t, "stop", finish)
			require.NotNil(t, usage, "the usage chunk arrived")
			require.Equal(t, int64(llmtest.PromptTokens(prompt)), usage.PromptTokens)
		})
	}
}

func TestE2EEmbeddings(t *testing.T) {
	h := startE2E(t, fakeConfig)
	c := h.client()
	ctx := context.Background()
	inputs := []string{"the quick brown fox", "jumps over", "the lazy dog"}
	for _, r := range []struct{ model, target, path string }{
		{"embed", "fake/fake-embed", "/v1/embeddings"},
		{"ollama-embed", "fakeollama/fake-embed", "/api/embed"},
	} {
		for _, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
			for _, dim := range []int{0, 8} {
				t.Run(fmt.Sprintf("%s/%s/dim%d", r.model, format, dim), func(t *testing.T) {
					var raw *http.Response
					params := openai.EmbeddingNewParams{
						Model:          openai.EmbeddingModel(r.model),
						Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
						EncodingFormat: format,
					}
					wantDim := 16
					if dim > 0 {
						params.Dimensions = openai.Int(int64(dim))
						wantDim = dim
					}
					resp, err := c.Embeddings.New(ctx, params, option.WithResponseInto(&raw))
					require.NoError(t, err)
					requireGatewayHeaders(t, raw.Header, r.target)
					require.Len(t, resp.Data, len(inputs))
					for i, d := range resp.Data {
						require.Equal(t, int64(i), d.Index)
						if format == openai.EmbeddingNewParamsEncodingFormatBase64 {
							require.True(t, strings.HasPrefix(d.JSON.Embedding.Raw(), `"`), "embedding sent as base64")
						} else {
							require.True(t, strings.HasPrefix(d.JSON.Embedding.Raw(), `[`), "embedding sent as floats")
						}
						requireVector(t, llmtest.Vector(inputs[i], wantDim), d.Embedding)
					}
					require.Equal(t, int64(llmtest.PromptTokens(inputs...)), resp.Usage.PromptTokens)
					rec, ok := h.fake.LastRequest(r.path)
					require.True(t, ok)
					require.Equal(t, "fake-embed", rec.Model)
				})
			}
		}
	}
	t.Run("single string", func(t *testing.T) {
		resp, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model: "embed",
			Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello")},
		})
		require.NoError(t, err)
		require.Len(t, resp.Data, 1)
		requireVector(t, llmtest.Vector("hello", 16), resp.Data[0].Embedding)
	})
}

func requireVector(t *testing.T, want []float32, got []float64) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i], float32(got[i]), "component %d", i)
	}
}

const batchConfig = `
server: {addr: 127.0.0.1:0, shutdown_timeout: 5s}
backends:
  - name: fake
    type: openai
    url: {{FAKE}}
    timeouts: {connect: 1s, response: 5s, stream_idle: 2s}
    batch: {max_inputs: 64, max_wait: 100ms}
  - name: fakeollama
    type: ollama
    url: {{OLLAMA}}
    timeouts: {connect: 1s, response: 5s, stream_idle: 2s}
    batch: {max_inputs: 64, max_wait: 100ms}
routes:
  - model: embed
    targets: [{backend: fake, model: fake-embed}]
  - model: ollama-embed
    targets: [{backend: fakeollama, model: fake-embed}]
`

// TestE2EEmbeddingsConcurrent checks that concurrent callers, coalesced into
// upstream batches, each get the vectors of their own inputs.
func TestE2EEmbeddingsConcurrent(t *testing.T) {
	h := startE2E(t, batchConfig)
	c := h.client()
	for _, r := range []struct{ model, path string }{{"embed", "/v1/embeddings"}, {"ollama-embed", "/api/embed"}} {
		t.Run(r.model, func(t *testing.T) {
			const callers = 24
			before := h.fake.Count(r.path)
			type result struct {
				inputs []string
				dim    int
				resp   *openai.CreateEmbeddingResponse
				err    error
			}
			results := make(chan result, callers)
			start := make(chan struct{})
			for i := range callers {
				inputs := []string{fmt.Sprintf("caller %d first", i)}
				if i%3 == 0 {
					inputs = append(inputs, fmt.Sprintf("caller %d second", i), fmt.Sprintf("caller %d third", i))
				}
				dim := 0
				if i%4 == 1 {
					dim = 8
				}
				go func() {
					<-start
					params := openai.EmbeddingNewParams{
						Model: openai.EmbeddingModel(r.model),
						Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
					}
					if dim > 0 {
						params.Dimensions = openai.Int(int64(dim))
					}
					resp, err := c.Embeddings.New(context.Background(), params)
					results <- result{inputs, dim, resp, err}
				}()
			}
			close(start)
			// Usage is apportioned over a batch's callers by input size, so
			// only the sum is exact.
			var gotTokens, wantTokens int64
			for range callers {
				res := <-results
				require.NoError(t, res.err)
				want := 16
				if res.dim > 0 {
					want = res.dim
				}
				require.Len(t, res.resp.Data, len(res.inputs))
				for j, d := range res.resp.Data {
					require.Equal(t, int64(j), d.Index)
					requireVector(t, llmtest.Vector(res.inputs[j], want), d.Embedding)
				}
				require.Positive(t, res.resp.Usage.PromptTokens)
				gotTokens += res.resp.Usage.PromptTokens
				wantTokens += int64(llmtest.PromptTokens(res.inputs...))
			}
			require.Equal(t, wantTokens, gotTokens)
			upstream := h.fake.Count(r.path) - before
			require.Less(t, upstream, callers, "concurrent calls were coalesced into batches")
		})
	}
}

func TestE2EModels(t *testing.T) {
	h := startE2E(t, fakeConfig)
	c := h.client()
	ctx := context.Background()
	page, err := c.Models.List(ctx)
	require.NoError(t, err)
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
		require.Equal(t, "model", string(m.Object))
		require.NotEmpty(t, m.OwnedBy)
		require.Positive(t, m.Created)
	}
	want := []string{"chat", "ollama-chat", "embed", "ollama-embed", config.BuiltinChatModel, config.BuiltinEmbedModel}
	require.ElementsMatch(t, want, ids)

	for _, id := range want {
		var raw *http.Response
		m, err := c.Models.Get(ctx, id, option.WithResponseInto(&raw))
		require.NoError(t, err, id)
		require.Equal(t, id, m.ID)
		require.Equal(t, "model", string(m.Object))
		require.NotEmpty(t, raw.Header.Get(HeaderOverhead))
	}

	_, err = c.Models.Get(ctx, "no-such-model")
	var apiErr *openai.Error
	require.True(t, errors.As(err, &apiErr), "error %v", err)
	require.Equal(t, http.StatusNotFound, apiErr.StatusCode)
	require.Equal(t, "model_not_found", apiErr.Code)
	require.Equal(t, "invalid_request_error", apiErr.Type)
	require.Contains(t, apiErr.Message, "no-such-model")
}
