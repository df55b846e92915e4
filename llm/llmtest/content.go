package llmtest

import (
	"encoding/json"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxChunks bounds the number of chunks of one reply.
const maxChunks = 100000

// ReplyPrefix starts every content reply.
const ReplyPrefix = "echo: "

// Reply returns the content the fake answers to a last message text with the
// default chunking: ReplyPrefix followed by the words of text.
func Reply(text string) string {
	return strings.Join(replyWords(text), " ")
}

// PromptTokens returns the prompt token count the fake reports for message
// texts: the number of whitespace-separated words, at least 1.
func PromptTokens(texts ...string) int {
	n := 0
	for _, t := range texts {
		n += countWords(t)
	}
	return max(n, 1)
}

// ToolArguments returns the JSON arguments of the fake's tool calls for the
// last user message text.
func ToolArguments(text string) string {
	return string(appendString([]byte(`{"text":`), text)) + "}"
}

// message is a chat message reduced to what the fake looks at.
type message struct {
	Role string
	Text string
}

type toolCall struct {
	ID   string
	Name string
	Args string
}

// plan is the deterministic answer to a request.
type plan struct {
	pieces       []string
	call         *toolCall
	argPieces    []string
	finish       string
	promptTokens int
}

func (p *plan) completionTokens() int {
	if p.call != nil {
		return len(p.argPieces)
	}
	return len(p.pieces)
}

func (p *plan) content() string { return strings.Join(p.pieces, "") }

// makePlan answers msgs. tools are the names of the offered tools, choice
// the raw tool_choice, maxTokens 0 for no limit, chunks 0 for one per word.
func makePlan(msgs []message, tools []string, choice json.RawMessage, maxTokens, chunks int) plan {
	p := plan{finish: "stop"}
	texts := make([]string, len(msgs))
	for i, m := range msgs {
		texts[i] = m.Text
	}
	p.promptTokens = PromptTokens(texts...)
	text, role := "", ""
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" || msgs[i].Role == "tool" {
			text, role = msgs[i].Text, msgs[i].Role
			break
		}
	}
	if role == "user" && len(msgs) > 0 && msgs[len(msgs)-1].Role == "user" {
		if name := pickTool(text, tools, choice); name != "" {
			args := ToolArguments(text)
			h := fnv.New64a()
			_, _ = h.Write([]byte(name + "\x00" + text))
			p.call = &toolCall{ID: "call_" + strconv.FormatUint(h.Sum64(), 36), Name: name, Args: args}
			p.argPieces = splitHalf(args)
			p.finish = "tool_calls"
			return p
		}
	}
	words := replyWords(text)
	if chunks > 0 {
		words = regroup(words, chunks)
	}
	p.pieces = make([]string, len(words))
	for i, w := range words {
		if i > 0 {
			w = " " + w
		}
		p.pieces[i] = w
	}
	if maxTokens > 0 && len(p.pieces) > maxTokens {
		p.pieces = p.pieces[:maxTokens]
		p.finish = "length"
	}
	return p
}

// pickTool returns the tool the reply calls, or "".
func pickTool(text string, tools []string, choice json.RawMessage) string {
	if len(tools) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(choice, &s) == nil {
		switch s {
		case "none":
			return ""
		case "required":
			return tools[0]
		}
	} else {
		var named struct {
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		if json.Unmarshal(choice, &named) == nil && named.Function.Name != "" {
			return named.Function.Name
		}
	}
	for _, t := range tools {
		if t != "" && strings.Contains(text, "call "+t) {
			return t
		}
	}
	return ""
}

func replyWords(text string) []string {
	return append([]string{strings.TrimSpace(ReplyPrefix)}, strings.Fields(text)...)
}

// regroup returns exactly n pieces: words padded with "lorem" or merged.
func regroup(words []string, n int) []string {
	n = min(n, maxChunks)
	for len(words) < n {
		words = append(words, "lorem")
	}
	if len(words) == n {
		return words
	}
	out := make([]string, n)
	for i := range n {
		out[i] = strings.Join(words[i*len(words)/n:(i+1)*len(words)/n], " ")
	}
	return out
}

func splitHalf(s string) []string {
	mid := len(s) / 2
	for mid > 0 && !utf8.RuneStart(s[mid]) {
		mid--
	}
	if mid == 0 {
		return []string{s}
	}
	return []string{s[:mid], s[mid:]}
}

func countWords(s string) int {
	n, in := 0, false
	for _, r := range s {
		space := r == ' ' || r == '\n' || r == '\t' || r == '\r' || r == '\v' || r == '\f' || r == 0x85 || r == 0xA0
		if !space && !in {
			n++
		}
		in = !space
	}
	return n
}

// Vector returns the fake's embedding of input: dim values derived from a
// hash of input, normalised to unit length.
func Vector(input string, dim int) []float32 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(input))
	x := h.Sum64()
	v := make([]float32, dim)
	var norm float64
	for i := range v {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		f := float64(z>>11)/float64(1<<53)*2 - 1
		v[i] = float32(f)
		norm += f * f
	}
	if norm > 0 {
		inv := 1 / math.Sqrt(norm)
		for i := range v {
			v[i] = float32(float64(v[i]) * inv)
		}
	}
	return v
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendInt(dst []byte, n int) []byte { return strconv.AppendInt(dst, int64(n), 10) }

func appendUsage(dst []byte, prompt, completion int) []byte {
	dst = append(dst, `{"prompt_tokens":`...)
	dst = appendInt(dst, prompt)
	dst = append(dst, `,"completion_tokens":`...)
	dst = appendInt(dst, completion)
	dst = append(dst, `,"total_tokens":`...)
	dst = appendInt(dst, prompt+completion)
	return append(dst, '}')
}
