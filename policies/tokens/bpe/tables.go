package bpe

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// mappedBytes is the size of the tables mapped outside the heap and not
// yet given back.
var mappedBytes atomic.Int64

// An encoding's tables (token bytes, offsets, hash slots: 3 MB for
// cl100k_base, 6 MB for o200k_base) hold no pointers and never change once
// built, so on Unix they live in one anonymous mapping outside the Go heap,
// read-only once filled. In the heap they would count towards the live heap
// the collector sizes its goal from: a gateway with both encodings loaded
// would keep a heap goal near 29 MB instead of its 8 MB floor, so about
// 14 MB more resident memory, and its first few thousand requests would
// page-fault the goal's fresh pages in, several faults per request. Where
// mapping is not available they are ordinary slices. The runtime's soft
// memory limit (GOMEMLIMIT) does not count mapped tables: one derived from
// a container's limit must leave them room.

// tablesLayout places the slots first (8-byte aligned), then the offsets,
// then the token bytes.
type tablesLayout struct {
	slots, offs, arena int // element counts
}

func (l tablesLayout) size() int { return 8*l.slots + 4*l.offs + l.arena }

// tables is a block of memory holding an encoding's tables, and how to
// make it read-only and give it back.
type tables struct {
	mem     []byte
	protect func([]byte) error
	free    func([]byte)
}

// views returns the three tables inside t.mem, laid out by l.
func (t *tables) views(l tablesLayout) (slots []uint64, offs []uint32, arena []byte) {
	if l.size() > len(t.mem) {
		panic(fmt.Sprintf("bpe: tables of %d bytes in a block of %d", l.size(), len(t.mem)))
	}
	base := unsafe.Pointer(unsafe.SliceData(t.mem))
	slots = unsafe.Slice((*uint64)(base), l.slots)
	offs = unsafe.Slice((*uint32)(unsafe.Add(base, 8*l.slots)), l.offs)
	arena = t.mem[8*l.slots+4*l.offs : l.size() : l.size()]
	return slots, offs, arena
}

// heapTables is the fallback: an ordinary allocation, 8-byte aligned.
func heapTables(size int) *tables {
	words := make([]uint64, (size+7)/8)
	mem := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), 8*len(words))
	return &tables{mem: mem[:size:size]}
}

// seal makes the block read-only and gives it back to the system once r,
// whose slices point into it, is unreachable.
func (t *tables) seal(r *ranks) error {
	if t.protect != nil {
		if err := t.protect(t.mem); err != nil {
			t.free(t.mem)
			return fmt.Errorf("protect tables: %w", err)
		}
	}
	if t.free != nil {
		runtime.AddCleanup(r, t.free, t.mem)
	}
	return nil
}
