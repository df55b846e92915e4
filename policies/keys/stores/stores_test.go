package stores_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ragway/ragway/policies/keys"
	"github.com/ragway/ragway/policies/keys/sqlite"
	"github.com/ragway/ragway/policies/keys/stores"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	s, err := stores.Open(t.Context(), keys.Config{}.WithDefaults(), dir)
	require.NoError(t, err)
	require.IsType(t, &sqlite.Store{}, s)
	require.FileExists(t, filepath.Join(dir, "keys.db"))
	require.NoError(t, s.Close())

	_, err = stores.Open(t.Context(), keys.Config{Store: "mysql"}, dir)
	require.Error(t, err)
	s, err = stores.Open(t.Context(), keys.Config{Path: "x?y"}.WithDefaults(), dir)
	require.Error(t, err)
	require.Nil(t, s, "no typed nil in the interface")
}
