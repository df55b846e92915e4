package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm/llmtest"
	"github.com/ragway/ragway/llm/wire"
	"github.com/ragway/ragway/policies/keys"
	"github.com/ragway/ragway/policies/tokens"
)

const accessConfig = `
server: {addr: 127.0.0.1:0}
auth:
  keys: {cache_ttl: 200ms, negative_cache_ttl: 50ms}
roles:
  - {name: small-only, models: ["small-*"]}
backends:
  - {name: fake, type: openai, url: {{FAKE}}, retry: {attempts: 1}}
routes:
  - {model: small-chat, targets: [{backend: fake, model: m-small}]}
  - {model: big-chat, targets: [{backend: fake, model: m-big}]}
limits:
  rules:
    - {scope: key, match: "*", requests_per_minute: 5, burst: 5}
`

func (h *harness) newKey(tenant string, roles ...string) (string, string) {
	h.t.Helper()
	rec, secret, err := h.srv.keySvc.Create(context.Background(), keys.CreateRequest{Tenant: tenant, Name: "t", Roles: roles})
	require.NoError(h.t, err)
	return rec.ID, secret.Reveal()
}

func bearerH(key string) []string { return []string{"Authorization", "Bearer " + key} }

func errorOf(t *testing.T, body string) errorDetail {
	t.Helper()
	var eb errorBody
	require.NoError(t, json.Unmarshal([]byte(body), &eb), body)
	require.NotEmpty(t, eb.Error.Message)
	return eb.Error
}

func TestAuthenticationFailures(t *testing.T) {
	h := startGateway(t, accessConfig)
	_, good := h.newKey("acme", "user")
	cases := []struct {
		name   string
		header []string
		code   string
	}{
		{"missing", nil, "missing_api_key"},
		{"not bearer", []string{"Authorization", "Basic abc"}, "invalid_api_key"},
		{"empty bearer", []string{"Authorization", "Bearer "}, "invalid_api_key"},
		{"unknown key", bearerH("rgw-aaaaaaaaaaaaaaaa-" + strings.Repeat("a", 52)), "invalid_api_key"},
		{"tampered key", bearerH(good[:len(good)-1] + "x"), "invalid_api_key"},
		{"garbage", bearerH("not-a-key"), "invalid_api_key"},
		{"jwt without issuers", bearerH("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."), "invalid_api_key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := h.post("/v1/chat/completions", chatBody("small-chat", "hi"), tc.header...)
			require.Equal(t, http.StatusUnauthorized, status)
			e := errorOf(t, body)
			require.Equal(t, tc.code, *e.Code)
			require.NotContains(t, body, good[4:20], "the response never echoes a credential")
		})
	}
	status, _, _ := h.post("/v1/chat/completions", chatBody("small-chat", "hi"), bearerH(good)...)
	require.Equal(t, http.StatusOK, status)
	require.NotContains(t, h.logs.String(), good)
}

func TestModelAccessAndTenantIsolation(t *testing.T) {
	h := startGateway(t, accessConfig)
	_, small := h.newKey("acme", "small-only")
	_, user := h.newKey("globex", "user")

	status, _, _ := h.post("/v1/chat/completions", chatBody("small-chat", "hi"), bearerH(small)...)
	require.Equal(t, http.StatusOK, status)
	status, _, body := h.post("/v1/chat/completions", chatBody("big-chat", "hi"), bearerH(small)...)
	require.Equal(t, http.StatusNotFound, status, "a denied model looks like a missing one")
	require.Equal(t, "model_not_found", *errorOf(t, body).Code)
	require.Equal(t, 0, h.fake.ModelCount("m-big"))

	// /v1/models lists only what the caller may use.
	req, _ := http.NewRequest(http.MethodGet, h.url+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+small)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var list struct{ Data []modelObject }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	resp.Body.Close()
	require.Len(t, list.Data, 1)
	require.Equal(t, "small-chat", list.Data[0].ID)

	// A user key can call both models, but not the admin API.
	status, _, _ = h.post("/v1/chat/completions", chatBody("big-chat", "hi"), bearerH(user)...)
	require.Equal(t, http.StatusOK, status)
	status, _, _ = h.post("/admin/keys", `{"name":"x"}`, bearerH(user)...)
	require.Equal(t, http.StatusForbidden, status)
}

func TestAdminKeysAndUsageAreTenantScoped(t *testing.T) {
	h := startGateway(t, accessConfig)
	_, acmeAdmin := h.newKey("acme", "admin")
	globexKeyID, globexAdmin := h.newKey("globex", "admin")

	status, _, body := h.post("/admin/keys", `{"name":"svc","roles":["small-only"],"expires_in":"24h"}`, bearerH(acmeAdmin)...)
	require.Equal(t, http.StatusCreated, status, body)
	var created keyWithSecret
	require.NoError(t, json.Unmarshal([]byte(body), &created))
	require.Equal(t, "acme", created.Tenant)
	require.True(t, keys.IsKey(created.Key))

	// The new key works, and its usage shows up for acme only.
	status, _, _ = h.post("/v1/chat/completions", chatBody("small-chat", "count me"), bearerH(created.Key)...)
	require.Equal(t, http.StatusOK, status)
	usageOf := func(admin string) []map[string]any {
		req, _ := http.NewRequest(http.MethodGet, h.url+"/admin/usage?group_by=key&step=1h", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var out struct{ Data []map[string]any }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return out.Data
	}
	// Usage is recorded once the response is complete, just after the
	// client has it.
	var rows []map[string]any
	require.Eventually(t, func() bool { rows = usageOf(acmeAdmin); return len(rows) == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, created.ID, rows[0]["key"])
	require.EqualValues(t, 1, rows[0]["requests"])
	require.NotZero(t, rows[0]["prompt_tokens"])
	require.Empty(t, usageOf(globexAdmin))

	// Globex cannot see, revoke or rotate acme's key, nor act for acme.
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/admin/keys/" + created.ID},
		{http.MethodDelete, "/admin/keys/" + created.ID},
		{http.MethodPost, "/admin/keys/" + created.ID + "/rotate"},
		{http.MethodGet, "/admin/keys?tenant=acme"},
	} {
		req, _ := http.NewRequest(r.method, h.url+r.path, nil)
		req.Header.Set("Authorization", "Bearer "+globexAdmin)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s %s", r.method, r.path)
	}
	req, _ := http.NewRequest(http.MethodGet, h.url+"/admin/keys", nil)
	req.Header.Set("Authorization", "Bearer "+globexAdmin)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var list struct{ Data []keys.Record }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	resp.Body.Close()
	require.Len(t, list.Data, 1)
	require.Equal(t, globexKeyID, list.Data[0].ID)
	require.NotContains(t, h.logs.String(), created.Key)

	// Revocation takes effect at once on this replica.
	req, _ = http.NewRequest(http.MethodDelete, h.url+"/admin/keys/"+created.ID, nil)
	req.Header.Set("Authorization", "Bearer "+acmeAdmin)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	status, _, _ = h.post("/v1/chat/completions", chatBody("small-chat", "hi"), bearerH(created.Key)...)
	require.Equal(t, http.StatusUnauthorized, status)

	// A tenant admin cannot mint unknown roles.
	status, _, _ = h.post("/admin/keys", `{"name":"x","roles":["root"]}`, bearerH(acmeAdmin)...)
	require.Equal(t, http.StatusBadRequest, status)
}

func TestRateLimitHeadersAnd429(t *testing.T) {
	h := startGateway(t, accessConfig)
	_, key := h.newKey("acme", "user")
	_, other := h.newKey("acme", "user")
	for i := 0; i < 5; i++ {
		status, hdr, _ := h.post("/v1/chat/completions", chatBody("small-chat", "hi"), bearerH(key)...)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "5", hdr.Get("x-ratelimit-limit-requests"))
		require.Equal(t, string(rune('4'-i)), hdr.Get("x-ratelimit-remaining-requests"))
		require.NotEmpty(t, hdr.Get("x-ratelimit-reset-requests"))
	}
	status, hdr, body := h.post("/v1/chat/completions", chatBody("small-chat", "hi"), bearerH(key)...)
	require.Equal(t, http.StatusTooManyRequests, status)
	require.NotEmpty(t, hdr.Get("Retry-After"))
	e := errorOf(t, body)
	require.Equal(t, "rate_limit_exceeded", *e.Code)
	require.Equal(t, "requests", e.Type)
	require.Contains(t, e.Message, "key limit")
	require.Equal(t, 5, h.fake.ModelCount("m-small"), "a rejected call never reaches the backend")
	// The limit is per key: another key of the same tenant is unaffected.
	status, _, _ = h.post("/v1/chat/completions", chatBody("small-chat", "hi"), bearerH(other)...)
	require.Equal(t, http.StatusOK, status)
}

// limitsConfig is the config of a gateway with API keys, one route to
// model on the fake backend and the limits given (YAML under "limits:").
func limitsConfig(route, model, limits string) string {
	return fmt.Sprintf(`
server: {addr: 127.0.0.1:0}
auth: {keys: {cache_ttl: 1s}}
backends: [{name: fake, type: openai, url: {{FAKE}}, retry: {attempts: 1}}]
routes: [{model: %s, targets: [{backend: fake, model: %s}]}]
limits:%s`, route, model, limits)
}

// TestTokenLimitsChargeLeftStreams: a client that leaves a stream before
// its usage chunk is charged its reservation, not refunded it.
func TestTokenLimitsChargeLeftStreams(t *testing.T) {
	h := startGateway(t, limitsConfig("chat", "m", `
  completion_reserve: 1000
  rules: [{scope: key, tokens_per_minute: 10000, concurrency: 1}]
`), llmtest.WithChunks(200), llmtest.WithChunkDelay(20*time.Millisecond))
	_, key := h.newKey("acme", "user")
	req, err := http.NewRequest(http.MethodPost, h.url+"/v1/chat/completions",
		strings.NewReader(chatBody("chat", "hi", `"stream":true`, `"stream_options":{"include_usage":true}`)))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	reserved, err := strconv.Atoi(resp.Header.Get("x-ratelimit-remaining-tokens"))
	require.NoError(t, err)
	reserved = 10000 - reserved
	require.Greater(t, reserved, 1000)
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(line, "data: "), line)
	resp.Body.Close() // leave before the usage chunk

	// The concurrency slot frees when the stream's lease is released.
	var remaining int
	require.Eventually(t, func() bool {
		status, hdr, _ := h.post("/v1/chat/completions", chatBody("chat", "hi", `"max_tokens":1`), bearerH(key)...)
		if status != http.StatusOK {
			return false
		}
		remaining, err = strconv.Atoi(hdr.Get("x-ratelimit-remaining-tokens"))
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)
	// 10000/min refills ~167 tokens a second: allow a few seconds of it.
	require.Less(t, remaining, 10000-reserved+600, "the left stream was refunded")
}

// TestTokenLimitsCountDuringTheCall: a prompt whose byte length fits the
// token limit is admitted by it and counted while the call goes on; the
// headers show what the limits keep, the counted prompt. A prompt whose
// byte length does not fit but whose count does is admitted too, after a
// count up front.
func TestTokenLimitsCountDuringTheCall(t *testing.T) {
	h := startGateway(t, limitsConfig("chat", "m", `
  rules: [{scope: key, tokens_per_minute: 1000}]
`))
	var counter tokens.Counter
	for _, tt := range []struct {
		name   string
		words  int
		stream bool
	}{
		{"bound fits", 100, false},
		{"bound fits, streamed", 100, true},
		{"only the count fits", 200, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			prompt := strings.Repeat("hello ", tt.words)
			msgs := []wire.Message{{Role: "user", Content: json.RawMessage(strconv.Quote(prompt))}}
			exact, err := counter.Chat("chat", msgs, nil)
			require.NoError(t, err)
			bound, ok := tokens.ChatBound(msgs, nil)
			require.True(t, ok)
			require.Greater(t, bound, 5*exact)
			require.Equal(t, tt.words > 150, bound+10 > 1000, "the case's bound fits the limit or not")

			_, key := h.newKey("acme", "user")
			extra := []string{`"max_tokens":10`}
			if tt.stream {
				extra = append(extra, `"stream":true`)
			}
			status, hdr, body := h.post("/v1/chat/completions", chatBody("chat", prompt, extra...), bearerH(key)...)
			require.Equal(t, http.StatusOK, status, body)
			require.Equal(t, strconv.Itoa(1000-exact-10), hdr.Get("x-ratelimit-remaining-tokens"))
		})
	}
}

// TestEmbeddingsReserveNoCompletion: an embeddings call reserves its input
// only, so it fits a tokens_per_minute limit smaller than the completion
// reserve.
func TestEmbeddingsReserveNoCompletion(t *testing.T) {
	h := startGateway(t, limitsConfig("embed", "e", `
  rules: [{scope: key, tokens_per_minute: 500}]
`))
	_, key := h.newKey("acme", "user")
	status, _, body := h.post("/v1/embeddings", `{"model":"embed","input":"hello world"}`, bearerH(key)...)
	require.Equal(t, http.StatusOK, status, body)
}

// TestAdminCannotWidenItsOwnModels: an admin whose key is limited to some
// models cannot mint a key for others.
func TestAdminCannotWidenItsOwnModels(t *testing.T) {
	h := startGateway(t, accessConfig)
	rec, secret, err := h.srv.keySvc.Create(context.Background(),
		keys.CreateRequest{Tenant: "acme", Name: "limited-admin", Roles: []string{"admin"}, Models: []string{"small-*"}})
	require.NoError(t, err)
	require.NotEmpty(t, rec.ID)
	admin := secret.Reveal()
	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"no models", `{"name":"x","roles":["user"]}`, http.StatusBadRequest},
		{"other model", `{"name":"x","roles":["user"],"models":["big-chat"]}`, http.StatusBadRequest},
		{"wider glob", `{"name":"x","roles":["user"],"models":["*"]}`, http.StatusBadRequest},
		{"same glob", `{"name":"x","roles":["user"],"models":["small-*"]}`, http.StatusCreated},
		{"one model within", `{"name":"x","roles":["user"],"models":["small-chat"]}`, http.StatusCreated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := h.post("/admin/keys", tt.body, bearerH(admin)...)
			require.Equal(t, tt.status, status, body)
		})
	}
}

func TestFallbackHonoursModelAccess(t *testing.T) {
	h := startGateway(t, `
server: {addr: 127.0.0.1:0}
auth: {keys: {cache_ttl: 200ms}}
roles: [{name: small-only, models: ["small-*"]}]
backends:
  - {name: dead, type: openai, url: "http://127.0.0.1:1/v1", retry: {attempts: 1}, timeouts: {connect: 200ms}}
  - {name: fake, type: openai, url: {{FAKE}}, retry: {attempts: 1}}
routes:
  - {model: small-chat, targets: [{backend: dead, model: gone}], fallbacks: [big-chat]}
  - {model: big-chat, targets: [{backend: fake, model: m-big}]}
`)
	_, small := h.newKey("acme", "small-only")
	_, user := h.newKey("acme", "user")
	status, _, _ := h.post("/v1/chat/completions", chatBody("small-chat", "hi"), bearerH(small)...)
	require.Equal(t, http.StatusBadGateway, status, "a fallback the key may not use is not taken")
	require.Equal(t, 0, h.fake.ModelCount("m-big"))
	status, _, _ = h.post("/v1/chat/completions", chatBody("small-chat", "hi"), bearerH(user)...)
	require.Equal(t, http.StatusOK, status, "a caller allowed both routes falls back")
	require.Equal(t, 1, h.fake.ModelCount("m-big"))
}

func TestTenantAdminCannotGrantStrongerRoles(t *testing.T) {
	h := startGateway(t, `
server: {addr: 127.0.0.1:0}
auth: {keys: {cache_ttl: 200ms}}
roles:
  - {name: keyadmin, models: ["*"], admin: true}
  - {name: operator, models: ["*"], force_target: true}
  - {name: root, models: ["*"], global_admin: true}
backends: [{name: fake, type: openai, url: {{FAKE}}}]
routes: [{model: chat, targets: [{backend: fake, model: m}]}]
`)
	_, admin := h.newKey("acme", "keyadmin")
	for role, want := range map[string]int{
		"keyadmin": http.StatusCreated,   // held by the caller
		"user":     http.StatusCreated,   // carries no admin power
		"operator": http.StatusForbidden, // force_target the caller lacks
		"admin":    http.StatusForbidden, // an admin role the caller lacks
		"root":     http.StatusForbidden, // global admin
	} {
		status, _, body := h.post("/admin/keys", `{"name":"k","roles":["`+role+`"]}`, bearerH(admin)...)
		require.Equal(t, want, status, "role %s: %s", role, body)
	}
}
