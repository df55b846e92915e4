package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ragway/ragway/policies/keys"
	"github.com/ragway/ragway/policies/keys/keystest"
	"github.com/ragway/ragway/policies/keys/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	keystest.Run(t, func(t *testing.T, db string) keys.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(dir, db+".db"))
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestMigrationsAreVersionedAndIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.db")
	for range 2 {
		s, err := sqlite.Open(t.Context(), path)
		require.NoError(t, err)
		v, err := s.SchemaVersion(t.Context())
		require.NoError(t, err)
		require.Equal(t, 1, v)
		require.NoError(t, s.Close())
	}
}

func TestOpenRejectsBadPaths(t *testing.T) {
	for _, p := range []string{"", "a?b", "x#y", filepath.Join(t.TempDir(), "missing", "dir", "keys.db")} {
		_, err := sqlite.Open(t.Context(), p)
		require.Error(t, err, p)
	}
}
