package llmtest

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"strconv"
)

// maxDim bounds a requested embedding dimension.
const maxDim = 8192

type embedRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	Dimensions     int             `json:"dimensions"`
	EncodingFormat string          `json:"encoding_format"`
}

// embedInputs decodes a string, a list of strings, a token list or a list
// of token lists; token lists are embedded by their JSON text.
func embedInputs(raw json.RawMessage) ([]string, bool) {
	if ps, ok := prompts(raw); ok {
		return ps, true
	}
	var tokens []int
	if json.Unmarshal(raw, &tokens) == nil && len(tokens) > 0 {
		return []string{string(raw)}, true
	}
	var lists [][]int
	if json.Unmarshal(raw, &lists) != nil || len(lists) == 0 {
		return nil, false
	}
	out := make([]string, len(lists))
	for i, l := range lists {
		b, _ := json.Marshal(l)
		out[i] = string(b)
	}
	return out, true
}

func (x *exchange) decodeEmbed() (embedRequest, []string, int, bool) {
	var req embedRequest
	err := json.Unmarshal(x.body, &req)
	if !x.begin(req.Model) {
		return req, nil, 0, false
	}
	fail := func(param, msg string) (embedRequest, []string, int, bool) {
		if x.isOllama() {
			writeOllamaError(x.w, 400, msg)
			x.done = true
		} else {
			x.badRequest(param, msg)
		}
		return req, nil, 0, false
	}
	if err != nil {
		return fail("", "invalid JSON body")
	}
	if req.Model == "" {
		return fail("model", "you must provide a model parameter")
	}
	inputs, ok := embedInputs(req.Input)
	if !ok {
		return fail("input", "input must be a string, a list of strings or token lists")
	}
	dim := x.s.embedDim
	if req.Dimensions != 0 {
		if req.Dimensions < 1 || req.Dimensions > maxDim {
			return fail("dimensions", "dimensions must be between 1 and "+strconv.Itoa(maxDim))
		}
		dim = req.Dimensions
	}
	switch req.EncodingFormat {
	case "", "float", "base64":
	default:
		return fail("encoding_format", "encoding_format must be float or base64")
	}
	return req, inputs, dim, true
}

func (s *Server) openAIEmbeddings(x *exchange) {
	req, inputs, dim, ok := x.decodeEmbed()
	if !ok {
		return
	}
	b := append([]byte(nil), `{"object":"list","data":[`...)
	tokens := 0
	for i, in := range inputs {
		tokens += PromptTokens(in)
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = appendInt(b, i)
		b = append(b, `,"embedding":`...)
		v := Vector(in, dim)
		if req.EncodingFormat == "base64" {
			raw := make([]byte, 4*len(v))
			for j, f := range v {
				binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(f))
			}
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, raw)
			b = append(b, '"')
		} else {
			b = appendVector(b, v)
		}
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	b = appendString(b, req.Model)
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = appendInt(b, tokens)
	b = append(b, `,"total_tokens":`...)
	b = appendInt(b, tokens)
	x.writeBody(append(b, "}}"...))
}

func (s *Server) ollamaEmbed(x *exchange) {
	req, inputs, dim, ok := x.decodeEmbed()
	if !ok {
		return
	}
	b := append([]byte(nil), `{"model":`...)
	b = appendString(b, req.Model)
	b = append(b, `,"embeddings":[`...)
	tokens := 0
	for i, in := range inputs {
		tokens += PromptTokens(in)
		if i > 0 {
			b = append(b, ',')
		}
		b = appendVector(b, Vector(in, dim))
	}
	b = append(b, `],"total_duration":1000000,"load_duration":100000,"prompt_eval_count":`...)
	b = appendInt(b, tokens)
	x.writeBody(append(b, '}'))
}

func appendVector(b []byte, v []float32) []byte {
	b = append(b, '[')
	for j, f := range v {
		if j > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(f), 'g', -1, 32)
	}
	return append(b, ']')
}
