package tokens

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/wire"
)

// Overheads OpenAI documents for chat models ("How to count tokens with
// tiktoken"): every message costs 3 tokens beyond its content, a name 1 more,
// and the reply is primed with 3.
const (
	TokensPerMessage = 3
	TokensPerName    = 1
	ReplyPriming     = 3
)

// Image and tool costs. Images are counted as OpenAI bills them without
// knowing the image size: 85 tokens at "low" detail, 765 (a 1024x1024 image)
// otherwise. Tool definitions are an approximation of how OpenAI renders them
// into the prompt: a fixed cost per function and for the tool block, plus the
// tokens of the name, description and JSON schema.
const (
	ImageLowDetailTokens  = 85
	ImageHighDetailTokens = 765
	toolFunctionOverhead  = 7
	toolBlockOverhead     = 12
	maxMessages           = 1 << 16
)

// Chat counts the prompt tokens of a chat completion: messages with their
// per-message overhead, plus tool definitions.
func (c *Counter) Chat(model string, messages []wire.Message, tools []wire.Tool) (int, error) {
	tk, err := c.encoderFor(model)
	if err != nil {
		return 0, err
	}
	if len(messages) > maxMessages {
		return 0, fmt.Errorf("count chat: %d messages is more than %d", len(messages), maxMessages)
	}
	n := ReplyPriming
	for i := range messages {
		n += messageTokens(tk, &messages[i])
	}
	if len(tools) > 0 {
		n += toolBlockOverhead
		for i := range tools {
			f := &tools[i].Function
			n += toolFunctionOverhead + countText(tk, f.Name) + countText(tk, f.Description) + countText(tk, string(f.Parameters))
		}
	}
	return n, nil
}

func messageTokens(tk *encoder, m *wire.Message) int {
	n := TokensPerMessage + countText(tk, m.Role)
	if m.Name != "" {
		n += TokensPerName + countText(tk, m.Name)
	}
	n += contentTokens(tk, m.Content)
	for _, tc := range m.ToolCalls {
		n += countText(tk, tc.Function.Name) + countText(tk, tc.Function.Arguments)
	}
	if m.ToolCallID != "" {
		n += countText(tk, m.ToolCallID)
	}
	return n
}

// contentTokens counts a message's content: a JSON string or an array of
// content parts. Anything else is counted as its raw JSON text.
func contentTokens(tk *encoder, raw json.RawMessage) int {
	if len(raw) == 0 || string(raw) == "null" {
		return 0
	}
	if s, ok := plainString(raw); ok {
		return countText(tk, s)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return countText(tk, s)
	}
	var parts []wire.ContentPart
	if json.Unmarshal(raw, &parts) != nil {
		return countText(tk, string(raw))
	}
	n := 0
	for _, p := range parts {
		switch {
		case p.ImageURL != nil && p.ImageURL.Detail == "low":
			n += ImageLowDetailTokens
		case p.ImageURL != nil:
			n += ImageHighDetailTokens
		default:
			n += countText(tk, p.Text)
		}
	}
	return n
}

// plainString returns the text of raw when raw is a JSON string that needs
// no decoding: quoted, valid UTF-8, with no escape, no quote and no control
// character inside. That is most message content, and it skips
// json.Unmarshal's validating scan and unquoting, half of counting a chat.
// Anything else reports false and goes through json.Unmarshal.
func plainString(raw []byte) (string, bool) {
	n := len(raw)
	if n < 2 || raw[0] != '"' || raw[n-1] != '"' {
		return "", false
	}
	body := raw[1 : n-1]
	for _, b := range body {
		if b < 0x20 || b == '"' || b == '\\' {
			return "", false
		}
	}
	if !utf8.Valid(body) {
		return "", false
	}
	return string(body), true
}

// Prompt counts a legacy completions prompt: a string, an array of strings,
// or token arrays (counted by length).
func (c *Counter) Prompt(model string, prompt json.RawMessage) (int, error) {
	tk, err := c.encoderFor(model)
	if err != nil {
		return 0, err
	}
	if len(prompt) == 0 || string(prompt) == "null" {
		return 0, nil
	}
	if s, ok := plainString(prompt); ok {
		return countText(tk, s), nil
	}
	var s string
	if json.Unmarshal(prompt, &s) == nil {
		return countText(tk, s), nil
	}
	var ss []string
	if json.Unmarshal(prompt, &ss) == nil {
		return sumTexts(tk, ss), nil
	}
	var ids []int
	if json.Unmarshal(prompt, &ids) == nil {
		return len(ids), nil
	}
	var idss [][]int
	if json.Unmarshal(prompt, &idss) == nil {
		n := 0
		for _, ids := range idss {
			n += len(ids)
		}
		return n, nil
	}
	return 0, fmt.Errorf("count prompt: %w", llm.InvalidRequest("prompt", "prompt must be a string, an array of strings or token arrays"))
}

// Embedding counts the tokens of embedding inputs (no per-input overhead).
func (c *Counter) Embedding(model string, input []string) (int, error) {
	tk, err := c.encoderFor(model)
	if err != nil {
		return 0, err
	}
	return sumTexts(tk, input), nil
}

func sumTexts(tk *encoder, texts []string) int {
	n := 0
	for _, t := range texts {
		n += countText(tk, t)
	}
	return n
}

// Request counts the prompt of a generation request: "messages" and
// "tools" for chat, "prompt" for completions. The model is req.Model.
func (c *Counter) Request(req *llm.Request) (int, error) {
	if req.Endpoint == llm.Completions {
		return c.Prompt(req.Model, req.Fields["prompt"])
	}
	var messages []wire.Message
	if _, err := req.Field("messages", &messages); err != nil {
		return 0, fmt.Errorf("count request: %w", err)
	}
	var tools []wire.Tool
	if _, err := req.Field("tools", &tools); err != nil {
		return 0, fmt.Errorf("count request: %w", err)
	}
	return c.Chat(req.Model, messages, tools)
}

// MaxTokens returns the completion cap a request asks for:
// "max_completion_tokens", else "max_tokens", else 0. Malformed or negative
// values count as 0 (request validation reports them).
func MaxTokens(req *llm.Request) int {
	for _, name := range []string{"max_completion_tokens", "max_tokens"} {
		var n int
		if ok, err := req.Field(name, &n); ok && err == nil && n > 0 {
			return n
		}
	}
	return 0
}
