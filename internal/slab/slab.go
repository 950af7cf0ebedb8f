// Package slab recycles short-lived values on hot paths without
// per-value allocations.
//
// A Slab hands out pointers that stay valid until its next Reset. Reset
// zeroes what was handed out (so the slab keeps no references to payloads
// alive) and makes the space available again. The owner must know that
// nothing uses the values any more when it calls Reset: the engine resets
// its outputs at the start of each Step, the actor resets its inputs once
// every queued input has been stepped.
package slab

// Slab is a reusable store of T. The zero value is ready to use. A Slab
// is not safe for concurrent use.
type Slab[T any] struct {
	items []T
	n     int // items[:n] are handed out
}

// minLen is the length of a slab's first array.
const minLen = 8

// Next returns a pointer to a zeroed T, valid until Reset.
func (s *Slab[T]) Next() *T {
	if s.n == len(s.items) {
		// A new array: pointers into the old one stay valid (and are
		// dropped with it), the new one is what Reset recycles.
		s.items = make([]T, max(2*len(s.items), minLen))
		s.n = 0
	}
	p := &s.items[s.n]
	s.n++
	return p
}

// Reset zeroes everything handed out since the last Reset and makes it
// available again. Pointers returned before must not be used afterwards.
func (s *Slab[T]) Reset() {
	clear(s.items[:s.n])
	s.n = 0
}
