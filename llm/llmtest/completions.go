package llmtest

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/ragway/ragway/llm/wire"
)

type openAICompletionRequest struct {
	Model         string          `json:"model"`
	Prompt        json.RawMessage `json:"prompt"`
	Stream        bool            `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens int  `json:"max_tokens"`
	N         *int `json:"n"`
}

// prompts decodes a prompt given as a string or a list of strings.
func prompts(raw json.RawMessage) ([]string, bool) {
	if len(raw) == 0 {
		return nil, false
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, true
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil && len(many) > 0 {
		return many, true
	}
	return nil, false
}

func (s *Server) openAICompletions(x *exchange) {
	var req openAICompletionRequest
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
	ps, ok := prompts(req.Prompt)
	if !ok {
		x.badRequest("prompt", "prompt must be a string or a list of strings")
		return
	}
	st := textState{x: x, id: x.newID("cmpl"), created: time.Now().Unix(), model: req.Model}
	for _, p := range ps {
		pl := makePlan([]message{{Role: "user", Text: p}}, nil, nil, req.MaxTokens, x.chunks)
		st.prompt += pl.promptTokens
		for range n {
			st.plans = append(st.plans, pl)
			st.completion += pl.completionTokens()
		}
	}
	if req.Stream {
		st.includeUsage = req.StreamOptions != nil && req.StreamOptions.IncludeUsage
		st.stream()
		return
	}
	x.writeBody(st.full())
}

type textState struct {
	x            *exchange
	id           string
	created      int64
	model        string
	plans        []plan
	prompt       int
	completion   int
	includeUsage bool
}

func (t *textState) head(b []byte) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, t.id...)
	b = append(b, `","object":"`+wire.ObjectTextCompletion+`","created":`...)
	b = strconv.AppendInt(b, t.created, 10)
	b = append(b, `,"model":`...)
	b = appendString(b, t.model)
	return append(b, `,"choices":[`...)
}

func appendTextChoice(b []byte, index int, text, finish string) []byte {
	b = append(b, `{"text":`...)
	b = appendString(b, text)
	b = append(b, `,"index":`...)
	b = appendInt(b, index)
	b = append(b, `,"logprobs":null,"finish_reason":`...)
	if finish == "" {
		return append(b, "null}"...)
	}
	b = append(b, '"')
	b = append(b, finish...)
	return append(b, `"}`...)
}

func (t *textState) full() []byte {
	b := t.head(nil)
	for i, p := range t.plans {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendTextChoice(b, i, p.content(), p.finish)
	}
	b = append(b, `],"usage":`...)
	b = appendUsage(b, t.prompt, t.completion)
	return append(b, '}')
}

func (t *textState) stream() {
	x := t.x
	x.startStream("text/event-stream")
	sent := 0
	var buf []byte
	send := func(index int, text, finish string, usage bool) bool {
		if x.streamFault(sent, openAIErrorFrame) {
			return false
		}
		b := t.head(append(buf[:0], "data: "...))
		if !usage {
			b = appendTextChoice(b, index, text, finish)
		}
		b = append(b, ']')
		if usage {
			b = appendUsage(append(b, `,"usage":`...), t.prompt, t.completion)
		} else if t.includeUsage {
			b = append(b, usageNull...)
		}
		b = append(b, "}\n\n"...)
		buf = b
		sent++
		return x.write(b) && x.sleep(x.chunkDelay)
	}
	for i, p := range t.plans {
		for _, piece := range p.pieces {
			if !send(i, piece, "", false) {
				return
			}
		}
		if !send(i, "", p.finish, false) {
			return
		}
	}
	if t.includeUsage && !send(0, "", "", true) {
		return
	}
	x.finishSSE(sent)
}
