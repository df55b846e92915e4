package llmtest

import (
	"net/http"
	"slices"
)

func appendOpenAIModel(b []byte, id string) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, id)
	return append(b, `,"object":"model","created":1700000000,"owned_by":"llmtest"}`...)
}

func (s *Server) buildOpenAIModels() []byte {
	b := append([]byte(nil), `{"object":"list","data":[`...)
	for i, id := range s.models {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendOpenAIModel(b, id)
	}
	return append(b, "]}"...)
}

func (s *Server) buildOllamaTags() []byte {
	b := append([]byte(nil), `{"models":[`...)
	for i, id := range s.models {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendString(b, id)
		b = append(b, `,"model":`...)
		b = appendString(b, id)
		b = append(b, `,"modified_at":"2023-11-14T22:13:20Z","size":1000000,"digest":"sha256:0000","details":{"parent_model":"","format":"gguf","family":"llama","families":["llama"],"parameter_size":"1B","quantization_level":"Q4_0"}}`...)
	}
	return append(b, "]}"...)
}

func (s *Server) openAIListModels(x *exchange) {
	if x.begin("") {
		x.writeBody(s.openAIModels)
	}
}

func (s *Server) openAIGetModel(x *exchange) {
	id := x.r.PathValue("id")
	if !x.begin(id) {
		return
	}
	if !slices.Contains(s.models, id) {
		writeOpenAIError(x.w, http.StatusNotFound, "invalid_request_error", "model", "model_not_found",
			"The model '"+id+"' does not exist")
		x.done = true
		return
	}
	x.writeBody(appendOpenAIModel(nil, id))
}

func (s *Server) ollamaTagsHandler(x *exchange) {
	if x.begin("") {
		x.writeBody(s.ollamaTags)
	}
}

func (s *Server) ollamaVersion(x *exchange) {
	if x.begin("") {
		x.writeBody([]byte(`{"version":` + string(appendString(nil, s.version)) + "}"))
	}
}
