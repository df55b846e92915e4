package llmtest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/ragway/ragway/llm/wire"
)

// openAIChatRequest is the part of a chat request the fake looks at.
type openAIChatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Stream        bool `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           int  `json:"max_tokens"`
	MaxCompletionTokens int  `json:"max_completion_tokens"`
	N                   *int `json:"n"`
	Tools               []struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
	ToolChoice json.RawMessage `json:"tool_choice"`
}

var (
	doneFrame = []byte("data: [DONE]\n\n")
	usageNull = []byte(`,"usage":null`)
)

func (s *Server) openAIChat(x *exchange) {
	var req openAIChatRequest
	err := json.Unmarshal(x.body, &req)
	if !x.begin(req.Model) {
		return
	}
	if err != nil {
		x.badRequest("", "We could not parse the JSON body of your request.")
		return
	}
	n, ok := x.validateOpenAI(req.Model, req.N)
	if !ok {
		return
	}
	if len(req.Messages) == 0 {
		x.badRequest("messages", "[] is too short - 'messages'")
		return
	}
	msgs := make([]message, len(req.Messages))
	for i, m := range req.Messages {
		text, _, err := wire.TextOf(m.Content)
		if err != nil {
			x.badRequest("messages", "Invalid content of message "+strconv.Itoa(i))
			return
		}
		msgs[i] = message{Role: m.Role, Text: text}
	}
	tools := make([]string, len(req.Tools))
	for i, t := range req.Tools {
		tools[i] = t.Function.Name
	}
	maxTokens := req.MaxCompletionTokens
	if maxTokens == 0 {
		maxTokens = req.MaxTokens
	}
	p := makePlan(msgs, tools, req.ToolChoice, maxTokens, x.chunks)
	st := chatState{x: x, id: x.newID("chatcmpl"), created: time.Now().Unix(), model: req.Model, n: n, p: &p}
	if req.Stream {
		st.includeUsage = req.StreamOptions != nil && req.StreamOptions.IncludeUsage
		st.stream()
		return
	}
	x.writeBody(st.completion())
}

// validateOpenAI checks the model and n, answering 400 when they are bad.
func (x *exchange) validateOpenAI(model string, n *int) (int, bool) {
	if model == "" {
		x.badRequest("model", "you must provide a model parameter")
		return 0, false
	}
	if n == nil {
		return 1, true
	}
	if *n < 1 || *n > 128 {
		x.badRequest("n", strconv.Itoa(*n)+" is not a valid value for 'n'")
		return 0, false
	}
	return *n, true
}

func (x *exchange) badRequest(param, msg string) {
	writeOpenAIError(x.w, http.StatusBadRequest, "invalid_request_error", param, "", msg)
	x.done = true
}

type chatState struct {
	x            *exchange
	id           string
	created      int64
	model        string
	n            int
	p            *plan
	includeUsage bool
	buf          []byte
}

func (c *chatState) head(b []byte, object string) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, c.id...)
	b = append(b, `","object":"`...)
	b = append(b, object...)
	b = append(b, `","created":`...)
	b = strconv.AppendInt(b, c.created, 10)
	b = append(b, `,"model":`...)
	b = appendString(b, c.model)
	return append(b, `,"system_fingerprint":"fp_fake","choices":[`...)
}

func (c *chatState) completion() []byte {
	b := c.head(nil, wire.ObjectChatCompletion)
	for i := range c.n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"index":`...)
		b = appendInt(b, i)
		b = append(b, `,"message":{"role":"assistant","content":`...)
		if call := c.p.call; call != nil {
			b = append(b, `null,"tool_calls":[{"id":"`...)
			b = append(b, call.ID...)
			b = append(b, `","type":"function","function":{"name":`...)
			b = appendString(b, call.Name)
			b = append(b, `,"arguments":`...)
			b = appendString(b, call.Args)
			b = append(b, `}}]`...)
		} else {
			b = appendString(b, c.p.content())
		}
		b = append(b, `,"refusal":null},"logprobs":null,"finish_reason":"`...)
		b = append(b, c.p.finish...)
		b = append(b, `"}`...)
	}
	b = append(b, `],"usage":`...)
	b = appendUsage(b, c.p.promptTokens, c.p.completionTokens()*c.n)
	return append(b, '}')
}

// frame sends one chunk whose choice for every index is delta (raw JSON).
func (c *chatState) frame(sent *int, delta func(b []byte) []byte, finish string) bool {
	if c.x.streamFault(*sent, openAIErrorFrame) {
		return false
	}
	b := append(c.buf[:0], "data: "...)
	b = c.head(b, wire.ObjectChatCompletionChunk)
	for i := range c.n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"index":`...)
		b = appendInt(b, i)
		b = append(b, `,"delta":`...)
		b = delta(b)
		b = append(b, `,"logprobs":null,"finish_reason":`...)
		if finish == "" {
			b = append(b, "null}"...)
		} else {
			b = append(b, '"')
			b = append(b, finish...)
			b = append(b, `"}`...)
		}
	}
	b = append(b, ']')
	if c.includeUsage {
		b = append(b, usageNull...)
	}
	b = append(b, "}\n\n"...)
	c.buf = b
	*sent++
	if !c.x.write(b) {
		return false
	}
	return c.x.sleep(c.x.chunkDelay)
}

func (c *chatState) stream() {
	x := c.x
	x.startStream("text/event-stream")
	sent := 0
	call := c.p.call
	ok := c.frame(&sent, func(b []byte) []byte {
		if call == nil {
			return append(b, `{"role":"assistant","content":"","refusal":null}`...)
		}
		b = append(b, `{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"`...)
		b = append(b, call.ID...)
		b = append(b, `","type":"function","function":{"name":`...)
		b = appendString(b, call.Name)
		return append(b, `,"arguments":""}}],"refusal":null}`...)
	}, "")
	pieces := c.p.pieces
	if call != nil {
		pieces = c.p.argPieces
	}
	for _, piece := range pieces {
		if !ok {
			return
		}
		ok = c.frame(&sent, func(b []byte) []byte {
			if call != nil {
				b = append(b, `{"tool_calls":[{"index":0,"function":{"arguments":`...)
				b = appendString(b, piece)
				return append(b, `}}]}`...)
			}
			b = append(b, `{"content":`...)
			b = appendString(b, piece)
			return append(b, '}')
		}, "")
	}
	if !ok || !c.frame(&sent, func(b []byte) []byte { return append(b, "{}"...) }, c.p.finish) {
		return
	}
	if c.includeUsage {
		if x.streamFault(sent, openAIErrorFrame) {
			return
		}
		b := append(c.buf[:0], "data: "...)
		b = c.head(b, wire.ObjectChatCompletionChunk)
		b = append(b, `],"usage":`...)
		b = appendUsage(b, c.p.promptTokens, c.p.completionTokens()*c.n)
		b = append(b, "}\n\n"...)
		sent++
		if !x.write(b) {
			return
		}
	}
	x.finishSSE(sent)
}

// finishSSE sends [DONE] unless a fault is due.
func (x *exchange) finishSSE(sent int) {
	if x.streamFault(sent, openAIErrorFrame) {
		return
	}
	if x.write(doneFrame) {
		x.done = true
	}
}

func (x *exchange) startStream(contentType string) {
	h := x.w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-cache")
	x.w.WriteHeader(http.StatusOK)
}

// writeBody sends a complete JSON response, or misbehaves as the fault says.
func (x *exchange) writeBody(body []byte) {
	x.w.Header().Set("Content-Type", "application/json")
	if f := x.fault; f != nil {
		switch f.Kind {
		case FaultStreamError:
			x.writeStatusFault(&Fault{Status: http.StatusInternalServerError, Message: f.Message})
			return
		case FaultCloseEarly:
			x.w.WriteHeader(http.StatusOK)
			x.write(body[:len(body)/2])
			x.done = true
			return
		case FaultStall:
			x.w.WriteHeader(http.StatusOK)
			x.write(nil)
			<-x.ctx.Done()
			return
		case FaultReset:
			x.w.WriteHeader(http.StatusOK)
			x.write(body[:len(body)/2])
			x.reset()
			return
		case FaultNone, FaultStatus, FaultGarbage:
		}
	}
	x.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	x.w.WriteHeader(http.StatusOK)
	if _, err := x.w.Write(body); err != nil {
		x.gone = true
		return
	}
	x.done = true
}

func openAIErrorFrame(msg string) []byte {
	b := append([]byte("data: "), `{"error":{"message":`...)
	b = appendString(b, msg)
	return append(b, `,"type":"server_error","param":null,"code":null}}`+"\n\n"...)
}

// writeOpenAIError writes {"error":{"message","type","param","code"}}.
func writeOpenAIError(w http.ResponseWriter, status int, typ, param, code, msg string) {
	b := append([]byte(nil), `{"error":{"message":`...)
	b = appendString(b, msg)
	b = append(b, `,"type":`...)
	b = appendString(b, typ)
	b = appendNullable(append(b, `,"param":`...), param)
	b = appendNullable(append(b, `,"code":`...), code)
	b = append(b, "}}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendString(b, s)
}
