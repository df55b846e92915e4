//go:build !milvus

package stores_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/retrieval/stores"
)

func TestNoMilvusBuild(t *testing.T) {
	cfg := stores.Config{Store: stores.Milvus, Milvus: stores.MilvusConfig{Address: "127.0.0.1:19530"}}
	require.ErrorContains(t, cfg.Validate(), "built without the Milvus client")
	_, err := stores.OpenKind(context.Background(), cfg, stores.Milvus, t.TempDir())
	require.ErrorContains(t, err, "built without the Milvus client")
}
