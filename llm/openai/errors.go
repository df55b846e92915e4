package openai

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/upstream"
)

// maxErrorBody bounds the error body read from a failed response.
const maxErrorBody = 64 << 10

// errorBody is OpenAI's error shape, plus the variants other servers use:
// {"error":"message"} and a top-level message.
type errorBody struct {
	Error   json.RawMessage `json:"error"`
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Code    json.RawMessage `json:"code"`
}

type errorObject struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Param   json.RawMessage `json:"param"`
	Code    json.RawMessage `json:"code"`
}

// upstreamError builds an *llm.UpstreamError from a non-2xx response.
func upstreamError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	ue := parseError(data)
	ue.Status = resp.StatusCode
	ue.RetryAfter = upstream.RetryAfter(resp.Header.Get("Retry-After"), time.Now())
	return ue
}

// parseError decodes an error body; what it cannot decode stays empty.
func parseError(data []byte) *llm.UpstreamError {
	ue := &llm.UpstreamError{}
	var eb errorBody
	if json.Unmarshal(data, &eb) != nil {
		return ue
	}
	obj := errorObject{Message: eb.Message, Type: eb.Type, Code: eb.Code}
	if len(eb.Error) > 0 {
		var s string
		if json.Unmarshal(eb.Error, &s) == nil {
			obj.Message = s
		} else {
			_ = json.Unmarshal(eb.Error, &obj)
		}
	}
	ue.Message = upstream.Clip(obj.Message)
	ue.Type = upstream.Clip(obj.Type)
	ue.Param = upstream.Clip(scalar(obj.Param))
	ue.Code = upstream.Clip(scalar(obj.Code))
	return ue
}

// scalar renders a JSON string or number as text; anything else is "".
func scalar(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// streamError builds the error of an error event inside a stream. A numeric
// code between 400 and 599 is taken as the status; otherwise it is 502.
func streamError(data []byte) error {
	ue := parseError(data)
	ue.Status = http.StatusBadGateway
	if n, err := strconv.Atoi(ue.Code); err == nil && n >= 400 && n <= 599 {
		ue.Status = n
	}
	if ue.Message == "" {
		ue.Message = "upstream error mid-stream"
	}
	return ue
}
