package retrievaltest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// PostgresDSN returns the test database started by deploy/dev/services.sh.
// It fails the test when none is configured, unless
// RAGWAY_TEST_NO_SERVICES=1, which skips it.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("RAGWAY_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("RAGWAY_TEST_NO_SERVICES") == "1" {
			t.Skip("RAGWAY_TEST_POSTGRES_DSN is unset and RAGWAY_TEST_NO_SERVICES=1")
		}
		t.Fatal(`RAGWAY_TEST_POSTGRES_DSN is unset: run eval "$(deploy/dev/services.sh up)"`)
	}
	return dsn
}

// PostgresSchema names a schema after prefix and key (a test's directory,
// say), so reopening with the same key finds the same data and tests never
// share tables. The schema is dropped when the test ends.
func PostgresSchema(t testing.TB, dsn, prefix, key string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(key))
	schema := prefix + "_" + hex.EncodeToString(sum[:8])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		require.NoError(t, err)
	})
	return schema
}

// Weaviate returns the REST URL and gRPC address of the test Weaviate
// started by deploy/dev/services.sh, failing (or skipping, with
// RAGWAY_TEST_NO_SERVICES=1) when none is configured.
func Weaviate(t testing.TB) (url, grpc string) {
	t.Helper()
	url = os.Getenv("RAGWAY_TEST_WEAVIATE_URL")
	if url == "" {
		if os.Getenv("RAGWAY_TEST_NO_SERVICES") == "1" {
			t.Skip("RAGWAY_TEST_WEAVIATE_URL is unset and RAGWAY_TEST_NO_SERVICES=1")
		}
		t.Fatal(`RAGWAY_TEST_WEAVIATE_URL is unset: run eval "$(deploy/dev/services.sh up)"`)
	}
	return url, os.Getenv("RAGWAY_TEST_WEAVIATE_GRPC")
}
