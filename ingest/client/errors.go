package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	// maxSnippet bounds how much of an unexpected body an error quotes.
	maxSnippet = 200
	// maxMessage bounds an error message taken from a server.
	maxMessage = 1024
	// maxField bounds the type, code and param of an error.
	maxField = 128
)

// APIError is an answer other than 2xx from the gateway. When the body was
// an OpenAI error object ({"error":{"message","type","code","param"}}),
// its fields are set; otherwise Body holds the start of what came instead.
type APIError struct {
	// Status is the HTTP status code.
	Status  int
	Message string
	Type    string
	Code    string
	Param   string
	// Body is at most 200 bytes of a body that was not an OpenAI error
	// object, empty otherwise.
	Body string
}

// Error is the status and the server's message; it never includes the
// request.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d", e.Status)
	switch {
	case e.Message != "":
		b.WriteString(": ")
		b.WriteString(e.Message)
		if e.Code != "" {
			fmt.Fprintf(&b, " (%s)", e.Code)
		}
	case e.Body != "":
		fmt.Fprintf(&b, ": unexpected response body %q", e.Body)
	default:
		if t := http.StatusText(e.Status); t != "" {
			b.WriteString(" " + t)
		}
	}
	return b.String()
}

// errorEnvelope is {"error":{...}} as OpenAI sends it. Code is raw because
// some servers send it as a number.
type errorEnvelope struct {
	Error *struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
		Param   json.RawMessage `json:"param"`
	} `json:"error"`
}

// parseError turns a non-2xx answer into an *APIError.
func parseError(status int, body []byte) *APIError {
	ae := &APIError{Status: status}
	var env errorEnvelope
	if err := json.Unmarshal(body, &env); err == nil && env.Error != nil {
		ae.Message = clean(env.Error.Message, maxMessage)
		ae.Type = clean(env.Error.Type, maxField)
		ae.Code = clean(scalar(env.Error.Code), maxField)
		ae.Param = clean(scalar(env.Error.Param), maxField)
		if ae.Message != "" || ae.Type != "" || ae.Code != "" {
			return ae
		}
	}
	ae.Body = snippet(body)
	return ae
}

// scalar renders a JSON string or number as text; null and anything else
// give "".
func scalar(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String()
	}
	return ""
}

// decodeBody decodes a 2xx JSON answer into out.
func decodeBody(data []byte, out any) error {
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode response %q: %w", snippet(data), err)
	}
	return nil
}

// snippet is at most maxSnippet bytes of b as valid UTF-8, cut on a rune
// boundary.
func snippet(b []byte) string {
	s := strings.ToValidUTF8(string(b[:min(len(b), maxSnippet)]), "\uFFFD")
	if len(s) <= maxSnippet {
		return s
	}
	cut := maxSnippet
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// clean makes a server-sent string safe to print: valid UTF-8, no control
// characters, at most n bytes.
func clean(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
