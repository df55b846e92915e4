package client

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// reply is one canned answer of a scripted server.
type reply struct {
	status int
	header map[string]string
	body   string
	// hangUp closes the connection without answering.
	hangUp bool
}

// scripted serves replies in order, then repeats the last one, and counts
// requests.
type scripted struct {
	mu      sync.Mutex
	replies []reply
	n       int
	auth    []string
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	s.mu.Lock()
	rp := s.replies[min(s.n, len(s.replies)-1)]
	s.n++
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	s.mu.Unlock()
	if rp.hangUp {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
		return
	}
	for k, v := range rp.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rp.status)
	_, _ = io.WriteString(w, rp.body)
}

func (s *scripted) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// testClient talks to url and records the waits between attempts instead
// of sleeping.
func testClient(t *testing.T, url string, opts ...Option) (*Client, *[]time.Duration) {
	t.Helper()
	c, err := New(url, opts...)
	require.NoError(t, err)
	var waits []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return ctx.Err()
	}
	return c, &waits
}

const storeJSON = `{"id":"vs_1","object":"vector_store","name":"docs"}`

func TestRetries(t *testing.T) {
	oaiErr := func(msg string) string {
		return `{"error":{"message":"` + msg + `","type":"invalid_request_error","param":"name","code":"bad_name"}}`
	}
	tests := []struct {
		name     string
		replies  []reply
		retries  int
		requests int
		waits    func(t *testing.T, waits []time.Duration)
		check    func(t *testing.T, vs *VectorStore, err error)
	}{
		{
			name:     "503 then 200",
			replies:  []reply{{status: 503, body: oaiErr("busy")}, {status: 200, body: storeJSON}},
			retries:  2,
			requests: 2,
			waits: func(t *testing.T, w []time.Duration) {
				require.Len(t, w, 1)
				require.GreaterOrEqual(t, w[0], initialBackoff*3/4)
				require.LessOrEqual(t, w[0], initialBackoff)
			},
			check: func(t *testing.T, vs *VectorStore, err error) {
				require.NoError(t, err)
				require.Equal(t, "vs_1", vs.ID)
			},
		},
		{
			name: "429 with Retry-After",
			replies: []reply{
				{status: 429, header: map[string]string{"Retry-After": "3"}, body: oaiErr("slow down")},
				{status: 200, body: storeJSON},
			},
			retries:  2,
			requests: 2,
			waits:    func(t *testing.T, w []time.Duration) { require.Equal(t, []time.Duration{3 * time.Second}, w) },
			check:    func(t *testing.T, _ *VectorStore, err error) { require.NoError(t, err) },
		},
		{
			name: "Retry-After is bounded",
			replies: []reply{
				{status: 429, header: map[string]string{"Retry-After": "86400"}},
				{status: 200, body: storeJSON},
			},
			retries:  2,
			requests: 2,
			waits:    func(t *testing.T, w []time.Duration) { require.Equal(t, []time.Duration{MaxRetryAfter}, w) },
			check:    func(t *testing.T, _ *VectorStore, err error) { require.NoError(t, err) },
		},
		{
			name:     "400 is not retried",
			replies:  []reply{{status: 400, body: oaiErr("bad name")}, {status: 200, body: storeJSON}},
			retries:  2,
			requests: 1,
			waits:    func(t *testing.T, w []time.Duration) { require.Empty(t, w) },
			check: func(t *testing.T, _ *VectorStore, err error) {
				var ae *APIError
				require.ErrorAs(t, err, &ae)
				require.Equal(t, APIError{Status: 400, Message: "bad name", Type: "invalid_request_error", Code: "bad_name", Param: "name"}, *ae)
				require.Equal(t, "create vector store: HTTP 400: bad name (bad_name)", err.Error())
			},
		},
		{
			name:     "404 is not retried",
			replies:  []reply{{status: 404, body: oaiErr("gone")}},
			retries:  2,
			requests: 1,
			waits:    func(t *testing.T, w []time.Duration) { require.Empty(t, w) },
			check:    func(t *testing.T, _ *VectorStore, err error) { requireStatus(t, err, 404) },
		},
		{
			name:     "500 until retries run out",
			replies:  []reply{{status: 500, body: oaiErr("boom")}},
			retries:  2,
			requests: 3,
			waits: func(t *testing.T, w []time.Duration) {
				require.Len(t, w, 2)
				require.Greater(t, w[1], w[0], "backoff grows")
				require.LessOrEqual(t, w[1], 2*initialBackoff)
			},
			check: func(t *testing.T, _ *VectorStore, err error) { requireStatus(t, err, 500) },
		},
		{
			name:     "no retries",
			replies:  []reply{{status: 503}, {status: 200, body: storeJSON}},
			retries:  0,
			requests: 1,
			waits:    func(t *testing.T, w []time.Duration) { require.Empty(t, w) },
			check:    func(t *testing.T, _ *VectorStore, err error) { requireStatus(t, err, 503) },
		},
		{
			name:     "connection closed then 200",
			replies:  []reply{{hangUp: true}, {status: 200, body: storeJSON}},
			retries:  2,
			requests: 2,
			waits:    func(t *testing.T, w []time.Duration) { require.Len(t, w, 1) },
			check:    func(t *testing.T, _ *VectorStore, err error) { require.NoError(t, err) },
		},
		{
			name:     "garbage 200 is not retried",
			replies:  []reply{{status: 200, body: "<html>" + strings.Repeat("x", 1000) + "</html>"}},
			retries:  2,
			requests: 1,
			waits:    func(t *testing.T, w []time.Duration) { require.Empty(t, w) },
			check: func(t *testing.T, _ *VectorStore, err error) {
				require.ErrorContains(t, err, `decode response "<html>xxx`)
				require.Less(t, len(err.Error()), 400)
			},
		},
		{
			name:     "200 without id",
			replies:  []reply{{status: 200, body: `{"object":"vector_store"}`}},
			retries:  2,
			requests: 1,
			waits:    func(t *testing.T, w []time.Duration) { require.Empty(t, w) },
			check:    func(t *testing.T, _ *VectorStore, err error) { require.ErrorContains(t, err, "no id") },
		},
		{
			name:     "non-JSON error body",
			replies:  []reply{{status: 502, body: "<html><body>" + strings.Repeat("Bad Gateway ", 200) + "</body></html>"}},
			retries:  0,
			requests: 1,
			waits:    func(t *testing.T, w []time.Duration) { require.Empty(t, w) },
			check: func(t *testing.T, _ *VectorStore, err error) {
				var ae *APIError
				require.ErrorAs(t, err, &ae)
				require.Equal(t, 502, ae.Status)
				require.Empty(t, ae.Message)
				require.True(t, strings.HasPrefix(ae.Body, "<html><body>Bad Gateway"), ae.Body)
				require.LessOrEqual(t, len(ae.Body), maxSnippet)
				require.Contains(t, err.Error(), `HTTP 502: unexpected response body "<html>`)
				require.Less(t, len(err.Error()), 400)
			},
		},
		{
			name:     "oversized body",
			replies:  []reply{{status: 200, body: `{"id":"` + strings.Repeat("a", MaxResponseBytes) + `"}`}},
			retries:  2,
			requests: 1,
			waits:    func(t *testing.T, w []time.Duration) { require.Empty(t, w) },
			check: func(t *testing.T, _ *VectorStore, err error) {
				require.ErrorIs(t, err, ErrResponseTooLarge)
				require.Less(t, len(err.Error()), 200)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scripted{replies: tt.replies}
			srv := httptest.NewServer(s)
			defer srv.Close()
			c, waits := testClient(t, srv.URL, WithMaxRetries(tt.retries))
			vs, err := c.CreateVectorStore(context.Background(), "docs")
			tt.check(t, vs, err)
			require.Equal(t, tt.requests, s.count())
			tt.waits(t, *waits)
		})
	}
}

func requireStatus(t *testing.T, err error, status int) {
	t.Helper()
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, status, ae.Status)
}

func TestCancelWhileWaiting(t *testing.T) {
	s := &scripted{replies: []reply{{status: 503, body: `{"error":{"message":"busy","type":"api_error"}}`}}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c, err := New(srv.URL)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	c.sleep = func(ctx context.Context, d time.Duration) error {
		cancel()
		return sleepCtx(ctx, d)
	}
	_, err = c.CreateVectorStore(ctx, "docs")
	require.ErrorIs(t, err, context.Canceled)
	requireStatus(t, err, 503)
	require.Equal(t, 1, s.count())
}

func TestAuthorization(t *testing.T) {
	tests := []struct {
		name string
		key  string
		want string
	}{
		{"key", "sk-test", "Bearer sk-test"},
		{"no key", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scripted{replies: []reply{{status: 200, body: storeJSON}}}
			srv := httptest.NewServer(s)
			defer srv.Close()
			c, _ := testClient(t, srv.URL, WithAPIKey(tt.key))
			_, err := c.CreateVectorStore(context.Background(), "docs")
			require.NoError(t, err)
			require.Equal(t, []string{tt.want}, s.auth)
		})
	}
}

func TestNewRejectsBadBaseURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8080", "ftp://host", "http://", "http://h/?q=1", "http://[::1"} {
		_, err := New(u)
		require.Error(t, err, u)
	}
	c, err := New("http://127.0.0.1:8080/")
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:8080/v1", c.base)
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"7", 7 * time.Second},
		{" 2 ", 2 * time.Second},
		{"-1", 0},
		{"1.5", 0},
		{"9999999999", 0},
		{"600", MaxRetryAfter},
		{now.Add(10 * time.Second).Format(http.TimeFormat), 10 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{now.Add(time.Hour).Format(http.TimeFormat), MaxRetryAfter},
		{"soon", 0},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			h := http.Header{}
			h.Set("Retry-After", tt.value)
			require.Equal(t, tt.want, retryAfter(h, now))
		})
	}
}

func TestBackoff(t *testing.T) {
	for attempt := range 100 {
		d := backoff(attempt, 0)
		want := min(initialBackoff<<min(attempt, 5), maxBackoff)
		require.LessOrEqual(t, d, want, attempt)
		require.GreaterOrEqual(t, d, want*3/4, attempt)
	}
	require.Equal(t, 4*time.Second, backoff(0, 4*time.Second))
	require.Equal(t, MaxRetryAfter, backoff(0, time.Hour))
}

func TestSleepCtx(t *testing.T) {
	require.NoError(t, sleepCtx(context.Background(), time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, sleepCtx(ctx, time.Hour), context.Canceled)
}

func TestCleanAndSnippet(t *testing.T) {
	require.Equal(t, "a b c", clean("a\nb\x1bc", 100))
	require.Equal(t, "ab\uFFFD", clean("ab\xff", 100))
	long := clean(strings.Repeat("é", 1000), 11)
	require.True(t, utf8.ValidString(long))
	require.Equal(t, strings.Repeat("é", 5)+"…", long)
	s := snippet([]byte(strings.Repeat("é", 300)))
	require.True(t, utf8.ValidString(s))
	require.LessOrEqual(t, len(s), maxSnippet)
	require.GreaterOrEqual(t, len(s), maxSnippet-utf8.UTFMax)
	require.Equal(t, "HTTP 418 I'm a teapot", (&APIError{Status: 418}).Error())
}

func TestVectorStoresStopsOnBadPaging(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"same page again", `{"object":"list","data":[{"id":"vs_1","name":"a"}],"first_id":"vs_1","last_id":"vs_1","has_more":true}`},
		{"no cursor", `{"object":"list","data":[],"first_id":null,"last_id":null,"has_more":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scripted{replies: []reply{{status: 200, body: tt.body}}}
			srv := httptest.NewServer(s)
			defer srv.Close()
			c, _ := testClient(t, srv.URL)
			var names []string
			var last error
			for vs, err := range c.VectorStores(context.Background()) {
				if err != nil {
					last = err
					continue
				}
				names = append(names, vs.Name)
			}
			require.ErrorContains(t, last, "no new last_id")
			require.LessOrEqual(t, s.count(), 2)
			require.Len(t, names, s.count()*strings.Count(tt.body, `"name"`))
		})
	}
}
