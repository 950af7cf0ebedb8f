package engine

import "bytes"

// timerHeap is a binary min-heap of peers keyed by (due, id). Each peer
// knows its index, so removal and fixing are O(log n). It is written out
// rather than built on container/heap to avoid the interface calls on the
// hot path.
type timerHeap []*peer

func heapLess(a, b *peer) bool {
	if a.due != b.due {
		return a.due < b.due
	}
	return bytes.Compare(a.id[:], b.id[:]) < 0
}

func (h *timerHeap) push(p *peer) {
	p.heapIdx = len(*h)
	*h = append(*h, p)
	h.up(p.heapIdx)
}

// remove takes the entry at index i out of the heap.
func (h *timerHeap) remove(i int) {
	s := *h
	n := len(s) - 1
	if i < 0 || i > n {
		return
	}
	p := s[i]
	if i != n {
		h.swap(i, n)
	}
	s[n] = nil
	*h = s[:n]
	p.heapIdx = -1
	if i != n {
		h.fix(i)
	}
}

// fix restores the heap order after the key at index i changed.
func (h timerHeap) fix(i int) {
	if i < 0 || i >= len(h) {
		return
	}
	if !h.down(i) {
		h.up(i)
	}
}

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}

func (h timerHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !heapLess(h[i], h[parent]) {
			break
		}
		h.swap(i, parent)
		i = parent
	}
}

// down sifts the entry at index i down; it reports whether it moved.
func (h timerHeap) down(i int) bool {
	start := i
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && heapLess(h[r], h[l]) {
			c = r
		}
		if !heapLess(h[c], h[i]) {
			break
		}
		h.swap(i, c)
		i = c
	}
	return i > start
}
