package tokens

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/ragway/ragway/llm/wire"
)

// Upper bounds of counts, computed from byte lengths without tokenizing.
// Every token of a byte-level BPE encoding stands for at least one byte of
// the text, so a text's byte length bounds its count, and a long text's
// extrapolated count (see MaxTextBytes) stays within it too. A limiter can
// admit a request by such a bound, which is then certain to admit the
// exact count as well, and correct the reservation once the prompt is
// counted.

// ChatBound bounds what Chat counts for the same messages and tools. It
// reports false when no cheap bound exists: a message content that is not
// valid UTF-8 (decoding it turns each bad byte into three) or that is an
// array of parts (an image counts hundreds of tokens), or more messages
// than Chat accepts.
func ChatBound(messages []wire.Message, tools []wire.Tool) (int, bool) {
	if len(messages) > maxMessages {
		return 0, false
	}
	n := ReplyPriming
	for i := range messages {
		m := &messages[i]
		c, ok := contentBound(m.Content)
		if !ok {
			return 0, false
		}
		n += TokensPerMessage + len(m.Role) + c + len(m.ToolCallID)
		if m.Name != "" {
			n += TokensPerName + len(m.Name)
		}
		for _, tc := range m.ToolCalls {
			n += len(tc.Function.Name) + len(tc.Function.Arguments)
		}
	}
	if len(tools) > 0 {
		n += toolBlockOverhead
		for i := range tools {
			f := &tools[i].Function
			n += toolFunctionOverhead + len(f.Name) + len(f.Description) + len(f.Parameters)
		}
	}
	return n, true
}

// contentBound bounds contentTokens(raw). A JSON string decodes to at most
// its own length when it is valid UTF-8 (an escape never grows); content
// that is neither a string nor an array is counted as its raw text.
func contentBound(raw json.RawMessage) (int, bool) {
	if len(raw) == 0 || raw[0] == '[' || !utf8.Valid(raw) {
		return 0, len(raw) == 0
	}
	return len(raw), true
}

// PromptBound bounds what Prompt counts for a legacy completions prompt
// given as a string; it reports false for arrays, which are decoded.
func PromptBound(prompt json.RawMessage) (int, bool) {
	if len(prompt) == 0 || string(prompt) == "null" {
		return 0, true
	}
	if prompt[0] != '"' || !utf8.Valid(prompt) {
		return 0, false
	}
	return len(prompt), true
}

// EmbeddingBound bounds what Embedding counts for input.
func EmbeddingBound(input []string) int {
	n := 0
	for _, s := range input {
		n += len(s)
	}
	return n
}
