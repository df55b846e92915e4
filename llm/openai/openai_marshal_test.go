package openai

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm"
)

func FuzzMarshalRequest(f *testing.F) {
	f.Add(`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream_options":{"x":1},"weird\"key":[1, 2]}`, true)
	f.Add(`{"a\u00e9":null,"stream":"yes"}`, false)
	f.Fuzz(func(t *testing.T, body string, stream bool) {
		var fields map[string]json.RawMessage
		if json.Unmarshal([]byte(body), &fields) != nil || fields == nil {
			return
		}
		out, err := marshalRequest(&llm.Request{Model: "up\"stream", Fields: fields}, stream)
		if err != nil {
			return // a stream_options that is not an object
		}
		var got map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(out, &got), "%s", out)
		require.JSONEq(t, `"up\"stream"`, string(got["model"]))
		require.JSONEq(t, map[bool]string{true: "true", false: "false"}[stream], string(got["stream"]))
		for k, v := range fields {
			switch k {
			case "model", "stream", "stream_options":
				continue
			}
			require.JSONEq(t, string(v), string(got[k]), "field %q", k)
		}
	})
}
