package usage

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// openStores returns the recorders under test: embedded SQLite always, and
// PostgreSQL from the services script.
func openStores(t *testing.T) map[string]*Recorder {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	out := map[string]*Recorder{}
	r, err := Open(context.Background(), "sqlite", filepath.Join(t.TempDir(), "usage.db"), time.Hour, log)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, r.Close()) })
	out["sqlite"] = r
	dsn := os.Getenv("RAGWAY_TEST_POSTGRES_DSN")
	switch {
	case dsn != "":
		r, err := Open(context.Background(), "pgx", dsn, time.Hour, log)
		require.NoError(t, err)
		_, err = r.db.Exec("DELETE FROM ragway_usage")
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, r.Close()) })
		out["postgres"] = r
	case os.Getenv("RAGWAY_TEST_NO_SERVICES") == "":
		t.Fatal("RAGWAY_TEST_POSTGRES_DSN is not set: run `eval $(deploy/dev/services.sh up)` first")
	}
	return out
}

func TestUsageRecordAndQuery(t *testing.T) {
	for name, r := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
			r.Record("acme", "k1", "chat", 10, 5, t0)
			r.Record("acme", "k1", "chat", 20, 7, t0.Add(30*time.Second))
			r.Record("acme", "k2", "embed", 3, 0, t0.Add(2*time.Minute))
			r.Record("acme", "k1", "chat", 1, 1, t0.Add(2*time.Hour)) // outside the range
			r.Record("globex", "k9", "chat", 1000, 1000, t0)          // another tenant
			require.NoError(t, r.Flush(ctx))
			r.Record("acme", "k1", "chat", 100, 50, t0.Add(10*time.Second)) // merges into the stored row

			rows, err := r.Query(ctx, Query{Tenant: "acme", From: t0, To: t0.Add(time.Hour), Step: time.Hour})
			require.NoError(t, err)
			require.Len(t, rows, 1)
			require.Equal(t, Row{Tenant: "acme", Bucket: t0, Requests: 4, PromptTokens: 133, CompletionTokens: 62}, rows[0])

			rows, err = r.Query(ctx, Query{Tenant: "acme", From: t0, To: t0.Add(time.Hour), Step: time.Hour, GroupBy: "model"})
			require.NoError(t, err)
			require.Len(t, rows, 2)
			require.Equal(t, "chat", rows[0].Model)
			require.EqualValues(t, 3, rows[0].Requests)
			require.Equal(t, "embed", rows[1].Model)

			rows, err = r.Query(ctx, Query{Tenant: "acme", Key: "k2", From: t0, To: t0.Add(3 * time.Hour), Step: time.Minute})
			require.NoError(t, err)
			require.Len(t, rows, 1)
			require.Equal(t, t0.Add(2*time.Minute), rows[0].Bucket)

			rows, err = r.Query(ctx, Query{Tenant: "initech", From: t0, To: t0.Add(time.Hour)})
			require.NoError(t, err)
			require.Empty(t, rows, "a tenant sees only its own usage")
			_, err = r.Query(ctx, Query{Tenant: "acme", GroupBy: "color"})
			require.Error(t, err)
		})
	}
}
