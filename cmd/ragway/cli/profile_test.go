package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
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

var memSink [][]byte

func TestStartMemProfile(t *testing.T) {
	rate := runtime.MemProfileRate
	t.Cleanup(func() { runtime.MemProfileRate = rate })
	path := filepath.Join(t.TempDir(), "mem.out")
	var stderr bytes.Buffer
	stop, err := StartMemProfile(path, &stderr)
	require.NoError(t, err)
	require.Equal(t, memProfileRate, runtime.MemProfileRate, "sampling is finer than the default")
	for range 100 {
		memSink = append(memSink, make([]byte, 64<<10))
	}
	memSink = nil
	stop()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(data, []byte{0x1f, 0x8b}), "a gzipped pprof profile")
	require.Empty(t, stderr.String())
}
