package service_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/ingest/service"
	"github.com/ragway/ragway/retrieval"
)

// TestPostgresCatalogue runs the catalogue on PostgreSQL from the services
// script.
func TestPostgresCatalogue(t *testing.T) {
	dsn := os.Getenv("RAGWAY_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("RAGWAY_TEST_NO_SERVICES") != "" {
			t.Skip("RAGWAY_TEST_POSTGRES_DSN unset and RAGWAY_TEST_NO_SERVICES=1")
		}
		t.Fatal("RAGWAY_TEST_POSTGRES_DSN is unset: run eval \"$(deploy/dev/services.sh up)\" first")
	}
	dir := t.TempDir()
	e := openEnv(t, dir, envOptions{driver: "pgx", dsn: dsn})
	ctx := context.Background()
	// The database outlives the test: tenants are unique to this run.
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	tenant, other := "pg-"+run, "pg-other-"+run

	f := e.upload(tenant, "guide.txt", guide)
	empty := e.upload(tenant, "empty.txt", "")
	vs := e.newStore(tenant)
	batch, err := e.svc.CreateBatch(ctx, tenant, vs.ID, service.BatchRequest{FileIDs: []string{f.ID, empty.ID},
		Attributes: map[string]any{"lang": "en"}})
	require.NoError(t, err)
	require.Equal(t, service.StatusCompleted, e.waitDone(tenant, vs.ID, f.ID).Status)
	require.Equal(t, service.StatusFailed, e.waitDone(tenant, vs.ID, empty.ID).Status)
	batch, err = e.svc.GetBatch(ctx, tenant, vs.ID, batch.ID)
	require.NoError(t, err)
	require.Equal(t, service.FileCounts{Completed: 1, Failed: 1, Total: 2}, batch.FileCounts)
	got, err := e.svc.GetStore(ctx, tenant, vs.ID)
	require.NoError(t, err)
	require.Positive(t, got.UsageBytes)

	res, err := e.search(tenant, vs.ID, "backends YAML", func(r *service.SearchRequest) {
		r.Filters = &retrieval.Filter{Type: "eq", Key: "lang", Value: "en"}
	})
	require.NoError(t, err)
	require.NotEmpty(t, res)
	require.Equal(t, f.ID, res[0].FileID)

	page, err := e.svc.ListFiles(ctx, tenant, service.ListParams{Limit: 1, Order: "asc"})
	require.NoError(t, err)
	require.True(t, page.HasMore)
	require.Equal(t, f.ID, page.Data[0].ID)
	page, err = e.svc.ListFiles(ctx, tenant, service.ListParams{Limit: 1, Order: "asc", After: f.ID})
	require.NoError(t, err)
	require.Equal(t, empty.ID, page.Data[0].ID)

	_, err = e.svc.GetStore(ctx, other, vs.ID)
	require.ErrorIs(t, err, retrieval.ErrNotFound)
	_, err = e.svc.DeleteFile(ctx, tenant, f.ID)
	require.NoError(t, err)
	res, err = e.search(tenant, vs.ID, "backends YAML")
	require.NoError(t, err)
	require.Empty(t, res)
	_, err = e.svc.DeleteStore(ctx, tenant, vs.ID)
	require.NoError(t, err)

	// Reopening resumes against the same database.
	e.close()
	e = openEnv(t, dir, envOptions{driver: "pgx", dsn: dsn})
	_, err = e.svc.GetFile(ctx, tenant, empty.ID)
	require.NoError(t, err)
}
