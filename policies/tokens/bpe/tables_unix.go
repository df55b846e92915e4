//go:build unix

package bpe

import (
	"golang.org/x/sys/unix"
)

// mapsTables tells whether newTables maps its memory outside the heap.
const mapsTables = true

// newTables maps size bytes of zeroed memory outside the Go heap, or falls
// back to the heap if the mapping fails. It uses x/sys/unix rather than
// syscall, whose Mprotect exists only on Linux and Darwin.
func newTables(size int) *tables {
	if size <= 0 {
		return heapTables(size)
	}
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return heapTables(size)
	}
	mappedBytes.Add(int64(len(mem)))
	return &tables{
		mem:     mem,
		protect: func(b []byte) error { return unix.Mprotect(b, unix.PROT_READ) },
		free: func(b []byte) {
			if unix.Munmap(b) == nil {
				mappedBytes.Add(-int64(len(b)))
			}
		},
	}
}
