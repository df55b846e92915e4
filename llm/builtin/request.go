package builtin

import (
	"encoding/json"
	"strings"

	"github.com/ragway/ragway/embed/lexical"
	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/wire"
)

// Bounds on what one request may ask for.
const (
	maxChoices    = 128 // n, times the number of prompts for completions
	maxStops      = 4
	maxStopLength = 1024
)

// prompt is one question and the context it is answered from.
type prompt struct {
	question string
	context  []string
}

// task is a decoded generation request.
type task struct {
	endpoint     llm.Endpoint
	prompts      []prompt
	promptTokens int
	n            int
	maxTokens    int // 0: no limit
	stop         []string
}

// decode reads the fields the answerer uses and refuses the ones it cannot
// honour. Everything else (temperature, top_p, seed, ...) is ignored.
func decode(req *llm.Request) (*task, error) {
	t := &task{endpoint: req.Endpoint, n: 1}
	var err error
	if req.Endpoint == llm.Completions {
		err = t.decodePrompt(req)
	} else {
		err = t.decodeMessages(req)
	}
	if err != nil {
		return nil, err
	}
	if err := t.decodeOptions(req); err != nil {
		return nil, err
	}
	if t.n*len(t.prompts) > maxChoices {
		return nil, llm.InvalidRequest("n", "n times the number of prompts must be at most %d", maxChoices)
	}
	return t, nil
}

func (t *task) decodeMessages(req *llm.Request) error {
	var msgs []wire.Message
	ok, err := req.Field("messages", &msgs)
	if err != nil {
		return err
	}
	if !ok || len(msgs) == 0 {
		return llm.InvalidRequest("messages", "messages must be a non-empty array")
	}
	texts := make([]string, len(msgs))
	question := -1
	for i, m := range msgs {
		text, other, err := wire.TextOf(m.Content)
		if err != nil {
			return llm.InvalidRequest("messages", "messages[%d].content: %v", i, err)
		}
		if len(other) > 0 {
			return llm.InvalidRequest("messages", "messages[%d].content: the built-in model reads text only, not %q parts", i, other[0].Type)
		}
		texts[i] = text
		t.promptTokens += lexical.CountTokens(text)
		if m.Role == "user" {
			question = i
		}
	}
	p := prompt{}
	for i, text := range texts {
		switch {
		case i == question:
			p.question = text
		case strings.TrimSpace(text) != "":
			p.context = append(p.context, text)
		}
	}
	t.prompts = []prompt{p}
	return nil
}

// decodePrompt reads the completions prompt: a string or an array of
// strings. In each prompt the last non-empty line is the question and the
// lines before it are the context.
func (t *task) decodePrompt(req *llm.Request) error {
	raw, ok := req.Fields["prompt"]
	if !ok || string(raw) == "null" {
		return llm.InvalidRequest("prompt", "prompt is required")
	}
	var texts []string
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		texts = []string{one}
	} else if err := json.Unmarshal(raw, &texts); err != nil {
		return llm.InvalidRequest("prompt", "prompt must be a string or an array of strings")
	}
	if len(texts) == 0 || len(texts) > maxChoices {
		return llm.InvalidRequest("prompt", "prompt must hold between 1 and %d strings", maxChoices)
	}
	for _, text := range texts {
		t.promptTokens += lexical.CountTokens(text)
		t.prompts = append(t.prompts, splitPrompt(text))
	}
	return nil
}

func splitPrompt(text string) prompt {
	text = strings.TrimRightFunc(text, isSpace)
	i := strings.LastIndexByte(text, '\n')
	if i < 0 {
		return prompt{question: text}
	}
	p := prompt{question: text[i+1:]}
	if ctx := text[:i]; strings.TrimSpace(ctx) != "" {
		p.context = []string{ctx}
	}
	return p
}

func (t *task) decodeOptions(req *llm.Request) error {
	if ok, err := req.Field("n", &t.n); err != nil {
		return err
	} else if ok && (t.n < 1 || t.n > maxChoices) {
		return llm.InvalidRequest("n", "n must be between 1 and %d", maxChoices)
	}
	for _, name := range []string{"max_completion_tokens", "max_tokens"} {
		var v int
		ok, err := req.Field(name, &v)
		if err != nil {
			return err
		}
		if ok && v < 1 {
			return llm.InvalidRequest(name, "%s must be at least 1", name)
		}
		if ok && (t.maxTokens == 0 || v < t.maxTokens) {
			t.maxTokens = v
		}
	}
	if err := t.decodeStop(req); err != nil {
		return err
	}
	if t.endpoint == llm.ChatCompletions {
		return checkChatOnly(req)
	}
	return nil
}

func (t *task) decodeStop(req *llm.Request) error {
	raw, ok := req.Fields["stop"]
	if !ok || string(raw) == "null" {
		return nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		t.stop = []string{one}
	} else if err := json.Unmarshal(raw, &t.stop); err != nil {
		return llm.InvalidRequest("stop", "stop must be a string or an array of strings")
	}
	if len(t.stop) > maxStops {
		return llm.InvalidRequest("stop", "stop may hold at most %d sequences", maxStops)
	}
	for _, s := range t.stop {
		if s == "" || len(s) > maxStopLength {
			return llm.InvalidRequest("stop", "stop sequences must be 1 to %d bytes", maxStopLength)
		}
	}
	return nil
}

// checkChatOnly refuses chat parameters the answerer cannot honour: a tool
// call it is required to make, and structured output.
func checkChatOnly(req *llm.Request) error {
	var tools []wire.Tool
	if _, err := req.Field("tools", &tools); err != nil {
		return err
	}
	if raw, ok := req.Fields["tool_choice"]; ok && string(raw) != "null" {
		var mode string
		if err := json.Unmarshal(raw, &mode); err != nil {
			var named struct {
				Type string `json:"type"`
			}
			if err := json.Unmarshal(raw, &named); err != nil {
				return llm.InvalidRequest("tool_choice", "tool_choice must be a string or an object")
			}
			return llm.InvalidRequest("tool_choice", "the built-in model cannot call tools; tool_choice must be auto or none")
		}
		switch mode {
		case "auto", "none":
		case "required":
			return llm.InvalidRequest("tool_choice", "the built-in model cannot call tools; tool_choice must be auto or none")
		default:
			return llm.InvalidRequest("tool_choice", "tool_choice must be auto, none, required or a named function")
		}
	}
	var format wire.ResponseFormat
	if ok, err := req.Field("response_format", &format); err != nil {
		return err
	} else if ok && format.Type != "" && format.Type != "text" {
		return llm.InvalidRequest("response_format", "the built-in model answers in plain text only; response_format must be text")
	}
	return nil
}
