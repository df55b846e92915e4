package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ragway/ragway/embed"
	"github.com/ragway/ragway/ingest/service"
	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/policies"
	"github.com/ragway/ragway/policies/routing"
	"github.com/ragway/ragway/retrieval"
)

// StatusClientClosed is the status recorded when the client went away.
const StatusClientClosed = 499

// APIError is an error with its OpenAI-shaped representation.
type APIError struct {
	Status     int
	Type       string
	Code       string
	Param      string
	Message    string
	RetryAfter time.Duration
	// Err is the cause, kept for logs only.
	Err error
}

func (e *APIError) Error() string { return e.Message }
func (e *APIError) Unwrap() error { return e.Err }

// errorBody is {"error":{...}} as OpenAI sends it.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func invalid(param, format string, args ...any) *APIError {
	return &APIError{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: param, Message: fmt.Sprintf(format, args...)}
}

func modelNotFound(model string) *APIError {
	return &APIError{
		Status: http.StatusNotFound, Type: "invalid_request_error", Code: "model_not_found", Param: "model",
		Message: fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", model),
	}
}

// toAPIError is the one place that maps errors to HTTP statuses and OpenAI
// error JSON. Messages never carry internals: upstream 5xx bodies, addresses
// and credentials stay in the logs.
func toAPIError(err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	var pe *llm.ParamError
	var ue *llm.UpstreamError
	var mbe *http.MaxBytesError
	var le *policies.LimitError
	var ie *service.InvalidError
	switch {
	case errors.As(err, &ie):
		return &APIError{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: ie.Param, Message: ie.Message, Err: err}
	case errors.Is(err, service.ErrTooLarge):
		return &APIError{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error", Code: "file_too_large",
			Message: "The file exceeds the upload size limit.", Err: err}
	case errors.Is(err, embed.ErrModelMismatch):
		return &APIError{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: "embedding_model_mismatch",
			Message: err.Error(), Err: err}
	case errors.Is(err, retrieval.ErrNotFound):
		return &APIError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "not_found",
			Message: "The requested resource does not exist.", Err: err}
	case errors.Is(err, retrieval.ErrInvalidQuery):
		return &APIError{Status: http.StatusBadRequest, Type: "invalid_request_error", Message: err.Error(), Err: err}
	case errors.Is(err, retrieval.ErrUnavailable):
		return &APIError{Status: http.StatusServiceUnavailable, Type: "api_error", Code: "store_unavailable",
			Message: "The vector store is unavailable right now; retry later.", Err: err}
	case errors.Is(err, policies.ErrUnauthenticated):
		return &APIError{Status: http.StatusUnauthorized, Type: "invalid_request_error", Code: "invalid_api_key",
			Message: "Incorrect API key or token provided.", Err: err}
	case errors.As(err, &le):
		return limitAPIError(le, err)
	case errors.Is(err, policies.ErrForbidden):
		return &APIError{Status: http.StatusForbidden, Type: "invalid_request_error", Code: "permission_denied",
			Message: "You are not allowed to perform this operation.", Err: err}
	case errors.Is(err, policies.ErrNotFound):
		return &APIError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "not_found",
			Message: "The requested resource does not exist.", Err: err}
	case errors.As(err, &mbe):
		return &APIError{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error", Code: "request_too_large",
			Message: fmt.Sprintf("Request body exceeds the limit of %d bytes.", mbe.Limit), Err: err}
	case errors.As(err, &pe):
		return &APIError{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: pe.Param, Message: pe.Message, Err: err}
	case errors.Is(err, llm.ErrInvalidRequest):
		return &APIError{Status: http.StatusBadRequest, Type: "invalid_request_error", Message: err.Error(), Err: err}
	case errors.Is(err, routing.ErrUnknownTarget):
		return &APIError{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: "X-Ragway-Target",
			Message: "X-Ragway-Target names no target of this model's route.", Err: err}
	case errors.Is(err, context.Canceled):
		return &APIError{Status: StatusClientClosed, Type: "invalid_request_error", Code: "client_closed", Message: "The client closed the request.", Err: err}
	case errors.As(err, &ue):
		return upstreamAPIError(ue)
	case errors.Is(err, llm.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return &APIError{Status: http.StatusGatewayTimeout, Type: "api_error", Code: "upstream_timeout", Message: "The model backend did not answer in time.", Err: err}
	case errors.Is(err, llm.ErrUnavailable):
		return &APIError{Status: http.StatusBadGateway, Type: "api_error", Code: "backend_unavailable", Message: "No backend for this model is reachable right now.", Err: err}
	case errors.Is(err, llm.ErrBadUpstream):
		return &APIError{Status: http.StatusBadGateway, Type: "api_error", Code: "bad_upstream_response", Message: "The model backend sent an invalid response.", Err: err}
	}
	return &APIError{Status: http.StatusInternalServerError, Type: "api_error", Code: "internal_error", Message: "Internal error.", Err: err}
}

func limitAPIError(le *policies.LimitError, err error) *APIError {
	typ := "requests"
	if strings.Contains(le.Limit, "token") || strings.HasPrefix(le.Limit, "budget") {
		typ = "tokens"
	}
	retry := max(le.RetryAfter, time.Second)
	msg := fmt.Sprintf("Rate limit reached: %s limit %s exceeded. Please try again in %s.", le.Scope, le.Limit, le.RetryAfter.Round(time.Millisecond))
	return &APIError{Status: http.StatusTooManyRequests, Type: typ, Code: "rate_limit_exceeded", Param: le.Limit,
		Message: msg, RetryAfter: retry, Err: err}
}

func upstreamAPIError(ue *llm.UpstreamError) *APIError {
	switch {
	case ue.Status == http.StatusTooManyRequests:
		return &APIError{Status: http.StatusTooManyRequests, Type: "rate_limit_error", Code: "upstream_rate_limited",
			Message: "The model backend is rate limiting requests; retry later.", RetryAfter: ue.RetryAfter, Err: ue}
	case ue.Status >= 400 && ue.Status < 500 && ue.Status != http.StatusUnauthorized && ue.Status != http.StatusForbidden:
		// The backend judged the request itself: its message helps the client
		// (context length, unsupported parameter).
		typ := ue.Type
		if typ == "" {
			typ = "invalid_request_error"
		}
		msg := ue.Message
		if msg == "" {
			msg = http.StatusText(ue.Status)
		}
		return &APIError{Status: ue.Status, Type: typ, Code: ue.Code, Param: ue.Param, Message: msg, Err: ue}
	}
	return &APIError{Status: http.StatusBadGateway, Type: "api_error", Code: "upstream_error",
		Message: fmt.Sprintf("The model backend failed (status %d).", ue.Status), Err: ue}
}

// body returns the JSON error object.
func (e *APIError) body() errorBody {
	d := errorDetail{Message: e.Message, Type: e.Type}
	if e.Param != "" {
		d.Param = &e.Param
	}
	if e.Code != "" {
		d.Code = &e.Code
	}
	return errorBody{Error: d}
}

// headers sets Retry-After when the error has one.
func (e *APIError) headers(h http.Header) {
	if e.RetryAfter > 0 {
		secs := int((e.RetryAfter + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.Itoa(secs))
	}
}

// LogValue keeps the cause in logs.
func (e *APIError) LogValue() slog.Value {
	attrs := []slog.Attr{slog.Int("status", e.Status), slog.String("type", e.Type)}
	if e.Code != "" {
		attrs = append(attrs, slog.String("code", e.Code))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("cause", e.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}
