package migrate

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func FuzzParseCheckpoint(f *testing.F) {
	f.Add([]byte(`{"version":1,"from":"embedded","to":"pgvector","tenant":"t","collection":"c","done":"f9"}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"version":1,"done":123}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cp, err := parseCheckpoint(b)
		if err != nil {
			return
		}
		require.Equal(t, 1, cp.Version)
		// What parses round-trips through save.
		path := filepath.Join(t.TempDir(), "cp.json")
		require.NoError(t, cp.save(path))
		back, err := loadCheckpoint(path, cp)
		require.NoError(t, err)
		require.Equal(t, cp, back)
	})
}
