package builtin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/wire"
)

const passage = "The Eiffel Tower is in Paris. It was completed in 1889 for the World's Fair. " +
	"Bananas are rich in potassium. The tower is 330 metres tall."

func chatRequest(t *testing.T, fields map[string]any) *llm.Request {
	t.Helper()
	req := &llm.Request{Endpoint: llm.ChatCompletions, Model: ModelExtractive, Fields: map[string]json.RawMessage{}}
	for k, v := range fields {
		raw, err := json.Marshal(v)
		require.NoError(t, err)
		req.Fields[k] = raw
	}
	return req
}

func msgs(system, user string) []map[string]any {
	var out []map[string]any
	if system != "" {
		out = append(out, map[string]any{"role": "system", "content": system})
	}
	return append(out, map[string]any{"role": "user", "content": user})
}

func decodeChat(t *testing.T, resp *llm.Response) wire.ChatCompletion {
	t.Helper()
	var c wire.ChatCompletion
	require.NoError(t, json.Unmarshal(resp.Body, &c))
	return c
}

func TestAnswer(t *testing.T) {
	tests := []struct {
		name     string
		fields   map[string]any
		want     string
		finish   string
		contains []string
	}{
		{
			name:   "picks the matching sentence",
			fields: map[string]any{"messages": msgs(passage, "When was it completed?")},
			want:   "It was completed in 1889 for the World's Fair.",
			finish: "stop",
		},
		{
			name:   "several sentences in original order",
			fields: map[string]any{"messages": msgs(passage, "Where is the Eiffel Tower and how tall is it?")},
			want:   "The Eiffel Tower is in Paris. The tower is 330 metres tall.",
			finish: "stop",
		},
		{
			name:   "no context",
			fields: map[string]any{"messages": msgs("", "How tall is the Eiffel Tower?")},
			want:   NoContextAnswer,
			finish: "stop",
		},
		{
			name:   "nothing matches",
			fields: map[string]any{"messages": msgs(passage, "Who wrote Hamlet?")},
			want:   NotFoundAnswer,
			finish: "stop",
		},
		{
			name:   "max_tokens truncates",
			fields: map[string]any{"messages": msgs(passage, "When was it completed?"), "max_tokens": 4},
			want:   "It was completed in",
			finish: "length",
		},
		{
			name:   "max_completion_tokens wins when smaller",
			fields: map[string]any{"messages": msgs(passage, "When was it completed?"), "max_tokens": 50, "max_completion_tokens": 2},
			want:   "It was",
			finish: "length",
		},
		{
			name:   "max_tokens large enough",
			fields: map[string]any{"messages": msgs(passage, "When was it completed?"), "max_tokens": 11},
			want:   "It was completed in 1889 for the World's Fair.",
			finish: "stop",
		},
		{
			name:   "stop sequence",
			fields: map[string]any{"messages": msgs(passage, "When was it completed?"), "stop": []string{" for", "xyz"}},
			want:   "It was completed in 1889",
			finish: "stop",
		},
		{
			name: "context from earlier turns and content parts",
			fields: map[string]any{"messages": []map[string]any{
				{"role": "user", "content": []map[string]any{{"type": "text", "text": "Notes: Mercury is the closest planet to the Sun."}, {"type": "text", "text": "Venus is the hottest planet."}}},
				{"role": "assistant", "content": "Noted."},
				{"role": "user", "content": "Which planet is the hottest?"},
			}},
			want:   "Venus is the hottest planet.",
			finish: "stop",
		},
		{
			name:   "abbreviations do not split",
			fields: map[string]any{"messages": msgs("Aspirin, e.g. in low doses, reduces clotting. Coffee is bitter.", "what reduces clotting")},
			want:   "Aspirin, e.g. in low doses, reduces clotting.",
			finish: "stop",
		},
		{
			name:   "tools with auto are ignored",
			fields: map[string]any{"messages": msgs(passage, "When was it completed?"), "tools": []map[string]any{{"type": "function", "function": map[string]any{"name": "f"}}}, "tool_choice": "auto", "temperature": 0.3},
			want:   "It was completed in 1889 for the World's Fair.",
			finish: "stop",
		},
	}
	b := New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := b.Generate(context.Background(), chatRequest(t, tt.fields))
			require.NoError(t, err)
			c := decodeChat(t, resp)
			require.Equal(t, wire.ObjectChatCompletion, c.Object)
			require.True(t, strings.HasPrefix(c.ID, "chatcmpl-"))
			require.Equal(t, ModelExtractive, c.Model)
			require.NotZero(t, c.Created)
			require.Len(t, c.Choices, 1)
			require.Equal(t, "assistant", c.Choices[0].Message.Role)
			require.NotNil(t, c.Choices[0].Message.Content)
			require.Equal(t, tt.want, *c.Choices[0].Message.Content)
			require.Equal(t, tt.finish, c.Choices[0].FinishReason)
			require.Equal(t, resp.Usage, *c.Usage)
			require.Positive(t, resp.Usage.PromptTokens)
			require.Equal(t, resp.Usage.PromptTokens+resp.Usage.CompletionTokens, resp.Usage.TotalTokens)
		})
	}
}

func TestGenerateN(t *testing.T) {
	resp, err := New().Generate(context.Background(), chatRequest(t, map[string]any{"messages": msgs(passage, "Where is the Eiffel Tower?"), "n": 3}))
	require.NoError(t, err)
	c := decodeChat(t, resp)
	require.Len(t, c.Choices, 3)
	for i, ch := range c.Choices {
		require.Equal(t, i, ch.Index)
		require.Equal(t, "The Eiffel Tower is in Paris.", *ch.Message.Content)
	}
	require.Equal(t, 3*6, resp.Usage.CompletionTokens)
}

func TestCompletions(t *testing.T) {
	req := chatRequest(t, map[string]any{"prompt": []string{
		"Context:\n" + passage + "\n\nQuestion: How tall is the tower in metres?\n",
		"hello there",
	}})
	req.Endpoint = llm.Completions
	resp, err := New().Generate(context.Background(), req)
	require.NoError(t, err)
	var c wire.TextCompletion
	require.NoError(t, json.Unmarshal(resp.Body, &c))
	require.Equal(t, wire.ObjectTextCompletion, c.Object)
	require.True(t, strings.HasPrefix(c.ID, "cmpl-"))
	require.Len(t, c.Choices, 2)
	require.Equal(t, "The tower is 330 metres tall.", c.Choices[0].Text)
	require.Equal(t, NoContextAnswer, c.Choices[1].Text)
	require.Equal(t, "stop", *c.Choices[1].FinishReason)
}

// collect drains a stream, checking its shape, and returns the text of
// every choice and the final usage.
func collect(t *testing.T, s llm.Stream, endpoint llm.Endpoint) (texts map[int]string, finish map[int]string, usage llm.Usage) {
	t.Helper()
	texts, finish = map[int]string{}, map[int]string{}
	var chunks []llm.Chunk
	for {
		c, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		chunks = append(chunks, c)
	}
	require.NotEmpty(t, chunks)
	last := chunks[len(chunks)-1]
	require.True(t, last.UsageOnly, "usage chunk comes last")
	require.NotNil(t, last.Usage)
	usage = *last.Usage
	for i, c := range chunks {
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(c.Data, &m))
		if i == len(chunks)-1 {
			require.JSONEq(t, "[]", string(m["choices"]))
			continue
		}
		require.False(t, c.UsageOnly)
		require.Nil(t, c.Usage)
		require.NotContains(t, m, "usage")
		if endpoint == llm.Completions {
			var tc wire.TextCompletion
			require.NoError(t, json.Unmarshal(c.Data, &tc))
			require.Equal(t, wire.ObjectTextCompletion, tc.Object)
			require.Len(t, tc.Choices, 1)
			texts[tc.Choices[0].Index] += tc.Choices[0].Text
			if f := tc.Choices[0].FinishReason; f != nil {
				finish[tc.Choices[0].Index] = *f
			}
			continue
		}
		var cc wire.ChatCompletionChunk
		require.NoError(t, json.Unmarshal(c.Data, &cc))
		require.Equal(t, wire.ObjectChatCompletionChunk, cc.Object)
		require.Len(t, cc.Choices, 1)
		ch := cc.Choices[0]
		if _, started := texts[ch.Index]; !started {
			require.Equal(t, "assistant", ch.Delta.Role, "first chunk of a choice carries the role")
		}
		if ch.Delta.Content != nil {
			texts[ch.Index] += *ch.Delta.Content
		} else {
			texts[ch.Index] += ""
		}
		if ch.FinishReason != nil {
			finish[ch.Index] = *ch.FinishReason
		}
	}
	_, err := s.Recv()
	require.ErrorIs(t, err, io.EOF)
	require.NoError(t, s.Close())
	return texts, finish, usage
}

func TestStreamMatchesGenerate(t *testing.T) {
	tests := []struct {
		name     string
		endpoint llm.Endpoint
		fields   map[string]any
	}{
		{"chat", llm.ChatCompletions, map[string]any{"messages": msgs(passage, "How tall is the tower and where is it?")}},
		{"chat n=2", llm.ChatCompletions, map[string]any{"messages": msgs(passage, "When was it completed?"), "n": 2}},
		{"chat length", llm.ChatCompletions, map[string]any{"messages": msgs(passage, "When was it completed?"), "max_tokens": 3}},
		{"chat no context", llm.ChatCompletions, map[string]any{"messages": msgs("", "anything")}},
		{"completion", llm.Completions, map[string]any{"prompt": passage + "\nWhen was it completed?"}},
	}
	b := New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := chatRequest(t, tt.fields)
			req.Endpoint = tt.endpoint
			resp, err := b.Generate(context.Background(), req)
			require.NoError(t, err)
			wantText, wantFinish := map[int]string{}, map[int]string{}
			if tt.endpoint == llm.Completions {
				var c wire.TextCompletion
				require.NoError(t, json.Unmarshal(resp.Body, &c))
				for _, ch := range c.Choices {
					wantText[ch.Index], wantFinish[ch.Index] = ch.Text, *ch.FinishReason
				}
			} else {
				for _, ch := range decodeChat(t, resp).Choices {
					wantText[ch.Index], wantFinish[ch.Index] = *ch.Message.Content, ch.FinishReason
				}
			}

			req.Stream = true
			s, err := b.GenerateStream(context.Background(), req)
			require.NoError(t, err)
			texts, finish, usage := collect(t, s, tt.endpoint)
			require.Equal(t, wantText, texts)
			require.Equal(t, wantFinish, finish)
			require.Equal(t, resp.Usage, usage)
		})
	}
}

func TestStreamCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New().GenerateStream(ctx, chatRequest(t, map[string]any{"messages": msgs(passage, "Where is the tower?")}))
	require.NoError(t, err)
	_, err = s.Recv()
	require.NoError(t, err)
	cancel()
	require.Eventually(t, func() bool {
		_, err := s.Recv()
		return errors.Is(err, context.Canceled)
	}, 5*time.Second, time.Millisecond)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")
}

func TestStreamClose(t *testing.T) {
	s, err := New().GenerateStream(context.Background(), chatRequest(t, map[string]any{"messages": msgs(passage, "Where is the tower?")}))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = s.Recv()
	require.ErrorIs(t, err, io.EOF)
}

func TestInvalidRequests(t *testing.T) {
	m := msgs(passage, "Where?")
	tests := []struct {
		name     string
		endpoint llm.Endpoint
		fields   map[string]any
		param    string
	}{
		{"tool_choice required", llm.ChatCompletions, map[string]any{"messages": m, "tool_choice": "required"}, "tool_choice"},
		{"tool_choice named", llm.ChatCompletions, map[string]any{"messages": m, "tool_choice": map[string]any{"type": "function", "function": map[string]any{"name": "f"}}}, "tool_choice"},
		{"tool_choice unknown", llm.ChatCompletions, map[string]any{"messages": m, "tool_choice": "sometimes"}, "tool_choice"},
		{"tools malformed", llm.ChatCompletions, map[string]any{"messages": m, "tools": "x"}, "tools"},
		{"no messages", llm.ChatCompletions, map[string]any{}, "messages"},
		{"empty messages", llm.ChatCompletions, map[string]any{"messages": []any{}}, "messages"},
		{"messages malformed", llm.ChatCompletions, map[string]any{"messages": 3}, "messages"},
		{"content malformed", llm.ChatCompletions, map[string]any{"messages": []any{map[string]any{"role": "user", "content": 5}}}, "messages"},
		{"image part", llm.ChatCompletions, map[string]any{"messages": []any{map[string]any{"role": "user", "content": []any{map[string]any{"type": "image_url", "image_url": map[string]any{"url": "http://x"}}}}}}, "messages"},
		{"json output", llm.ChatCompletions, map[string]any{"messages": m, "response_format": map[string]any{"type": "json_object"}}, "response_format"},
		{"max_tokens zero", llm.ChatCompletions, map[string]any{"messages": m, "max_tokens": 0}, "max_tokens"},
		{"max_tokens string", llm.ChatCompletions, map[string]any{"messages": m, "max_tokens": "5"}, "max_tokens"},
		{"n too large", llm.ChatCompletions, map[string]any{"messages": m, "n": 1000}, "n"},
		{"stop too many", llm.ChatCompletions, map[string]any{"messages": m, "stop": []string{"a", "b", "c", "d", "e"}}, "stop"},
		{"stop malformed", llm.ChatCompletions, map[string]any{"messages": m, "stop": 7}, "stop"},
		{"no prompt", llm.Completions, map[string]any{}, "prompt"},
		{"token prompt", llm.Completions, map[string]any{"prompt": []int{1, 2}}, "prompt"},
		{"too many choices", llm.Completions, map[string]any{"prompt": []string{"a", "b"}, "n": 100}, "n"},
	}
	b := New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := chatRequest(t, tt.fields)
			req.Endpoint = tt.endpoint
			for _, stream := range []bool{false, true} {
				var err error
				if stream {
					_, err = b.GenerateStream(context.Background(), req)
				} else {
					_, err = b.Generate(context.Background(), req)
				}
				require.ErrorIs(t, err, llm.ErrInvalidRequest)
				var pe *llm.ParamError
				require.ErrorAs(t, err, &pe)
				require.Equal(t, tt.param, pe.Param)
			}
		})
	}
}

func TestEmbed(t *testing.T) {
	tests := []struct {
		name  string
		model string
		dims  int
		want  int
	}{
		{"default", ModelLexical, 0, 384},
		{"empty model", "", 0, 384},
		{"dimensions", ModelLexical, 64, 64},
		{"max dimensions", ModelLexical, 4096, 4096},
		{"too many dimensions", ModelLexical, 4097, 384},
		{"negative dimensions", ModelLexical, -1, 384},
	}
	b := New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := b.Embed(context.Background(), &llm.EmbedRequest{Model: tt.model, Input: []string{"hello world", "", "the tower"}, Dimensions: tt.dims})
			require.NoError(t, err)
			require.Equal(t, ModelLexical, resp.Model)
			require.Len(t, resp.Vectors, 3)
			for _, v := range resp.Vectors {
				require.Len(t, v, tt.want)
			}
			require.Equal(t, llm.Usage{PromptTokens: 4, TotalTokens: 4}, resp.Usage)
		})
	}
	_, err := b.Embed(context.Background(), &llm.EmbedRequest{Model: "text-embedding-3-small", Input: []string{"x"}})
	var pe *llm.ParamError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "model", pe.Param)
	require.Contains(t, pe.Message, ModelLexical)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = b.Embed(ctx, &llm.EmbedRequest{Input: []string{"x"}})
	require.ErrorIs(t, err, context.Canceled)
}

func TestModels(t *testing.T) {
	models, err := New().Models(context.Background())
	require.NoError(t, err)
	require.Equal(t, []llm.Model{
		{ID: "ragway-extractive", Created: modelsCreated, OwnedBy: "ragway"},
		{ID: "ragway-lexical", Created: modelsCreated, OwnedBy: "ragway"},
	}, models)
}

func FuzzGenerate(f *testing.F) {
	f.Add(`{"messages":[{"role":"system","content":"A b. C d!"},{"role":"user","content":"b"}],"max_tokens":1,"stop":"d","n":2}`, false)
	f.Add(`{"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"tool_choice":{"type":"function"}}`, false)
	f.Add(`{"prompt":["a\nb","c"],"stop":["x"],"max_completion_tokens":3}`, true)
	f.Add(`{"prompt":"e.g. Dr. X. went home.\nwho went home?","n":null}`, true)
	f.Add(`{"messages":"x","tools":[1],"response_format":{"type":7}}`, false)
	b := New()
	f.Fuzz(func(t *testing.T, body string, completions bool) {
		var fields map[string]json.RawMessage
		if json.Unmarshal([]byte(body), &fields) != nil {
			return
		}
		req := &llm.Request{Endpoint: llm.ChatCompletions, Fields: fields}
		if completions {
			req.Endpoint = llm.Completions
		}
		resp, err := b.Generate(context.Background(), req)
		if err != nil {
			require.ErrorIs(t, err, llm.ErrInvalidRequest)
			return
		}
		require.True(t, json.Valid(resp.Body))
		s, err := b.GenerateStream(context.Background(), req)
		require.NoError(t, err)
		defer s.Close()
		for {
			c, err := s.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			require.True(t, json.Valid(c.Data))
		}
	})
}

func BenchmarkGenerate(b *testing.B) {
	ctx := strings.Repeat(passage+" ", 50)
	raw, _ := json.Marshal(msgs(ctx, "How tall is the tower?"))
	req := &llm.Request{Endpoint: llm.ChatCompletions, Fields: map[string]json.RawMessage{"messages": raw}}
	be := New()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := be.Generate(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}
