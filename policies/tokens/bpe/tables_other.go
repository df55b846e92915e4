//go:build !unix

package bpe

// newTables allocates the tables in the heap where mapping memory is not
// available.
func newTables(size int) *tables { return heapTables(size) }
