package ollama

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ollama/ollama/api"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/wire"
)

// unsupported lists OpenAI parameters Ollama cannot honour. They are refused
// when present with a value other than null (and, for logit_bias, {}).
var unsupported = map[llm.Endpoint][]string{
	llm.ChatCompletions: {"logit_bias", "audio", "prediction", "functions", "function_call", "web_search_options"},
	llm.Completions:     {"logit_bias", "best_of", "echo"},
}

// chatRequest maps an OpenAI chat request to Ollama's.
func chatRequest(req *llm.Request) (*api.ChatRequest, error) {
	if err := refuseUnsupported(req); err != nil {
		return nil, err
	}
	out := &api.ChatRequest{Model: req.Model, Stream: &req.Stream}
	var msgs []wire.Message
	if ok, err := req.Field("messages", &msgs); err != nil {
		return nil, err
	} else if !ok || len(msgs) == 0 {
		return nil, llm.InvalidRequest("messages", "messages must not be empty")
	}
	var err error
	if out.Messages, err = mapMessages(msgs); err != nil {
		return nil, err
	}
	if out.Tools, err = mapTools(req); err != nil {
		return nil, err
	}
	if out.Format, err = mapFormat(req); err != nil {
		return nil, err
	}
	if out.Options, err = mapOptions(req); err != nil {
		return nil, err
	}
	if out.Logprobs, out.TopLogprobs, err = mapLogprobs(req); err != nil {
		return nil, err
	}
	var effort string
	if ok, err := req.Field("reasoning_effort", &effort); err != nil {
		return nil, err
	} else if ok {
		switch effort {
		case "low", "medium", "high":
			out.Think = &api.ThinkValue{Value: effort}
		case "none", "minimal":
			out.Think = &api.ThinkValue{Value: false}
		default:
			return nil, llm.InvalidRequest("reasoning_effort", "reasoning_effort %q is not supported", effort)
		}
	}
	return out, nil
}

// generateRequest maps an OpenAI completions request to Ollama's generate.
func generateRequest(req *llm.Request) (*api.GenerateRequest, error) {
	if err := refuseUnsupported(req); err != nil {
		return nil, err
	}
	out := &api.GenerateRequest{Model: req.Model, Stream: &req.Stream}
	raw, ok := req.Fields["prompt"]
	if !ok || string(raw) == "null" {
		return nil, llm.InvalidRequest("prompt", "prompt is required")
	}
	if json.Unmarshal(raw, &out.Prompt) != nil {
		var list []string
		if json.Unmarshal(raw, &list) != nil {
			return nil, llm.InvalidRequest("prompt", "prompt must be a string or a list of one string")
		}
		if len(list) != 1 {
			return nil, llm.InvalidRequest("prompt", "prompt lists of %d strings are not supported; send one", len(list))
		}
		out.Prompt = list[0]
	}
	if _, err := req.Field("suffix", &out.Suffix); err != nil {
		return nil, err
	}
	var err error
	if out.Options, err = mapOptions(req); err != nil {
		return nil, err
	}
	var n int
	if ok, err := req.Field("logprobs", &n); err != nil {
		return nil, err
	} else if ok {
		if n < 0 || n > 20 {
			return nil, llm.InvalidRequest("logprobs", "logprobs must be between 0 and 20")
		}
		out.Logprobs, out.TopLogprobs = true, n
	}
	return out, nil
}

func refuseUnsupported(req *llm.Request) error {
	for _, name := range unsupported[req.Endpoint] {
		raw, ok := req.Fields[name]
		if !ok {
			continue
		}
		switch strings.TrimSpace(string(raw)) {
		case "null", "{}", "false":
			continue
		}
		return llm.InvalidRequest(name, "%s is not supported by this backend", name)
	}
	var n int
	if ok, err := req.Field("n", &n); err != nil {
		return err
	} else if ok && n != 1 {
		return llm.InvalidRequest("n", "n=%d is not supported by this backend; only n=1", n)
	}
	var modalities []string
	if ok, err := req.Field("modalities", &modalities); err != nil {
		return err
	} else if ok {
		for _, m := range modalities {
			if m != "text" {
				return llm.InvalidRequest("modalities", "modality %q is not supported by this backend", m)
			}
		}
	}
	return nil
}

// mapMessages maps chat messages, resolving tool result names from the
// assistant tool calls that precede them.
func mapMessages(msgs []wire.Message) ([]api.Message, error) {
	out := make([]api.Message, 0, len(msgs))
	names := map[string]string{}
	for i, m := range msgs {
		param := fmt.Sprintf("messages[%d]", i)
		text, parts, err := wire.TextOf(m.Content)
		if err != nil {
			return nil, llm.InvalidRequest(param, "%s.content must be a string or an array of parts", param)
		}
		am := api.Message{Role: m.Role, Content: text}
		switch m.Role {
		case "system", "user", "assistant", "tool":
		case "developer":
			am.Role = "system"
		default:
			return nil, llm.InvalidRequest(param, "%s.role %q is not supported", param, m.Role)
		}
		for _, p := range parts {
			img, err := mapPart(param, p)
			if err != nil {
				return nil, err
			}
			am.Images = append(am.Images, img)
		}
		for j, tc := range m.ToolCalls {
			call, err := mapToolCall(fmt.Sprintf("%s.tool_calls[%d]", param, j), j, tc)
			if err != nil {
				return nil, err
			}
			if tc.ID != "" {
				names[tc.ID] = tc.Function.Name
			}
			am.ToolCalls = append(am.ToolCalls, call)
		}
		if m.Role == "tool" {
			am.ToolCallID = m.ToolCallID
			am.ToolName = names[m.ToolCallID]
		}
		out = append(out, am)
	}
	return out, nil
}

// mapPart maps a non-text content part: only images given as data URLs.
func mapPart(param string, p wire.ContentPart) (api.ImageData, error) {
	if p.Type != "image_url" || p.ImageURL == nil {
		return nil, llm.InvalidRequest(param, "content part type %q is not supported by this backend", p.Type)
	}
	u := p.ImageURL.URL
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		return nil, llm.InvalidRequest(param, "%s: only data: image URLs are supported by this backend", param)
	}
	meta, data, ok := strings.Cut(rest, ",")
	if !ok || !strings.HasSuffix(meta, ";base64") {
		return nil, llm.InvalidRequest(param, "%s: image data URL must be base64", param)
	}
	img, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, llm.InvalidRequest(param, "%s: image data URL: %v", param, err)
	}
	return api.ImageData(img), nil
}

func mapToolCall(param string, index int, tc wire.ToolCall) (api.ToolCall, error) {
	call := api.ToolCall{ID: tc.ID, Function: api.ToolCallFunction{Index: index, Name: tc.Function.Name}}
	args := strings.TrimSpace(tc.Function.Arguments)
	if args == "" {
		args = "{}"
	}
	if err := json.Unmarshal([]byte(args), &call.Function.Arguments); err != nil {
		return call, llm.InvalidRequest(param, "%s.function.arguments must be a JSON object", param)
	}
	return call, nil
}

// mapTools maps tools and tool_choice.
func mapTools(req *llm.Request) (api.Tools, error) {
	var tools []wire.Tool
	if _, err := req.Field("tools", &tools); err != nil {
		return nil, err
	}
	if len(tools) == 0 {
		return nil, nil
	}
	only := ""
	raw := req.Fields["tool_choice"]
	var choice string
	if len(raw) > 0 && string(raw) != "null" {
		if json.Unmarshal(raw, &choice) != nil {
			var named struct {
				Function struct {
					Name string `json:"name"`
				} `json:"function"`
			}
			if json.Unmarshal(raw, &named) != nil || named.Function.Name == "" {
				return nil, llm.InvalidRequest("tool_choice", "tool_choice must be a string or name a function")
			}
			only = named.Function.Name
		}
	}
	switch choice {
	case "", "auto":
	case "none":
		return nil, nil
	default:
		return nil, llm.InvalidRequest("tool_choice", "tool_choice %q is not supported by this backend", choice)
	}
	out := make(api.Tools, 0, len(tools))
	for i, t := range tools {
		if t.Type != "function" || t.Function.Name == "" {
			return nil, llm.InvalidRequest("tools", "tools[%d] must be a named function", i)
		}
		if only != "" && t.Function.Name != only {
			continue
		}
		at := api.Tool{Type: "function", Function: api.ToolFunction{Name: t.Function.Name, Description: t.Function.Description}}
		if len(t.Function.Parameters) > 0 && string(t.Function.Parameters) != "null" {
			if err := json.Unmarshal(t.Function.Parameters, &at.Function.Parameters); err != nil {
				return nil, llm.InvalidRequest("tools", "tools[%d].function.parameters: %v", i, err)
			}
		}
		out = append(out, at)
	}
	if only != "" && len(out) == 0 {
		return nil, llm.InvalidRequest("tool_choice", "tool_choice names %q, which is not in tools", only)
	}
	return out, nil
}

// mapFormat maps response_format to Ollama's format.
func mapFormat(req *llm.Request) (json.RawMessage, error) {
	var rf wire.ResponseFormat
	if ok, err := req.Field("response_format", &rf); err != nil || !ok {
		return nil, err
	}
	switch rf.Type {
	case "text", "":
		return nil, nil
	case "json_object":
		return json.RawMessage(`"json"`), nil
	case "json_schema":
		if rf.JSONSchema == nil || len(rf.JSONSchema.Schema) == 0 || rf.JSONSchema.Schema[0] != '{' {
			return nil, llm.InvalidRequest("response_format", "response_format.json_schema.schema must be an object")
		}
		return rf.JSONSchema.Schema, nil
	}
	return nil, llm.InvalidRequest("response_format", "response_format type %q is not supported", rf.Type)
}

// mapOptions maps the sampling parameters to Ollama options.
func mapOptions(req *llm.Request) (map[string]any, error) {
	opts := map[string]any{}
	floats := []struct{ from, to string }{
		{"temperature", "temperature"}, {"top_p", "top_p"},
		{"presence_penalty", "presence_penalty"}, {"frequency_penalty", "frequency_penalty"},
	}
	for _, f := range floats {
		var v float64
		if ok, err := req.Field(f.from, &v); err != nil {
			return nil, err
		} else if ok {
			opts[f.to] = v
		}
	}
	var seed int64
	if ok, err := req.Field("seed", &seed); err != nil {
		return nil, err
	} else if ok {
		opts["seed"] = seed
	}
	for _, name := range []string{"max_tokens", "max_completion_tokens"} {
		var n int
		if ok, err := req.Field(name, &n); err != nil {
			return nil, err
		} else if ok {
			if n < 1 {
				return nil, llm.InvalidRequest(name, "%s must be at least 1", name)
			}
			opts["num_predict"] = n
		}
	}
	if raw, ok := req.Fields["stop"]; ok && string(raw) != "null" {
		var one string
		var list []string
		switch {
		case json.Unmarshal(raw, &one) == nil:
			list = []string{one}
		case json.Unmarshal(raw, &list) == nil:
		default:
			return nil, llm.InvalidRequest("stop", "stop must be a string or a list of strings")
		}
		if len(list) > 0 {
			opts["stop"] = list
		}
	}
	if len(opts) == 0 {
		return nil, nil
	}
	return opts, nil
}

func mapLogprobs(req *llm.Request) (bool, int, error) {
	var on bool
	if _, err := req.Field("logprobs", &on); err != nil {
		return false, 0, err
	}
	var top int
	if ok, err := req.Field("top_logprobs", &top); err != nil {
		return false, 0, err
	} else if ok && (top < 0 || top > 20) {
		return false, 0, llm.InvalidRequest("top_logprobs", "top_logprobs must be between 0 and 20")
	}
	return on, top, nil
}
