package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeResponse feeds arbitrary answers to the response decoding
// path: it must never panic, and what it returns must stay within bounds.
func FuzzDecodeResponse(f *testing.F) {
	seeds := []struct {
		status     int
		retryAfter string
		body       string
	}{
		{200, "", `{"id":"file-1","object":"vector_store.file","status":"completed","last_error":null}`},
		{200, "", `{"id":"file-1","status":"failed","last_error":{"code":"invalid_file","message":"file is empty"}}`},
		{200, "", `{"object":"list","data":[{"id":"vs_1","name":"a"}],"first_id":"vs_1","last_id":"vs_1","has_more":true}`},
		{200, "", `not json`},
		{200, "", ``},
		{404, "", `{"error":{"message":"The requested resource does not exist.","type":"invalid_request_error","param":null,"code":"not_found"}}`},
		{400, "", `{"error":{"message":"bad","type":"invalid_request_error","param":"chunking_strategy.static","code":null}}`},
		{429, "7", `{"error":{"message":"slow down","type":"rate_limit_error","code":429}}`},
		{429, "Wed, 21 Oct 2015 07:28:00 GMT", `{"error":"just a string"}`},
		{500, "", `{"error":{}}`},
		{502, "", `<html><body>Bad Gateway</body></html>`},
		{503, "-1", "\xff\xfe\x00\x1b[31mred"},
		{418, "99999999", `{"error":{"message":"` + strings.Repeat("é", 2000) + `"}}`},
		{0, "", `{}`},
		{999, "", `[]`},
		{200, "", `[]`},
	}
	for _, s := range seeds {
		f.Add(s.status, s.retryAfter, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, retryAfterValue string, body []byte) {
		resp := &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body))}
		resp.Header.Set("Retry-After", retryAfterValue)
		var page VectorStorePage
		wait, retry, err := readResponse(resp, &page)
		if wait < 0 || wait > MaxRetryAfter {
			t.Fatalf("wait %v out of bounds", wait)
		}
		if backoff(0, wait) > max(maxBackoff, MaxRetryAfter) {
			t.Fatalf("backoff out of bounds")
		}
		success := status >= 200 && status <= 299
		if success {
			if retry {
				t.Fatal("a success is never retried")
			}
			if err == nil && !json.Valid(body) {
				t.Fatalf("invalid JSON %q decoded without error", body)
			}
			if err != nil && len(err.Error()) > 2048 {
				t.Fatalf("decode error of %d bytes", len(err.Error()))
			}
			return
		}
		var ae *APIError
		if !errors.As(err, &ae) {
			t.Fatalf("status %d gave %T, want *APIError", status, err)
		}
		if ae.Status != status {
			t.Fatalf("status %d, want %d", ae.Status, status)
		}
		if retry != (status == 429 || status >= 500) {
			t.Fatalf("status %d: retry %v", status, retry)
		}
		if len(ae.Body) > maxSnippet || len(ae.Message) > maxMessage+len("…") ||
			len(ae.Type) > maxField+len("…") || len(ae.Code) > maxField+len("…") || len(ae.Param) > maxField+len("…") {
			t.Fatalf("unbounded field in %#v", ae)
		}
		if ae.Body != "" && ae.Message != "" {
			t.Fatalf("both a message and a quoted body: %#v", ae)
		}
		msg := ae.Error()
		if len(msg) > 2048 || !utf8.ValidString(msg) {
			t.Fatalf("error text of %d bytes, valid %v", len(msg), utf8.ValidString(msg))
		}
		if strings.ContainsAny(ae.Message+ae.Type+ae.Code+ae.Param, "\x00\x1b\n\r") {
			t.Fatalf("control characters kept: %#v", ae)
		}
	})
}
