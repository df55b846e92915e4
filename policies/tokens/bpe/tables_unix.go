//go:build unix

package bpe

import (
	"syscall"
)

// newTables maps size bytes of zeroed memory outside the Go heap, or falls
// back to the heap if the mapping fails.
func newTables(size int) *tables {
	if size <= 0 {
		return heapTables(size)
	}
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return heapTables(size)
	}
	mappedBytes.Add(int64(len(mem)))
	return &tables{
		mem:     mem,
		protect: func(b []byte) error { return syscall.Mprotect(b, syscall.PROT_READ) },
		free: func(b []byte) {
			if syscall.Munmap(b) == nil {
				mappedBytes.Add(-int64(len(b)))
			}
		},
	}
}
