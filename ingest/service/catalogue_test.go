package service_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/ingest/service"
)

func TestBatchLifecycle(t *testing.T) {
	e := openEnv(t, t.TempDir(), envOptions{})
	ctx := context.Background()
	vs := e.newStore("acme")
	a, b := e.upload("acme", "a.txt", guide), e.upload("acme", "b.txt", "")
	batch, err := e.svc.CreateBatch(ctx, "acme", vs.ID, service.BatchRequest{FileIDs: []string{a.ID, b.ID},
		Attributes: map[string]any{"team": "docs"}})
	require.NoError(t, err)
	require.Equal(t, int64(2), batch.FileCounts.Total)
	require.Eventually(t, func() bool {
		batch, err = e.svc.GetBatch(ctx, "acme", vs.ID, batch.ID)
		require.NoError(t, err)
		return batch.Status != service.StatusInProgress
	}, 10e9, 5e6)
	require.Equal(t, service.StatusCompleted, batch.Status)
	require.Equal(t, service.FileCounts{Completed: 1, Failed: 1, Total: 2}, batch.FileCounts)

	failed, err := e.svc.ListBatchFiles(ctx, "acme", vs.ID, batch.ID, service.ListParams{Filter: service.StatusFailed})
	require.NoError(t, err)
	require.Len(t, failed.Data, 1)
	require.Equal(t, b.ID, failed.Data[0].ID)
	require.Equal(t, "docs", failed.Data[0].Attributes["team"])

	_, err = e.svc.CreateBatch(ctx, "acme", vs.ID, service.BatchRequest{FileIDs: []string{a.ID, "file-missing"}})
	require.ErrorIs(t, err, errNotFound)
	_, err = e.svc.CreateBatch(ctx, "acme", vs.ID, service.BatchRequest{})
	require.ErrorIs(t, err, service.ErrInvalid)
}

func TestCancelBatch(t *testing.T) {
	dir := t.TempDir()
	e := openEnv(t, dir, envOptions{noWorker: true})
	ctx := context.Background()
	vs := e.newStore("acme")
	f := e.upload("acme", "a.txt", guide)
	batch, err := e.svc.CreateBatch(ctx, "acme", vs.ID, service.BatchRequest{FileIDs: []string{f.ID}})
	require.NoError(t, err)
	batch, err = e.svc.CancelBatch(ctx, "acme", vs.ID, batch.ID)
	require.NoError(t, err)
	require.Equal(t, service.StatusCancelled, batch.Status)
	require.Equal(t, service.FileCounts{Cancelled: 1, Total: 1}, batch.FileCounts)
	e.close()

	// The worker drops the cancelled file's job.
	e = openEnv(t, dir, envOptions{})
	require.Eventually(t, func() bool {
		n, err := e.queue.Len(ctx)
		require.NoError(t, err)
		return n == 0
	}, 10e9, 5e6)
	got, err := e.svc.GetStoreFile(ctx, "acme", vs.ID, f.ID)
	require.NoError(t, err)
	require.Equal(t, service.StatusCancelled, got.Status)
	res, err := e.search("acme", vs.ID, "backends")
	require.NoError(t, err)
	require.Empty(t, res)
}

func TestUpdateStoreAndValidation(t *testing.T) {
	e := openEnv(t, t.TempDir(), envOptions{})
	ctx := context.Background()
	vs, err := e.svc.CreateStore(ctx, "acme", service.CreateStoreRequest{Name: "a",
		ChunkingStrategy: &service.ChunkingStrategy{Type: "static", Static: &service.StaticChunking{MaxChunkSizeTokens: 400, ChunkOverlapTokens: 100}},
		ExpiresAfter:     &service.ExpiresAfter{Anchor: "last_active_at", Days: 7}})
	require.NoError(t, err)
	require.NotNil(t, vs.ExpiresAt)
	name := "renamed"
	vs, err = e.svc.UpdateStore(ctx, "acme", vs.ID, service.UpdateStoreRequest{Name: &name, Metadata: map[string]string{"k": "v"}, ClearExpiry: true})
	require.NoError(t, err)
	require.Equal(t, "renamed", vs.Name)
	require.Equal(t, map[string]string{"k": "v"}, vs.Metadata)
	require.Nil(t, vs.ExpiresAfter)
	require.Equal(t, 400, vs.ChunkingStrategy.Static.MaxChunkSizeTokens)

	bad := []struct {
		name string
		req  service.CreateStoreRequest
	}{
		{"chunk too small", service.CreateStoreRequest{ChunkingStrategy: &service.ChunkingStrategy{Type: "static", Static: &service.StaticChunking{MaxChunkSizeTokens: 50}}}},
		{"overlap too large", service.CreateStoreRequest{ChunkingStrategy: &service.ChunkingStrategy{Type: "static", Static: &service.StaticChunking{MaxChunkSizeTokens: 400, ChunkOverlapTokens: 300}}}},
		{"unknown type", service.CreateStoreRequest{ChunkingStrategy: &service.ChunkingStrategy{Type: "other"}}},
		{"bad expiry", service.CreateStoreRequest{ExpiresAfter: &service.ExpiresAfter{Anchor: "created_at", Days: 1}}},
		{"missing file", service.CreateStoreRequest{FileIDs: []string{"file-nope"}}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.CreateStore(ctx, "acme", tt.req)
			require.Error(t, err)
		})
	}
	f := e.upload("acme", "a.txt", guide)
	_, err = e.svc.AddFile(ctx, "acme", vs.ID, service.AddFileRequest{FileID: f.ID, Attributes: map[string]any{"x": []any{1}}})
	require.ErrorIs(t, err, service.ErrInvalid)
	_, err = e.svc.Upload(ctx, "acme", "a.txt", "nonsense", nil)
	require.ErrorIs(t, err, service.ErrInvalid)
}

func TestListPagination(t *testing.T) {
	e := openEnv(t, t.TempDir(), envOptions{noWorker: true})
	ctx := context.Background()
	var ids []string
	for i := range 5 {
		ids = append(ids, e.upload("acme", fmt.Sprintf("%d.txt", i), "x").ID)
	}
	var got []string
	p := service.ListParams{Limit: 2, Order: "asc"}
	for {
		page, err := e.svc.ListFiles(ctx, "acme", p)
		require.NoError(t, err)
		for _, f := range page.Data {
			got = append(got, f.ID)
		}
		if !page.HasMore {
			break
		}
		p.After = *page.LastID
	}
	require.Equal(t, ids, got)

	desc, err := e.svc.ListFiles(ctx, "acme", service.ListParams{Limit: 10})
	require.NoError(t, err)
	require.Equal(t, ids[4], desc.Data[0].ID)

	before, err := e.svc.ListFiles(ctx, "acme", service.ListParams{Order: "asc", Before: ids[3], Limit: 2})
	require.NoError(t, err)
	require.Equal(t, ids[1:3], []string{before.Data[0].ID, before.Data[1].ID})

	for _, bad := range []service.ListParams{{Limit: 101}, {Order: "up"}, {After: "file-unknown"}} {
		_, err := e.svc.ListFiles(ctx, "acme", bad)
		require.ErrorIs(t, err, service.ErrInvalid)
	}
}
