package gateway

import (
	"context"
	"net/http"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm/llmtest"
)

func TestSmokeChatThroughSDK(t *testing.T) {
	h := startGateway(t, fakeConfig)
	c := h.client()
	for _, model := range []string{"chat", "ollama-chat"} {
		resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model:    model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello there")},
		})
		require.NoError(t, err, model)
		require.Equal(t, llmtest.Reply("hello there"), resp.Choices[0].Message.Content)
	}
	status, hdr, _ := h.post("/v1/chat/completions", chatBody("chat", "hi"))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "fake/fake-chat", hdr.Get(HeaderTarget))
	require.NotEmpty(t, hdr.Get(HeaderOverhead))
}
