package bench

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFreshPrompts(t *testing.T) {
	var mu sync.Mutex
	var prompts []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []struct {
				Content string `json:"content"`
			} `json:"messages"`
		}
		body, err := io.ReadAll(r.Body)
		if err == nil {
			err = json.Unmarshal(body, &req)
		}
		if err != nil || len(req.Messages) != 2 {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		mu.Lock()
		prompts = append(prompts, req.Messages[1].Content)
		mu.Unlock()
	}))
	defer srv.Close()

	same, err := newEndpoint(t.Context(), "same", srv.Client().Transport, srv.URL, chatBody(Model, false))
	require.NoError(t, err)
	fresh, err := newEndpoint(t.Context(), "fresh", srv.Client().Transport, srv.URL, chatBody(Model, false))
	require.NoError(t, err)
	require.NoError(t, fresh.freshPrompts())

	for range 3 {
		require.NoError(t, same.do(nil))
	}
	require.Equal(t, prompts[0], prompts[1])
	require.Equal(t, prompts[0], prompts[2])

	const n = 300
	for range n {
		require.NoError(t, fresh.do(nil))
	}
	seen := map[string]bool{}
	for _, p := range prompts[3:] {
		require.Len(t, p, len(prompts[0]), "a fresh prompt keeps the length of the original")
		seen[p] = true
	}
	require.Len(t, seen, n, "every prompt differs")
	require.False(t, seen[prompts[0]])
	require.Contains(t, seen, "Say hello to the benchmark in a few words, request #0000012c.")

	bare, err := newEndpoint(t.Context(), "bare", srv.Client().Transport, srv.URL, []byte(`{"model":"m"}`))
	require.NoError(t, err)
	require.ErrorContains(t, bare.freshPrompts(), "no sequence field")
}
