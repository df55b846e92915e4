package bench

import (
	"context"
	"fmt"
	"os"

	"github.com/ragway/ragway/gateway/config"
	"github.com/ragway/ragway/policies/keys"
	"github.com/ragway/ragway/policies/keys/stores"
	"github.com/ragway/ragway/policies/limits"
	"github.com/ragway/ragway/policies/rbac"
)

// Setup describes the gateway to launch.
type Setup struct {
	// UpstreamURL is the OpenAI base URL (ending in /v1) Model routes to.
	UpstreamURL string
	// CPUProfile, when set, is where the gateway writes a CPU profile
	// when it stops.
	CPUProfile string
	// Limits is empty for auth off (callers admitted without
	// credentials, no limits), or limits.StoreMemory or
	// limits.StoreRedis for API-key auth and limits that never reject,
	// kept in that store.
	Limits string
	// RedisAddr is the Redis server of limits.StoreRedis.
	RedisAddr string
	// RedisPrefix namespaces the limit state in Redis.
	RedisPrefix string
}

// Bench tenant and key name of the auth gateways.
const (
	benchTenant  = "bench"
	benchKeyName = "bench"
)

// config returns the YAML config of the gateway s describes, listening
// on addr with its data in dataDir.
func (s Setup) config(addr, dataDir string) []byte {
	if s.Limits == "" {
		return GatewayConfig(s.UpstreamURL, addr, dataDir)
	}
	return AuthGatewayConfig(s.UpstreamURL, addr, dataDir, s.Limits, s.RedisAddr, s.RedisPrefix)
}

// AuthGatewayConfig returns the config of a gateway like GatewayConfig's
// that requires an API key and checks limits that never reject (so every
// request pays the full check) in store (limits.StoreMemory or
// limits.StoreRedis at redisAddr, under redisPrefix). A Redis failure
// rejects the request rather than admitting it unmetered, so it shows as
// an error instead of a fast request.
func AuthGatewayConfig(upstreamURL, addr, dataDir, store, redisAddr, redisPrefix string) []byte {
	b := fmt.Appendf(nil, `server: {addr: %q, shutdown_timeout: 2s}
data_dir: %q
log: {level: warn}
backends:
  - {name: fake, type: openai, url: %q}
routes:
  - model: %s
    targets: [{backend: fake, model: %s}]
limits:
  store: %s
  on_redis_error: fail_closed
`, addr, dataDir, upstreamURL, Model, Model, store)
	if store == limits.StoreRedis {
		b = fmt.Appendf(b, "  redis: {addr: %q, key_prefix: %q}\n", redisAddr, redisPrefix)
	}
	return append(b, `  rules:
    - {scope: key, requests_per_second: 1000000, tokens_per_minute: 1000000000}
    - {scope: tenant, requests_per_minute: 60000000}
`...)
}

func noEnv(string) string { return "" }

// prepareKey creates an API key in the key store of the gateway s
// describes (whose config is yml) before it starts, and returns it; it
// returns "" when s has auth off.
func prepareKey(ctx context.Context, s Setup, yml []byte) (string, error) {
	if s.Limits == "" {
		return "", nil
	}
	cfg, err := config.Parse(yml, noEnv)
	if err != nil {
		return "", fmt.Errorf("gateway config: %w", err)
	}
	if cfg.Auth.Anonymous.Enabled {
		return "", fmt.Errorf("gateway config: anonymous callers admitted with auth on")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return "", fmt.Errorf("data dir: %w", err)
	}
	store, err := stores.Open(ctx, cfg.Auth.Keys, cfg.DataDir)
	if err != nil {
		return "", fmt.Errorf("open key store: %w", err)
	}
	defer store.Close()
	svc := keys.NewService(store, cfg.Auth.Keys.ServiceOptions())
	_, secret, err := svc.Create(ctx, keys.CreateRequest{Tenant: benchTenant, Name: benchKeyName,
		Roles: []string{rbac.RoleUser}})
	if err != nil {
		return "", fmt.Errorf("create api key: %w", err)
	}
	return secret.Reveal(), nil
}
