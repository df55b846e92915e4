package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ragway/ragway/llm"
)

// maxErrorBody bounds the error body read from a failed response.
const maxErrorBody = 64 << 10

// maxMessage bounds an upstream error message passed on to clients.
const maxMessage = 1024

// transportError maps a failed round trip to the llm sentinels.
func transportError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("send request: %w", ctxErr)
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return fmt.Errorf("%w: %w", llm.ErrUnavailable, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %w", llm.ErrTimeout, err)
	}
	return fmt.Errorf("%w: %w", llm.ErrUnavailable, err)
}

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
	ue.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
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
	ue.Message = clip(obj.Message)
	ue.Type = clip(obj.Type)
	ue.Param = clip(scalar(obj.Param))
	ue.Code = clip(scalar(obj.Code))
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

func clip(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	return strings.ToValidUTF8(s[:maxMessage], "")
}

// retryAfter parses Retry-After as seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		if n <= 0 || n > 24*3600 {
			return 0
		}
		return time.Duration(n * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
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
