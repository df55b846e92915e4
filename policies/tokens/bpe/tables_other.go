//go:build !unix

package bpe

// mapsTables tells whether newTables maps its memory outside the heap.
const mapsTables = false

// newTables allocates the tables in the heap where mapping memory is not
// available.
func newTables(size int) *tables { return heapTables(size) }
