package llmtest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

type ollamaChatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	Stream *bool `json:"stream"`
	Tools  []struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
	Options struct {
		NumPredict int `json:"num_predict"`
	} `json:"options"`
}

type ollamaGenerateRequest struct {
	Model   string `json:"model"`
	Prompt  string `json:"prompt"`
	Suffix  string `json:"suffix"`
	System  string `json:"system"`
	Stream  *bool  `json:"stream"`
	Options struct {
		NumPredict int `json:"num_predict"`
	} `json:"options"`
}

// ollamaState answers one /api/chat or /api/generate request.
type ollamaState struct {
	x       *exchange
	model   string
	created string
	p       *plan
	chat    bool
	buf     []byte
}

func (s *Server) ollamaChat(x *exchange) {
	var req ollamaChatRequest
	err := json.Unmarshal(x.body, &req)
	if !x.begin(req.Model) {
		return
	}
	if err != nil || req.Model == "" {
		writeOllamaError(x.w, http.StatusBadRequest, "model is required")
		x.done = true
		return
	}
	msgs := make([]message, len(req.Messages))
	for i, m := range req.Messages {
		msgs[i] = message{Role: m.Role, Text: m.Content}
	}
	tools := make([]string, len(req.Tools))
	for i, t := range req.Tools {
		tools[i] = t.Function.Name
	}
	p := makePlan(msgs, tools, nil, req.Options.NumPredict, x.chunks)
	st := ollamaState{x: x, model: req.Model, created: time.Now().UTC().Format(time.RFC3339Nano), p: &p, chat: true}
	st.run(req.Stream == nil || *req.Stream)
}

func (s *Server) ollamaGenerate(x *exchange) {
	var req ollamaGenerateRequest
	err := json.Unmarshal(x.body, &req)
	if !x.begin(req.Model) {
		return
	}
	if err != nil || req.Model == "" {
		writeOllamaError(x.w, http.StatusBadRequest, "model is required")
		x.done = true
		return
	}
	var msgs []message
	if req.System != "" {
		msgs = append(msgs, message{Role: "system", Text: req.System})
	}
	msgs = append(msgs, message{Role: "user", Text: req.Prompt})
	p := makePlan(msgs, nil, nil, req.Options.NumPredict, x.chunks)
	if req.Suffix != "" {
		p.promptTokens += countWords(req.Suffix)
	}
	st := ollamaState{x: x, model: req.Model, created: time.Now().UTC().Format(time.RFC3339Nano), p: &p}
	st.run(req.Stream == nil || *req.Stream)
}

func (o *ollamaState) head(b []byte) []byte {
	b = append(b, `{"model":`...)
	b = appendString(b, o.model)
	b = append(b, `,"created_at":"`...)
	b = append(b, o.created...)
	return append(b, `",`...)
}

// appendPart appends the message or response field of one line.
func (o *ollamaState) appendPart(b []byte, text string, withCall bool) []byte {
	if !o.chat {
		b = append(b, `"response":`...)
		return appendString(b, text)
	}
	b = append(b, `"message":{"role":"assistant","content":`...)
	b = appendString(b, text)
	if call := o.p.call; withCall && call != nil {
		b = append(b, `,"tool_calls":[{"id":"`...)
		b = append(b, call.ID...)
		b = append(b, `","function":{"index":0,"name":`...)
		b = appendString(b, call.Name)
		b = append(b, `,"arguments":`...)
		b = append(b, call.Args...)
		b = append(b, "}}]"...)
	}
	return append(b, '}')
}

func (o *ollamaState) appendFinal(b []byte) []byte {
	b = append(b, `,"done":true,"done_reason":"`...)
	b = append(b, o.doneReason()...)
	b = append(b, '"')
	if !o.chat {
		b = append(b, `,"context":[1,2,3]`...)
	}
	b = append(b, `,"total_duration":1000000,"load_duration":100000,"prompt_eval_count":`...)
	b = appendInt(b, o.p.promptTokens)
	b = append(b, `,"prompt_eval_duration":200000,"eval_count":`...)
	b = appendInt(b, o.p.completionTokens())
	return append(b, `,"eval_duration":700000}`...)
}

func (o *ollamaState) doneReason() string {
	if o.p.finish == "length" {
		return "length"
	}
	return "stop"
}

func (o *ollamaState) run(stream bool) {
	if !stream {
		b := o.head(nil)
		b = o.appendPart(b, o.p.content(), true)
		o.x.writeBody(o.appendFinal(b))
		return
	}
	x := o.x
	x.startStream("application/x-ndjson")
	sent := 0
	send := func(text string, withCall, final bool) bool {
		if x.streamFault(sent, ollamaErrorLine) {
			return false
		}
		b := o.head(o.buf[:0])
		b = o.appendPart(b, text, withCall)
		if final {
			b = o.appendFinal(b)
		} else {
			b = append(b, `,"done":false}`...)
		}
		b = append(b, '\n')
		o.buf = b
		sent++
		return x.write(b) && x.sleep(x.chunkDelay)
	}
	if o.p.call != nil {
		if !send("", true, false) {
			return
		}
	}
	for _, piece := range o.p.pieces {
		if !send(piece, false, false) {
			return
		}
	}
	if send("", false, true) {
		x.done = true
	}
}

func ollamaErrorLine(msg string) []byte {
	b := append([]byte(nil), `{"error":`...)
	b = appendString(b, msg)
	return append(b, "}\n"...)
}

// writeOllamaError writes Ollama's {"error":"..."} body.
func writeOllamaError(w http.ResponseWriter, status int, msg string) {
	b := ollamaErrorLine(msg)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
