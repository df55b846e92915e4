package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/policies/keys"
	"github.com/ragway/ragway/policies/keys/keystest"
	"github.com/ragway/ragway/policies/keys/postgres"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testDSN returns the test server's DSN; a missing one fails the test
// unless RAGWAY_TEST_NO_SERVICES=1.
func testDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("RAGWAY_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("RAGWAY_TEST_NO_SERVICES") == "1" {
			t.Skip("RAGWAY_TEST_POSTGRES_DSN unset and RAGWAY_TEST_NO_SERVICES=1")
		}
		t.Fatal("RAGWAY_TEST_POSTGRES_DSN is unset: run eval \"$(deploy/dev/services.sh up)\" first")
	}
	return dsn
}

// schemaDSNs gives each database name its own fresh schema, dropped when
// the test ends.
func schemaDSNs(t *testing.T) func(db string) llm.Secret {
	t.Helper()
	base := testDSN(t)
	admin, err := pgx.Connect(t.Context(), base)
	require.NoError(t, err)
	// t.Context is cancelled before cleanups run: they use their own.
	t.Cleanup(func() { _ = admin.Close(context.Background()) })
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	run := "keys_test_" + hex.EncodeToString(suffix)
	made := map[string]bool{}
	return func(db string) llm.Secret {
		schema := run + "_" + db
		if !made[schema] {
			_, err := admin.Exec(t.Context(), `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize())
			require.NoError(t, err)
			made[schema] = true
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_, err := admin.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
				require.NoError(t, err)
			})
		}
		u, err := url.Parse(base)
		require.NoError(t, err)
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return llm.Secret(u.String())
	}
}

func TestConformance(t *testing.T) {
	dsnFor := schemaDSNs(t)
	var mu = make(chan struct{}, 1)
	keystest.Run(t, func(t *testing.T, db string) keys.Store {
		mu <- struct{}{}
		dsn := dsnFor(db)
		<-mu
		s, err := postgres.Open(t.Context(), dsn, postgres.Options{MaxConns: 4})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestMigrationsAreVersionedAndIdempotent(t *testing.T) {
	dsn := schemaDSNs(t)("migrate")
	for range 2 {
		s, err := postgres.Open(t.Context(), dsn, postgres.Options{})
		require.NoError(t, err)
		v, err := s.SchemaVersion(t.Context())
		require.NoError(t, err)
		require.Equal(t, 1, v)
		require.NoError(t, s.Close())
	}
}

func TestOpenErrorsHideTheDSN(t *testing.T) {
	for _, dsn := range []string{"postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=1", "::not a dsn hunter2"} {
		_, err := postgres.Open(t.Context(), llm.Secret(dsn), postgres.Options{})
		require.Error(t, err)
		require.NotContains(t, err.Error(), "hunter2")
	}
}
