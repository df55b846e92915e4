package ollama

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/wire"
)

// converter turns Ollama responses into OpenAI shapes, keeping what one
// stream needs across chunks.
type converter struct {
	id        string
	created   int64
	model     string
	sentRole  bool
	toolIndex int
	sawTools  bool
}

func newConverter(prefix, model string) *converter {
	return &converter{id: wire.NewID(prefix), created: time.Now().Unix(), model: model}
}

func (c *converter) setModel(m string) {
	if m != "" {
		c.model = m
	}
}

func callID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "call_" + hex.EncodeToString(b[:])
}

// toolCalls maps Ollama tool calls; indexed sets the streamed index.
func (c *converter) toolCalls(calls []api.ToolCall, indexed bool) ([]wire.ToolCall, error) {
	out := make([]wire.ToolCall, 0, len(calls))
	for _, tc := range calls {
		args, err := json.Marshal(tc.Function.Arguments)
		if err != nil {
			return nil, fmt.Errorf("encode tool arguments: %w: %w", llm.ErrBadUpstream, err)
		}
		id := tc.ID
		if id == "" {
			id = callID()
		}
		w := wire.ToolCall{ID: id, Type: "function", Function: wire.FunctionCall{Name: tc.Function.Name, Arguments: string(args)}}
		if indexed {
			w.Index = wire.Ptr(c.toolIndex)
		}
		c.toolIndex++
		c.sawTools = true
		out = append(out, w)
	}
	return out, nil
}

func (c *converter) finish(doneReason string) string {
	switch {
	case c.sawTools:
		return wire.FinishToolCalls
	case doneReason == "length":
		return wire.FinishLength
	}
	return wire.FinishStop
}

func usage(m api.Metrics) llm.Usage {
	return llm.Usage{PromptTokens: m.PromptEvalCount, CompletionTokens: m.EvalCount, TotalTokens: m.PromptEvalCount + m.EvalCount}
}

// chatLogprobs maps Ollama logprobs to OpenAI's chat logprobs object.
func chatLogprobs(lps []api.Logprob) json.RawMessage {
	if len(lps) == 0 {
		return wire.Null
	}
	type tokenLP struct {
		Token       string    `json:"token"`
		Logprob     float64   `json:"logprob"`
		Bytes       []int     `json:"bytes"`
		TopLogprobs []tokenLP `json:"top_logprobs"`
	}
	content := make([]tokenLP, len(lps))
	for i, lp := range lps {
		t := tokenLP{Token: lp.Token, Logprob: lp.Logprob, Bytes: lp.Bytes, TopLogprobs: []tokenLP{}}
		for _, top := range lp.TopLogprobs {
			t.TopLogprobs = append(t.TopLogprobs, tokenLP{Token: top.Token, Logprob: top.Logprob, Bytes: top.Bytes, TopLogprobs: nil})
		}
		content[i] = t
	}
	raw, err := json.Marshal(map[string]any{"content": content, "refusal": nil})
	if err != nil {
		return wire.Null
	}
	return raw
}

// textLogprobs maps Ollama logprobs to the completions logprobs object.
func textLogprobs(lps []api.Logprob) json.RawMessage {
	if len(lps) == 0 {
		return wire.Null
	}
	tokens := make([]string, len(lps))
	values := make([]float64, len(lps))
	tops := make([]map[string]float64, len(lps))
	for i, lp := range lps {
		tokens[i], values[i] = lp.Token, lp.Logprob
		tops[i] = make(map[string]float64, len(lp.TopLogprobs))
		for _, t := range lp.TopLogprobs {
			tops[i][t.Token] = t.Logprob
		}
	}
	raw, err := json.Marshal(map[string]any{"tokens": tokens, "token_logprobs": values, "top_logprobs": tops})
	if err != nil {
		return wire.Null
	}
	return raw
}

// chatCompletion maps a complete /api/chat answer.
func chatCompletion(r *api.ChatResponse, model string) (*llm.Response, error) {
	c := newConverter("chatcmpl", model)
	c.setModel(r.Model)
	calls, err := c.toolCalls(r.Message.ToolCalls, false)
	if err != nil {
		return nil, err
	}
	msg := wire.ResponseMessage{Role: "assistant", ToolCalls: calls}
	if r.Message.Content != "" || len(calls) == 0 {
		msg.Content = wire.Ptr(r.Message.Content)
	}
	u := usage(r.Metrics)
	out := wire.ChatCompletion{
		ID: c.id, Object: wire.ObjectChatCompletion, Created: c.created, Model: c.model,
		Choices: []wire.ChatChoice{{Message: msg, Logprobs: chatLogprobs(r.Logprobs), FinishReason: c.finish(r.DoneReason)}},
		Usage:   &u,
	}
	return marshalResponse(out, c.model, u)
}

// textCompletion maps a complete /api/generate answer.
func textCompletion(r *api.GenerateResponse, model string) (*llm.Response, error) {
	c := newConverter("cmpl", model)
	c.setModel(r.Model)
	u := usage(r.Metrics)
	out := wire.TextCompletion{
		ID: c.id, Object: wire.ObjectTextCompletion, Created: c.created, Model: c.model,
		Choices: []wire.TextChoice{{Text: r.Response, Logprobs: textLogprobs(r.Logprobs), FinishReason: wire.Ptr(c.finish(r.DoneReason))}},
		Usage:   &u,
	}
	return marshalResponse(out, c.model, u)
}

func marshalResponse(v any, model string, u llm.Usage) (*llm.Response, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode response: %w", err)
	}
	return &llm.Response{Body: body, Model: model, Usage: u}, nil
}

// chatChunks maps one streamed /api/chat line to chunks: a content or tool
// call delta, and after the last line the finish chunk and the usage chunk.
func (c *converter) chatChunks(r *api.ChatResponse) ([]llm.Chunk, error) {
	c.setModel(r.Model)
	calls, err := c.toolCalls(r.Message.ToolCalls, true)
	if err != nil {
		return nil, err
	}
	var out []llm.Chunk
	delta := wire.Delta{ToolCalls: calls}
	if r.Message.Content != "" {
		delta.Content = wire.Ptr(r.Message.Content)
	}
	hasDelta := delta.Content != nil || len(calls) > 0 || len(r.Logprobs) > 0
	if !c.sentRole && (hasDelta || r.Done) {
		delta.Role = "assistant"
		c.sentRole = true
		if delta.Content == nil && len(calls) == 0 {
			delta.Content = wire.Ptr("")
		}
		hasDelta = true
	}
	if hasDelta {
		ch, err := c.chatChunk(wire.ChunkChoice{Delta: delta, Logprobs: chatLogprobs(r.Logprobs)}, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	if r.Done {
		ch, err := c.chatChunk(wire.ChunkChoice{Logprobs: wire.Null, FinishReason: wire.Ptr(c.finish(r.DoneReason))}, nil)
		if err != nil {
			return nil, err
		}
		u := usage(r.Metrics)
		uc, err := c.chatChunk(wire.ChunkChoice{}, &u)
		if err != nil {
			return nil, err
		}
		out = append(out, ch, uc)
	}
	return out, nil
}

// chatChunk encodes one chunk; a non-nil u makes it the usage-only chunk.
func (c *converter) chatChunk(choice wire.ChunkChoice, u *llm.Usage) (llm.Chunk, error) {
	out := wire.ChatCompletionChunk{ID: c.id, Object: wire.ObjectChatCompletionChunk, Created: c.created, Model: c.model}
	if u == nil {
		out.Choices = []wire.ChunkChoice{choice}
	} else {
		out.Choices = []wire.ChunkChoice{}
		out.Usage = u
	}
	data, err := json.Marshal(out)
	if err != nil {
		return llm.Chunk{}, fmt.Errorf("encode chunk: %w", err)
	}
	return llm.Chunk{Data: data, Usage: u, UsageOnly: u != nil}, nil
}

// textChunks maps one streamed /api/generate line.
func (c *converter) textChunks(r *api.GenerateResponse) ([]llm.Chunk, error) {
	c.setModel(r.Model)
	var out []llm.Chunk
	if r.Response != "" || len(r.Logprobs) > 0 {
		ch, err := c.textChunk([]wire.TextChoice{{Text: r.Response, Logprobs: textLogprobs(r.Logprobs)}}, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	if r.Done {
		ch, err := c.textChunk([]wire.TextChoice{{Logprobs: wire.Null, FinishReason: wire.Ptr(c.finish(r.DoneReason))}}, nil)
		if err != nil {
			return nil, err
		}
		u := usage(r.Metrics)
		uc, err := c.textChunk([]wire.TextChoice{}, &u)
		if err != nil {
			return nil, err
		}
		out = append(out, ch, uc)
	}
	return out, nil
}

func (c *converter) textChunk(choices []wire.TextChoice, u *llm.Usage) (llm.Chunk, error) {
	data, err := json.Marshal(wire.TextCompletion{
		ID: c.id, Object: wire.ObjectTextCompletion, Created: c.created, Model: c.model, Choices: choices, Usage: u,
	})
	if err != nil {
		return llm.Chunk{}, fmt.Errorf("encode chunk: %w", err)
	}
	return llm.Chunk{Data: data, Usage: u, UsageOnly: u != nil}, nil
}
