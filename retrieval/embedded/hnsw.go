package embedded

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
)

// HNSW parameters.
const (
	defaultM              = 16
	defaultEfConstruction = 100
	defaultEfSearch       = 64
	maxLevel              = 16
)

// graph is a hierarchical navigable small world graph over unit vectors,
// scored by dot product (cosine similarity). Node ids are dense from 0. It is
// not safe for concurrent writes; searches may run concurrently with each
// other but not with add.
type graph struct {
	dim   int
	m     int // links per node above level 0
	m0    int // links per node at level 0
	efC   int
	ml    float64
	vecs  []float32    // node i at vecs[i*dim:(i+1)*dim]
	links [][][]uint32 // node, level, neighbours
	entry int
	top   int // level of entry; -1 when empty
	rng   *rand.Rand

	visited sync.Pool // *visitSet
}

func newGraph(dim, m, efC int, seed uint64) *graph {
	if m <= 0 {
		m = defaultM
	}
	if efC <= 0 {
		efC = defaultEfConstruction
	}
	return &graph{
		dim: dim, m: m, m0: 2 * m, efC: efC,
		ml:  1 / math.Log(float64(m)),
		top: -1, entry: -1,
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
}

func (g *graph) len() int { return len(g.links) }

func (g *graph) vec(i uint32) []float32 {
	o := int(i) * g.dim
	return g.vecs[o : o+g.dim : o+g.dim]
}

// candidate is a node and its similarity to the query.
type candidate struct {
	id  uint32
	sim float32
}

// add inserts v (already normalised) as node len() and returns its id.
func (g *graph) add(v []float32) uint32 {
	id := uint32(len(g.links))
	g.vecs = append(g.vecs, v...)
	level := min(int(-math.Log(1-g.rng.Float64())*g.ml), maxLevel)
	node := make([][]uint32, level+1)
	for l := range node {
		node[l] = make([]uint32, 0, g.maxLinks(l))
	}
	g.links = append(g.links, node)
	if g.top < 0 {
		g.entry, g.top = int(id), level
		return id
	}
	vs := g.visit()
	defer g.visited.Put(vs)
	ep := candidate{uint32(g.entry), dot(v, g.vec(uint32(g.entry)))}
	for l := g.top; l > level; l-- {
		ep = g.greedy(v, ep, l)
	}
	eps := []candidate{ep}
	for l := min(level, g.top); l >= 0; l-- {
		found := g.searchLayer(v, eps, g.efC, l, vs, nil)
		nb := g.selectNeighbours(found, g.maxLinks(l))
		ids := node[l][:0]
		for _, c := range nb {
			ids = append(ids, c.id)
		}
		node[l] = ids
		for _, c := range nb {
			g.connect(c.id, id, c.sim, l)
		}
		eps = found
	}
	if level > g.top {
		g.entry, g.top = int(id), level
	}
	return id
}

func (g *graph) maxLinks(level int) int {
	if level == 0 {
		return g.m0
	}
	return g.m
}

// connect adds a link from a to b at level l, pruning a's links with the
// neighbour heuristic when they overflow.
func (g *graph) connect(a, b uint32, sim float32, l int) {
	ls := g.links[a][l]
	limit := g.maxLinks(l)
	if len(ls) < limit {
		g.links[a][l] = append(ls, b)
		return
	}
	va := g.vec(a)
	cands := make([]candidate, 0, len(ls)+1)
	cands = append(cands, candidate{b, sim})
	for _, n := range ls {
		cands = append(cands, candidate{n, dot(va, g.vec(n))})
	}
	sortDesc(cands)
	nb := g.selectNeighbours(cands, limit)
	ls = ls[:0]
	for _, c := range nb {
		ls = append(ls, c.id)
	}
	g.links[a][l] = ls
}

// selectNeighbours applies the HNSW heuristic to candidates sorted best
// first: a candidate is kept when it is closer to the base than to every
// neighbour already kept, which keeps links pointing in diverse directions.
func (g *graph) selectNeighbours(cands []candidate, limit int) []candidate {
	if len(cands) <= limit {
		return slices.Clone(cands)
	}
	out := make([]candidate, 0, limit)
	for _, c := range cands {
		if len(out) == limit {
			break
		}
		vc := g.vec(c.id)
		keep := true
		for _, s := range out {
			if dot(vc, g.vec(s.id)) > c.sim {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, c)
		}
	}
	return out
}

// greedy walks level l from ep to the node closest to q.
func (g *graph) greedy(q []float32, ep candidate, l int) candidate {
	for changed := true; changed; {
		changed = false
		for _, n := range g.links[ep.id][l] {
			if s := dot(q, g.vec(n)); s > ep.sim {
				ep, changed = candidate{n, s}, true
			}
		}
	}
	return ep
}

// searchLayer returns up to ef nodes of level l closest to q, best first.
// When accept is not nil only accepted nodes enter the results, while every
// node can be traversed.
func (g *graph) searchLayer(q []float32, eps []candidate, ef, l int, vs *visitSet, accept func(uint32) bool) []candidate {
	vs.reset(len(g.links))
	cand := make(maxHeap, 0, ef*2)
	res := make(minHeap, 0, ef+1)
	for _, e := range eps {
		vs.mark(e.id)
		cand.push(e)
		if accept == nil || accept(e.id) {
			res.push(e)
		}
	}
	for len(cand) > 0 {
		c := cand.pop()
		if len(res) >= ef && c.sim < res[0].sim {
			break
		}
		for _, n := range g.links[c.id][l] {
			if vs.marked(n) {
				continue
			}
			vs.mark(n)
			s := dot(q, g.vec(n))
			if len(res) < ef || s > res[0].sim {
				cand.push(candidate{n, s})
				if accept == nil || accept(n) {
					res.push(candidate{n, s})
					if len(res) > ef {
						res.pop()
					}
				}
			}
		}
	}
	out := []candidate(res)
	sortDesc(out)
	return out
}

// search returns up to ef nodes accepted by accept (nil: all), best first.
func (g *graph) search(q []float32, ef int, accept func(uint32) bool) []candidate {
	if g.top < 0 {
		return nil
	}
	vs := g.visit()
	defer g.visited.Put(vs)
	ep := candidate{uint32(g.entry), dot(q, g.vec(uint32(g.entry)))}
	for l := g.top; l > 0; l-- {
		ep = g.greedy(q, ep, l)
	}
	return g.searchLayer(q, []candidate{ep}, ef, 0, vs, accept)
}

func (g *graph) visit() *visitSet {
	if v, ok := g.visited.Get().(*visitSet); ok {
		return v
	}
	return &visitSet{}
}

// bytes estimates the memory held by the graph.
func (g *graph) bytes() int64 {
	n := int64(cap(g.vecs)) * 4
	for _, node := range g.links {
		n += 24 + int64(len(node))*24
		for _, l := range node {
			n += int64(cap(l)) * 4
		}
	}
	return n
}

// visitSet marks visited nodes with a generation stamp, so resetting it is
// free.
type visitSet struct {
	gen   uint32
	stamp []uint32
}

func (v *visitSet) reset(n int) {
	if len(v.stamp) < n {
		v.stamp = append(v.stamp, make([]uint32, n-len(v.stamp)+n/4)...)
	}
	v.gen++
	if v.gen == 0 {
		clear(v.stamp)
		v.gen = 1
	}
}

func (v *visitSet) mark(i uint32)        { v.stamp[i] = v.gen }
func (v *visitSet) marked(i uint32) bool { return v.stamp[i] == v.gen }

func sortDesc(c []candidate) {
	slices.SortFunc(c, func(a, b candidate) int {
		switch {
		case a.sim > b.sim:
			return -1
		case a.sim < b.sim:
			return 1
		}
		return int(a.id) - int(b.id)
	})
}

// maxHeap pops the most similar candidate first.
type maxHeap []candidate

func (h *maxHeap) push(c candidate) {
	*h = append(*h, c)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if s[p].sim >= s[i].sim {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *maxHeap) pop() candidate {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l, r, b := 2*i+1, 2*i+2, i
		if l < len(s) && s[l].sim > s[b].sim {
			b = l
		}
		if r < len(s) && s[r].sim > s[b].sim {
			b = r
		}
		if b == i {
			break
		}
		s[i], s[b] = s[b], s[i]
		i = b
	}
	*h = s
	return top
}

// minHeap keeps the least similar candidate on top.
type minHeap []candidate

func (h *minHeap) push(c candidate) {
	*h = append(*h, c)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if s[p].sim <= s[i].sim {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *minHeap) pop() candidate {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l, r, b := 2*i+1, 2*i+2, i
		if l < len(s) && s[l].sim < s[b].sim {
			b = l
		}
		if r < len(s) && s[r].sim < s[b].sim {
			b = r
		}
		if b == i {
			break
		}
		s[i], s[b] = s[b], s[i]
		i = b
	}
	*h = s
	return top
}

// dotGo is the portable inner product of two equal-length vectors.
func dotGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		s0 += a[i]*b[i] + a[i+4]*b[i+4]
		s1 += a[i+1]*b[i+1] + a[i+5]*b[i+5]
		s2 += a[i+2]*b[i+2] + a[i+6]*b[i+6]
		s3 += a[i+3]*b[i+3] + a[i+7]*b[i+7]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
}

// normalise scales v to unit length in place; a zero vector stays zero.
func normalise(v []float32) {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 || math.IsNaN(sum) || math.IsInf(sum, 0) {
		clear(v)
		return
	}
	inv := float32(1 / math.Sqrt(sum))
	for i := range v {
		v[i] *= inv
	}
}
