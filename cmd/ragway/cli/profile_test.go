package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStartTraceAndProfile(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	stop, err := StartTrace(filepath.Join(dir, "trace.out"), &stderr)
	require.NoError(t, err)
	stopProf, err := StartCPUProfile(filepath.Join(dir, "cpu.out"), &stderr)
	require.NoError(t, err)
	stopProf()
	stop()
	data, err := os.ReadFile(filepath.Join(dir, "trace.out"))
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(data, []byte("go 1.")), "a runtime trace header")
	info, err := os.Stat(filepath.Join(dir, "cpu.out"))
	require.NoError(t, err)
	require.Positive(t, info.Size())
	require.Empty(t, stderr.String())

	_, err = StartTrace(filepath.Join(dir, "missing", "trace.out"), &stderr)
	require.Error(t, err)
}
