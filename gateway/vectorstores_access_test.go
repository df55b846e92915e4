package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/policies/keys"
)

func TestVectorStoreRenameNeedsTheNewName(t *testing.T) {
	h := startGateway(t, fakeConfig+`
auth:
  anonymous: {enabled: false}
roles:
  - {name: byid, models: ["*"], collections: ["vs_*"]}
  - {name: reader, models: ["*"], collections: ["public-*"]}
`)
	ctx := context.Background()
	owner := h.client()
	vs, err := owner.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("secret")})
	require.NoError(t, err)
	_, key, err := h.srv.keySvc.Create(ctx, keys.CreateRequest{Tenant: "default", Name: "byid", Roles: []string{"byid"}})
	require.NoError(t, err)
	byID := h.client(option.WithAPIKey(key.Reveal()))
	_, err = byID.VectorStores.Get(ctx, vs.ID)
	require.NoError(t, err)

	_, err = byID.VectorStores.Update(ctx, vs.ID, openai.VectorStoreUpdateParams{Name: openai.String("public-docs")})
	require.Equal(t, http.StatusForbidden, apiStatus(t, err))
	got, err := owner.VectorStores.Get(ctx, vs.ID)
	require.NoError(t, err)
	require.Equal(t, "secret", got.Name)

	renamed, err := owner.VectorStores.Update(ctx, vs.ID, openai.VectorStoreUpdateParams{Name: openai.String("secret-2")})
	require.NoError(t, err, "a caller allowed every name may still rename")
	require.Equal(t, "secret-2", renamed.Name)
}

func TestVectorStoreListPagesOverHiddenStores(t *testing.T) {
	h := startGateway(t, fakeConfig+`
auth:
  anonymous: {enabled: false}
roles:
  - {name: reader, models: ["*"], collections: ["public-*"]}
`)
	ctx := context.Background()
	owner := h.client()
	var public []string
	hidden := map[string]bool{}
	for _, name := range []string{"public-a", "secret-1", "secret-2", "secret-3", "public-b"} {
		vs, err := owner.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String(name)})
		require.NoError(t, err)
		if name[0] == 's' {
			hidden[vs.ID] = true
		} else {
			public = append([]string{vs.ID}, public...)
		}
	}
	_, key, err := h.srv.keySvc.Create(ctx, keys.CreateRequest{Tenant: "default", Name: "reader", Roles: []string{"reader"}})
	require.NoError(t, err)

	list := func(query string) (ids []string, raw string, page struct {
		Data    []struct{ ID string } `json:"data"`
		LastID  *string               `json:"last_id"`
		HasMore bool                  `json:"has_more"`
	}) {
		req, err := http.NewRequest(http.MethodGet, h.url+"/v1/vector_stores"+query, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key.Reveal())
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
		require.NoError(t, json.Unmarshal(b, &page))
		for _, d := range page.Data {
			ids = append(ids, d.ID)
		}
		return ids, string(b), page
	}
	var got []string
	query := "?limit=1"
	for range 5 {
		ids, raw, page := list(query)
		for id := range hidden {
			require.NotContains(t, raw, id)
		}
		got = append(got, ids...)
		if !page.HasMore {
			break
		}
		require.NotNil(t, page.LastID)
		query = "?limit=1&after=" + *page.LastID
	}
	require.Equal(t, public, got)

	ids, _, page := list("?limit=1&order=asc&before=" + public[0])
	require.Equal(t, public[1:], ids)
	require.False(t, page.HasMore)
}
