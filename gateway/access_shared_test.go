package gateway

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm/llmtest"
)

func redisAddr(t *testing.T) string {
	addr := os.Getenv("RAGWAY_TEST_REDIS_ADDR")
	if addr == "" {
		if os.Getenv("RAGWAY_TEST_NO_SERVICES") != "" {
			t.Skip("RAGWAY_TEST_NO_SERVICES is set")
		}
		t.Fatal("RAGWAY_TEST_REDIS_ADDR is not set: run `eval \"$(deploy/dev/services.sh up)\"` first")
	}
	return addr
}

// TestLimitsHoldAcrossReplicas runs three gateways sharing one Redis and
// one key database, hammers them concurrently with one key, and checks that
// together they admit exactly the limit; with memory limits each replica
// admits the limit on its own.
func TestLimitsHoldAcrossReplicas(t *testing.T) {
	const limit = 30
	for _, store := range []string{"redis", "memory"} {
		t.Run(store, func(t *testing.T) {
			redis := ""
			if store == "redis" {
				redis = `  redis: {addr: "` + redisAddr(t) + `", key_prefix: "ragway:test:` + time.Now().Format("150405.000000") + `:"}` + "\n"
			}
			cfg := `
server: {addr: 127.0.0.1:0}
auth: {keys: {cache_ttl: 1s}}
backends: [{name: fake, type: openai, url: {{FAKE}}}]
routes: [{model: chat, targets: [{backend: fake, model: m}]}]
limits:
  store: ` + store + "\n" + redis + `  on_redis_error: fail_closed
  rules: [{scope: key, requests_per_minute: 30, burst: 30}]
`
			fake := llmtest.NewServer()
			t.Cleanup(fake.Close)
			dataDir := t.TempDir()
			var replicas []*harness
			for i := 0; i < 3; i++ {
				// The key database is shared; an embedded vector store is
				// one process's alone, so each replica keeps its own.
				own := cfg + fmt.Sprintf("ingest: {retrieval: {embedded: {dir: retrieval-%d}}}\n", i)
				replicas = append(replicas, startGatewayIn(t, fake, own, dataDir))
			}
			_, key := replicas[0].newKey("acme", "user")
			var ok, limited atomic.Int64
			var wg sync.WaitGroup
			for _, h := range replicas {
				for g := 0; g < 8; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < 10; i++ {
							status, _, _ := h.post("/v1/chat/completions", chatBody("chat", "hi"), bearerH(key)...)
							switch status {
							case http.StatusOK:
								ok.Add(1)
							case http.StatusTooManyRequests:
								limited.Add(1)
							}
						}
					}()
				}
			}
			wg.Wait()
			require.EqualValues(t, 240, ok.Load()+limited.Load())
			if store == "redis" {
				// GCRA refills 0.5 request per second: a run of a few seconds
				// may admit one or two more than the burst.
				require.GreaterOrEqual(t, ok.Load(), int64(limit))
				require.LessOrEqual(t, ok.Load(), int64(limit+2))
			} else {
				require.Greater(t, ok.Load(), int64(2*limit), "per-process limits multiply with the replicas")
			}
		})
	}
}

// startGatewayIn starts a gateway on a shared data dir, as replicas sharing
// one key database.
func startGatewayIn(t *testing.T, fake *llmtest.Server, yamlText, dataDir string) *harness {
	t.Helper()
	return startGatewayFull(t, fake, yamlText, nil, dataDir)
}

func TestJWTCallers(t *testing.T) {
	secret := strings.Repeat("s", 32)
	cfg := `
server: {addr: 127.0.0.1:0}
auth:
  jwt:
    issuers:
      - issuer: https://idp.test/
        audiences: [ragway]
        algorithms: [HS256]
        hmac_secret_env: TEST_JWT_SECRET
roles: [{name: small-only, models: ["small-*"]}]
backends: [{name: fake, type: openai, url: {{FAKE}}}]
routes:
  - {model: small-chat, targets: [{backend: fake, model: m-small}]}
  - {model: big-chat, targets: [{backend: fake, model: m-big}]}
`
	fake := llmtest.NewServer()
	t.Cleanup(fake.Close)
	h := startGatewayEnv(t, fake, cfg, map[string]string{"TEST_JWT_SECRET": secret})
	sign := func(claims jwt.MapClaims, key string) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(key))
		require.NoError(t, err)
		return tok
	}
	now := time.Now()
	good := jwt.MapClaims{"iss": "https://idp.test/", "aud": "ragway", "sub": "alice", "tid": "acme",
		"roles": []string{"small-only"}, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
	status, _, body := h.post("/v1/chat/completions", chatBody("small-chat", "hi"), bearerH(sign(good, secret))...)
	require.Equal(t, http.StatusOK, status, body)
	status, _, _ = h.post("/v1/chat/completions", chatBody("big-chat", "hi"), bearerH(sign(good, secret))...)
	require.Equal(t, http.StatusNotFound, status, "the token's roles decide")

	expired := jwt.MapClaims{}
	for k, v := range good {
		expired[k] = v
	}
	expired["exp"] = now.Add(-time.Hour).Unix()
	wrongAud := jwt.MapClaims{}
	for k, v := range good {
		wrongAud[k] = v
	}
	wrongAud["aud"] = "other"
	for name, tok := range map[string]string{
		"expired":        sign(expired, secret),
		"wrong audience": sign(wrongAud, secret),
		"bad signature":  sign(good, strings.Repeat("x", 32)),
		"truncated":      sign(good, secret)[:40],
	} {
		status, _, body := h.post("/v1/chat/completions", chatBody("small-chat", "hi"), bearerH(tok)...)
		require.Equal(t, http.StatusUnauthorized, status, name)
		require.Equal(t, "invalid_api_key", *errorOf(t, body).Code, name)
		require.NotContains(t, body, "expired", "the reason is never revealed")
	}
}
