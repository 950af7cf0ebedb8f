package zmtp

import (
	"math/bits"
	"sync"
)

// Buffer recycling for large frame bodies.
//
// Fresh large allocations are expensive: the pages are new to the process
// (or were returned to the OS by the scavenger), so the first write to
// each one faults, and the churn drives the GC. A consumer that is done
// with a message may hand its frames back (Router.Release, Conn.Release);
// from then on large bodies are allocated in power-of-two size classes and
// served from what was released. Until something is released, bodies are
// allocated at their exact size, so consumers that never release pay
// nothing extra.
const (
	poolMinShift = 15 // smallest pooled capacity: 32 KiB
	poolMaxShift = 24 // largest pooled capacity: 16 MiB (eagerAlloc)
	poolMaxBytes = 64 << 20
	poolPerClass = 16
)

// bufPool is a bounded, mutex-protected set of free buffers by size class.
// The zero value is ready to use.
type bufPool struct {
	mu      sync.Mutex
	enabled bool
	bytes   int
	free    [poolMaxShift - poolMinShift + 1][][]byte
}

// get returns a buffer of length n (n > 0). It comes from the pool if one
// of a fitting class is free, otherwise it is freshly allocated (with the
// class capacity once the pool is in use, so it can come back).
func (p *bufPool) get(n int) []byte {
	if p == nil || n < 1<<poolMinShift || n > 1<<poolMaxShift {
		return make([]byte, n)
	}
	shift := bits.Len(uint(n - 1)) // ceil(log2 n)
	c := shift - poolMinShift
	p.mu.Lock()
	if !p.enabled {
		p.mu.Unlock()
		return make([]byte, n)
	}
	if l := len(p.free[c]); l > 0 {
		b := p.free[c][l-1]
		p.free[c][l-1] = nil
		p.free[c] = p.free[c][:l-1]
		p.bytes -= cap(b)
		p.mu.Unlock()
		return b[:n]
	}
	p.mu.Unlock()
	return make([]byte, n, 1<<shift)
}

// put recycles the frames of one message and sets them to nil; small and
// odd-sized ones are left to the GC.
func (p *bufPool) put(frames [][]byte) {
	if p == nil {
		return
	}
	var locked bool
	for i, b := range frames {
		frames[i] = nil
		c := cap(b)
		if c < 1<<poolMinShift || c > 1<<(poolMaxShift+1)-1 {
			continue
		}
		if !locked {
			p.mu.Lock()
			p.enabled = true
			locked = true
		}
		shift := bits.Len(uint(c)) - 1 // floor(log2 cap)
		k := min(shift, poolMaxShift) - poolMinShift
		if len(p.free[k]) < poolPerClass && p.bytes+c <= poolMaxBytes {
			p.free[k] = append(p.free[k], b[:0])
			p.bytes += c
		}
	}
	if locked {
		p.mu.Unlock()
	}
}
