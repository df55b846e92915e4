package builtin

import (
	"strings"

	"github.com/ragway/ragway/embed/lexical"
	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/wire"
)

// choice is the text of one choice and why it ended.
type choice struct {
	text   string
	finish string
}

// choices answers every prompt, n times each, in OpenAI's choice order.
func (t *task) choices() []choice {
	out := make([]choice, 0, len(t.prompts)*t.n)
	for _, p := range t.prompts {
		c := limit(answer(p), t.stop, t.maxTokens)
		for range t.n {
			out = append(out, c)
		}
	}
	return out
}

// usage counts tokens with the lexical tokeniser. It approximates what a
// model tokenizer would report; subword tokenizers count somewhat more.
func (t *task) usage(cs []choice) llm.Usage {
	u := llm.Usage{PromptTokens: t.promptTokens}
	for _, c := range cs {
		u.CompletionTokens += lexical.CountTokens(c.text)
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

// limit cuts text at the first stop sequence (finish "stop") and then to
// maxTokens tokens, at a word boundary (finish "length").
func limit(text string, stop []string, maxTokens int) choice {
	for _, s := range stop {
		if i := strings.Index(text, s); i >= 0 {
			text = text[:i]
		}
	}
	text = strings.TrimRight(text, " ")
	if maxTokens <= 0 {
		return choice{text, wire.FinishStop}
	}
	n, end := 0, 0
	for _, w := range words(text) {
		n += lexical.CountTokens(w)
		if n > maxTokens {
			return choice{strings.TrimRight(text[:end], " "), wire.FinishLength}
		}
		end += len(w) + 1
	}
	return choice{text, wire.FinishStop}
}

// words splits an answer into the pieces streamed one per chunk. Answers
// are single-space separated, so joining the pieces with spaces gives the
// answer back.
func words(text string) []string {
	if text == "" {
		return nil
	}
	return strings.Split(text, " ")
}

func chatCompletion(id string, created int64, model string, cs []choice, u llm.Usage) *wire.ChatCompletion {
	out := &wire.ChatCompletion{
		ID: id, Object: wire.ObjectChatCompletion, Created: created, Model: model,
		Choices: make([]wire.ChatChoice, len(cs)), Usage: &u,
	}
	for i, c := range cs {
		out.Choices[i] = wire.ChatChoice{
			Index:        i,
			Message:      wire.ResponseMessage{Role: "assistant", Content: wire.Ptr(c.text)},
			Logprobs:     wire.Null,
			FinishReason: c.finish,
		}
	}
	return out
}

func textCompletion(id string, created int64, model string, cs []choice, u llm.Usage) *wire.TextCompletion {
	out := &wire.TextCompletion{
		ID: id, Object: wire.ObjectTextCompletion, Created: created, Model: model,
		Choices: make([]wire.TextChoice, len(cs)), Usage: &u,
	}
	for i, c := range cs {
		out.Choices[i] = wire.TextChoice{Index: i, Text: c.text, Logprobs: wire.Null, FinishReason: wire.Ptr(c.finish)}
	}
	return out
}

// chatChunks returns the stream of a chat completion: per choice a role
// chunk, one chunk per word and a chunk with the finish reason; then a
// usage-only chunk.
func chatChunks(id string, created int64, model string, cs []choice, u llm.Usage) []event {
	chunk := func(c wire.ChunkChoice) event {
		return event{payload: &wire.ChatCompletionChunk{
			ID: id, Object: wire.ObjectChatCompletionChunk, Created: created, Model: model,
			Choices: []wire.ChunkChoice{c},
		}}
	}
	var out []event
	for i, c := range cs {
		out = append(out, chunk(wire.ChunkChoice{Index: i, Delta: wire.Delta{Role: "assistant", Content: wire.Ptr("")}, Logprobs: wire.Null}))
		for j, w := range words(c.text) {
			if j > 0 {
				w = " " + w
			}
			out = append(out, chunk(wire.ChunkChoice{Index: i, Delta: wire.Delta{Content: wire.Ptr(w)}, Logprobs: wire.Null}))
		}
		out = append(out, chunk(wire.ChunkChoice{Index: i, Logprobs: wire.Null, FinishReason: wire.Ptr(c.finish)}))
	}
	return append(out, event{
		payload: &wire.ChatCompletionChunk{
			ID: id, Object: wire.ObjectChatCompletionChunk, Created: created, Model: model,
			Choices: []wire.ChunkChoice{}, Usage: &u,
		},
		usage: &u,
	})
}

// textChunks returns the stream of a text completion, shaped like
// chatChunks without the role chunk.
func textChunks(id string, created int64, model string, cs []choice, u llm.Usage) []event {
	chunk := func(c wire.TextChoice) event {
		c.Logprobs = wire.Null
		return event{payload: &wire.TextCompletion{
			ID: id, Object: wire.ObjectTextCompletion, Created: created, Model: model,
			Choices: []wire.TextChoice{c},
		}}
	}
	var out []event
	for i, c := range cs {
		for j, w := range words(c.text) {
			if j > 0 {
				w = " " + w
			}
			out = append(out, chunk(wire.TextChoice{Index: i, Text: w}))
		}
		out = append(out, chunk(wire.TextChoice{Index: i, FinishReason: wire.Ptr(c.finish)}))
	}
	return append(out, event{
		payload: &wire.TextCompletion{
			ID: id, Object: wire.ObjectTextCompletion, Created: created, Model: model,
			Choices: []wire.TextChoice{}, Usage: &u,
		},
		usage: &u,
	})
}
