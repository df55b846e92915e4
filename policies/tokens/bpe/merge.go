package bpe

// Byte-pair merging as tiktoken does it: start from single bytes and merge,
// again and again, the adjacent pair whose concatenation has the lowest rank,
// the leftmost on ties, until no adjacent pair is a token.

// smallPiece is the longest piece merged by scanning, on the stack. Longer
// pieces use a heap: O(n log n) instead of O(n^2).
const smallPiece = 128

// mergeSmall merges piece (1 < len <= smallPiece) and writes its tokens to
// toks, returning how many there are.
func (t *ranks) mergeSmall(piece string, toks *[smallPiece]uint32) int {
	var (
		pos [smallPiece + 1]uint8 // part i is piece[pos[i]:pos[i+1]]
		rk  [smallPiece]uint32    // rank of parts i and i+1 merged
	)
	n := len(piece)
	for i := range n {
		pos[i] = uint8(i)
		toks[i] = t.single[piece[i]]
	}
	pos[n] = uint8(n)
	for i := 0; i+1 < n; i++ {
		rk[i] = t.rank(piece[i : i+2])
	}
	rk[n-1] = noRank
	m := n
	for m > 1 {
		best, at := uint32(noRank), -1
		for i, r := range rk[:m-1] {
			if r < best {
				best, at = r, i
			}
		}
		if at < 0 {
			break
		}
		toks[at] = best
		copy(pos[at+1:m], pos[at+2:m+1])
		copy(toks[at+1:m-1], toks[at+2:m])
		copy(rk[at+1:m-1], rk[at+2:m])
		m--
		rk[m-1] = noRank
		if at+1 < m {
			rk[at] = t.rank(piece[pos[at]:pos[at+2]])
		}
		if at > 0 {
			rk[at-1] = t.rank(piece[pos[at-1]:pos[at+1]])
		}
	}
	return m
}

// mergeHeap is a min-heap of merge candidates, each rank<<32 | position, so
// the lowest rank, then the leftmost position, comes first.
type mergeHeap []uint64

func candidate(rank uint32, at int32) uint64 { return uint64(rank)<<32 | uint64(uint32(at)) }

func (h *mergeHeap) push(c uint64) {
	*h = append(*h, c)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if s[p] <= s[i] {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *mergeHeap) pop() uint64 {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	*h = s
	s.down(0)
	return top
}

func (h mergeHeap) down(i int) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if c+1 < len(h) && h[c+1] < h[c] {
			c++
		}
		if h[i] <= h[c] {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// mergeLarge merges a long piece. Parts form a linked list over byte
// offsets; stale heap entries are skipped. It returns the list: part i is
// piece[i:next[i]], from i = 0 while next[i] >= 0.
func (t *ranks) mergeLarge(piece string) (next []int32) {
	n := int32(len(piece))
	next = make([]int32, n+1)
	prev := make([]int32, n+1)
	rk := make([]uint32, n+1)
	for i := range next {
		next[i], prev[i], rk[i] = int32(i)+1, int32(i)-1, noRank
	}
	next[n] = -1
	pairRank := func(i int32) uint32 {
		j := next[i]
		if j < 0 || next[j] < 0 {
			return noRank
		}
		return t.rank(piece[i:next[j]])
	}
	h := make(mergeHeap, 0, n)
	for i := int32(0); i+1 < n; i++ {
		if rk[i] = pairRank(i); rk[i] != noRank {
			h = append(h, candidate(rk[i], i))
		}
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
	for len(h) > 0 {
		top := h.pop()
		i := int32(uint32(top))
		if rk[i] != uint32(top>>32) {
			continue
		}
		j := next[i]
		k := next[j]
		rk[j] = noRank
		next[i] = k
		if k >= 0 {
			prev[k] = i
		}
		for _, b := range [2]int32{i, prev[i]} {
			if b < 0 {
				continue
			}
			if rk[b] = pairRank(b); rk[b] != noRank {
				h.push(candidate(rk[b], b))
			}
		}
	}
	return next
}

// maxMergeBytes bounds what mergeLarge merges at once (its positions are
// int32). A longer piece, past any real input, is merged in chunks.
const maxMergeBytes = 1 << 30

// appendLarge appends the tokens of a long piece to dst.
func (t *ranks) appendLarge(dst []int, piece string) []int {
	for len(piece) > 0 {
		chunk := piece[:min(len(piece), maxMergeBytes)]
		piece = piece[len(chunk):]
		next := t.mergeLarge(chunk)
		for i := int32(0); next[i] >= 0; i = next[i] {
			r, _ := t.lookup(chunk[i:next[i]])
			dst = append(dst, int(r))
		}
	}
	return dst
}

// countLarge counts the tokens of a long piece.
func (t *ranks) countLarge(piece string) int {
	n := 0
	for len(piece) > 0 {
		chunk := piece[:min(len(piece), maxMergeBytes)]
		piece = piece[len(chunk):]
		next := t.mergeLarge(chunk)
		for i := int32(0); next[i] >= 0; i = next[i] {
			n++
		}
	}
	return n
}
