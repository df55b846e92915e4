package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIngestConfig(t *testing.T) {
	env := map[string]string{"PG": "postgres://x", "REDIS_PW": "pw"}
	getenv := func(k string) string { return env[k] }
	t.Run("defaults", func(t *testing.T) {
		c, err := Parse(nil, getenv)
		require.NoError(t, err)
		require.Equal(t, RoleAll, c.Server.Role)
		require.Equal(t, int64(32<<20), c.Ingest.MaxFileBytes)
		require.Equal(t, IngestSQLite, c.Ingest.Database)
		require.Equal(t, "lexical", c.Ingest.Embedder.Type)
		require.Equal(t, 4, c.Ingest.Attempts)
	})
	t.Run("postgres and redis", func(t *testing.T) {
		c, err := Parse([]byte(`
server: {role: worker}
ingest:
  database: postgres
  postgres_dsn_env: PG
  redis: {addr: "127.0.0.1:6379", password_env: REDIS_PW, queue: {workers: 4}}
  retrieval: {store: embedded, embedded: {fusion: rrf}}
`), getenv)
		require.NoError(t, err)
		require.Equal(t, RoleWorker, c.Server.Role)
		require.Equal(t, "postgres://x", c.Ingest.PostgresDSN.Reveal())
		require.Equal(t, "pw", c.Ingest.Redis.Password.Reveal())
		require.Equal(t, 4, c.Ingest.Redis.Queue.Workers)
	})
	bad := []struct{ name, yaml, want string }{
		{"role", `server: {role: both}`, "server.role"},
		{"database", `ingest: {database: mysql}`, "database must be sqlite or postgres"},
		{"postgres without dsn", `ingest: {database: postgres}`, "postgres_dsn_env"},
		{"dsn env unset", `ingest: {database: postgres, postgres_dsn_env: NOPE}`, "NOPE"},
		{"file size", `ingest: {max_file_bytes: -1}`, "max_file_bytes"},
		{"attempts", `ingest: {attempts: 100}`, "attempts"},
		{"embedder", `ingest: {embedder: {type: magic}}`, "unknown type"},
		{"queue", `ingest: {queue: {workers: 5000}}`, "workers"},
		{"store", `ingest: {retrieval: {store: faiss}}`, "unknown store"},
		{"unknown key", `ingest: {colour: blue}`, "colour"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), getenv)
			require.ErrorContains(t, err, tt.want)
		})
	}
}
