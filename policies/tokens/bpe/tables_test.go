//go:build unix

package bpe

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestTablesOutsideHeapAreFreed loads encodings, drops them, and checks that
// their mappings are given back once they are collected.
func TestTablesOutsideHeapAreFreed(t *testing.T) {
	base := settledMappedBytes(t)
	e, err := Load(CL100K)
	require.NoError(t, err)
	require.Equal(t, base+int64(len(e.ranks.slots)*8+len(e.ranks.offs)*4+len(e.ranks.arena)), mappedBytes.Load())
	require.Equal(t, 1, e.Count("hello"))
	for range 3 {
		_, err := Load(O200K)
		require.NoError(t, err)
	}
	runtime.KeepAlive(e)
	e = nil
	deadline := time.Now().Add(5 * time.Second)
	for mappedBytes.Load() != base && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	require.Equal(t, base, mappedBytes.Load(), "mappings of unreachable encodings are unmapped")
}

// settledMappedBytes collects until the cleanups of encodings dropped by
// earlier tests have run, so that the figure is one to compare against: it
// must hold still over several collections in a row.
func settledMappedBytes(t *testing.T) int64 {
	t.Helper()
	last, still := mappedBytes.Load(), 0
	for deadline := time.Now().Add(5 * time.Second); still < 5; {
		require.True(t, time.Now().Before(deadline), "mapped bytes still changing after 5s: %d", last)
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
		if now := mappedBytes.Load(); now != last {
			last, still = now, 0
			continue
		}
		still++
	}
	return last
}

// TestTablesAreReadOnly writes into a loaded encoding's tables and expects
// the fault, turned into a panic, that read-only memory gives.
func TestTablesAreReadOnly(t *testing.T) {
	e, err := Load(CL100K)
	require.NoError(t, err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	for name, write := range map[string]func(){
		"arena": func() { e.ranks.arena[0]++ },
		"offs":  func() { e.ranks.offs[1]++ },
		"slots": func() { e.ranks.slots[0]++ },
	} {
		require.Panics(t, write, name)
	}
	require.Equal(t, 1, e.Count("hello"), "the tables are intact")
}
