package gateway

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/upstream"
	"github.com/ragway/ragway/llm/wire"
)

// genRequest is a decoded, validated chat or completion request.
type genRequest struct {
	llm.Request
	// Model is the model name the client sent (a route).
	Model        string
	IncludeUsage bool
	User         string
	// MaxTokens is max_completion_tokens or max_tokens, 0 when unset.
	MaxTokens int
	// Messages and Tools are the chat request's, decoded once for
	// validation and prompt counting.
	Messages []wire.Message
	Tools    []wire.Tool
}

// embedRequest is a decoded, validated embeddings request.
type embedRequest struct {
	llm.EmbedRequest
	// RouteModel is the model name the client sent (a route).
	RouteModel string
	Base64     bool
}

var chatRoles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true, "tool": true, "function": true}

// readBody reads the request body up to limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	body, err := upstream.ReadAll(http.MaxBytesReader(w, r.Body, limit), r.ContentLength)
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return body, nil
}

// decodeObject decodes a JSON object into its top-level fields.
func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	var fields map[string]json.RawMessage
	// Unmarshal also rejects data after the object.
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, invalid("", "We could not parse the JSON body of your request. The body must be one JSON object.")
	}
	return fields, nil
}

// decodeGenerate decodes and validates a chat completions (or completions)
// request body.
func decodeGenerate(body []byte, ep llm.Endpoint) (*genRequest, error) {
	fields, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	req := &genRequest{Request: llm.Request{Endpoint: ep, Fields: fields}}
	f := fieldReader{fields: fields}
	req.Model = f.requiredString("model")
	if ep == llm.ChatCompletions {
		req.Messages = f.messages()
	} else {
		f.prompt()
	}
	f.bool("stream", &req.Stream)
	var so struct {
		IncludeUsage *bool `json:"include_usage"`
	}
	if f.decode("stream_options", &so, "an object") && f.err == nil {
		if !req.Stream {
			f.fail("stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
		}
		req.IncludeUsage = so.IncludeUsage != nil && *so.IncludeUsage
	}
	f.number("temperature", 0, 2)
	f.number("top_p", 0, 1)
	f.number("presence_penalty", -2, 2)
	f.number("frequency_penalty", -2, 2)
	f.integer("n", 1, 128)
	if n := f.integer("max_completion_tokens", 1, math.MaxInt32); n > 0 {
		req.MaxTokens = int(n)
	} else {
		req.MaxTokens = int(f.integer("max_tokens", 1, math.MaxInt32))
	}
	f.integer("seed", math.MinInt64, math.MaxInt64)
	f.integer("top_logprobs", 0, 20)
	f.stop()
	var user string
	if f.decode("user", &user, "a string") {
		req.User = user
	}
	if ep == llm.ChatCompletions {
		var logprobs bool
		f.bool("logprobs", &logprobs)
		f.decode("tools", &req.Tools, "an array of tools")
		var rf struct {
			Type string `json:"type"`
		}
		if f.decode("response_format", &rf, "an object") && f.err == nil && rf.Type == "" {
			f.fail("response_format.type", "Missing required parameter: 'response_format.type'.")
		}
	}
	if f.err != nil {
		return nil, f.err
	}
	return req, nil
}

// fieldReader checks top-level fields, keeping the first problem.
type fieldReader struct {
	fields map[string]json.RawMessage
	err    error
}

func (f *fieldReader) fail(param, format string, args ...any) {
	if f.err == nil {
		f.err = invalid(param, format, args...)
	}
}

// decode decodes a present, non-null field into v and reports whether it did.
func (f *fieldReader) decode(name string, v any, want string) bool {
	raw, ok := f.fields[name]
	if !ok || string(raw) == "null" || f.err != nil {
		return false
	}
	if err := json.Unmarshal(raw, v); err != nil {
		f.fail(name, "Invalid type for '%s': expected %s.", name, want)
		return false
	}
	return true
}

func (f *fieldReader) requiredString(name string) string {
	var s string
	if !f.decode(name, &s, "a string") && f.err == nil {
		f.fail(name, "Missing required parameter: '%s'.", name)
	}
	if f.err == nil && s == "" {
		f.fail(name, "Parameter '%s' must not be empty.", name)
	}
	return s
}

func (f *fieldReader) bool(name string, v *bool) { f.decode(name, v, "a boolean") }

func (f *fieldReader) number(name string, lo, hi float64) {
	var v float64
	if f.decode(name, &v, "a number") && (v < lo || v > hi) {
		f.fail(name, "Invalid '%s': %g is out of range; expected a value between %g and %g.", name, v, lo, hi)
	}
}

func (f *fieldReader) integer(name string, lo, hi int64) int64 {
	var v int64
	if f.decode(name, &v, "an integer") && (v < lo || v > hi) {
		f.fail(name, "Invalid '%s': %d is out of range; expected a value between %d and %d.", name, v, lo, hi)
	}
	return v
}

func (f *fieldReader) stop() {
	raw, ok := f.fields["stop"]
	if !ok || string(raw) == "null" || f.err != nil {
		return
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		f.fail("stop", "Invalid type for 'stop': expected a string or an array of strings.")
		return
	}
	if len(many) > 4 {
		f.fail("stop", "Invalid 'stop': at most 4 stop sequences are allowed.")
	}
}

func (f *fieldReader) messages() []wire.Message {
	var msgs []wire.Message
	if !f.decode("messages", &msgs, "an array of message objects") {
		if f.err == nil {
			f.fail("messages", "Missing required parameter: 'messages'.")
		}
		return nil
	}
	if len(msgs) == 0 {
		f.fail("messages", "Invalid 'messages': empty array. Expected an array with minimum length 1.")
		return nil
	}
	for i, m := range msgs {
		if f.err != nil {
			break
		}
		param := fmt.Sprintf("messages[%d]", i)
		switch {
		case m.Role == "":
			f.fail(param+".role", "Missing required parameter: '%s.role'.", param)
		case !chatRoles[m.Role]:
			f.fail(param+".role", "Invalid value for '%s.role': %q is not a supported role.", param, m.Role)
		case len(m.Content) > 0 && m.Content[0] != '"' && m.Content[0] != '[' && string(m.Content) != "null":
			f.fail(param+".content", "Invalid type for '%s.content': expected a string or an array of content parts.", param)
		}
	}
	return msgs
}

func (f *fieldReader) prompt() {
	raw, ok := f.fields["prompt"]
	if !ok || string(raw) == "null" {
		f.fail("prompt", "Missing required parameter: 'prompt'.")
		return
	}
	var s string
	var ss []string
	var toks []int64
	var tokss [][]int64
	if json.Unmarshal(raw, &s) != nil && json.Unmarshal(raw, &ss) != nil &&
		json.Unmarshal(raw, &toks) != nil && json.Unmarshal(raw, &tokss) != nil {
		f.fail("prompt", "Invalid type for 'prompt': expected a string, an array of strings, or token arrays.")
	}
}

// maxEmbedInputs is OpenAI's limit on inputs per embeddings request.
const maxEmbedInputs = 2048

// decodeEmbed decodes and validates an embeddings request body.
func decodeEmbed(body []byte) (*embedRequest, error) {
	fields, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	f := fieldReader{fields: fields}
	req := &embedRequest{}
	req.RouteModel = f.requiredString("model")
	req.Input = f.embedInput()
	var dims int64
	if f.decode("dimensions", &dims, "an integer") && (dims < 1 || dims > 65536) {
		f.fail("dimensions", "Invalid 'dimensions': expected a positive integer.")
	}
	req.Dimensions = int(dims)
	var format string
	if f.decode("encoding_format", &format, "a string") {
		switch format {
		case "float":
		case "base64":
			req.Base64 = true
		default:
			f.fail("encoding_format", "Invalid 'encoding_format': expected 'float' or 'base64'.")
		}
	}
	f.decode("user", &req.User, "a string")
	if f.err != nil {
		return nil, f.err
	}
	return req, nil
}

func (f *fieldReader) embedInput() []string {
	raw, ok := f.fields["input"]
	if !ok || string(raw) == "null" {
		f.fail("input", "Missing required parameter: 'input'.")
		return nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			f.fail("input", "Invalid 'input': the input must not be an empty string.")
		}
		return []string{one}
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		var toks [][]int64
		var tok []int64
		if json.Unmarshal(raw, &toks) == nil || json.Unmarshal(raw, &tok) == nil {
			f.fail("input", "Token-array input is not supported; send the text as strings.")
		} else {
			f.fail("input", "Invalid type for 'input': expected a string or an array of strings.")
		}
		return nil
	}
	switch {
	case len(many) == 0:
		f.fail("input", "Invalid 'input': empty array. Expected at least one string.")
	case len(many) > maxEmbedInputs:
		f.fail("input", "Invalid 'input': at most %d inputs are allowed per request.", maxEmbedInputs)
	}
	for i, s := range many {
		if s == "" {
			f.fail(fmt.Sprintf("input[%d]", i), "Invalid 'input[%d]': the input must not be an empty string.", i)
			break
		}
	}
	return many
}
