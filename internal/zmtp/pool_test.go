package zmtp

import (
	"testing"
	"unsafe"
)

// The pool takes large frames back, clears the caller's references, and
// serves later bodies of a fitting size from them; small, odd and huge
// ones are left to the GC, and it keeps no more than its bound.
func TestBufPool(t *testing.T) {
	var p bufPool
	if b := p.get(40 << 10); cap(b) != 40<<10 {
		t.Fatalf("before any put: cap %d, want the exact size", cap(b))
	}
	small, big, huge := make([]byte, 100), make([]byte, 64<<10), make([]byte, 64<<20)
	frames := [][]byte{small, big, huge}
	p.put(frames)
	for i, f := range frames {
		if f != nil {
			t.Errorf("frame %d not cleared", i)
		}
	}
	for _, tc := range []struct {
		n      int
		reused bool
		cap    int
	}{
		{64 << 10, true, 64 << 10},  // the released 64 KiB buffer
		{64 << 10, false, 64 << 10}, // none left: a fresh one of the class size
		{40 << 10, false, 64 << 10}, // fresh, rounded up to its class
		{100, false, 100},           // below the smallest class: exact
	} {
		b := p.get(tc.n)
		if len(b) != tc.n || cap(b) != tc.cap || (unsafe.SliceData(b) == unsafe.SliceData(big)) != tc.reused {
			t.Errorf("get(%d): len %d cap %d reused %v, want cap %d reused %v", tc.n, len(b), cap(b), unsafe.SliceData(b) == unsafe.SliceData(big), tc.cap, tc.reused)
		}
	}
	// A class holds poolPerClass buffers at most.
	for range poolPerClass + 4 {
		p.put([][]byte{make([]byte, 32<<10)})
	}
	if n := len(p.free[0]); n != poolPerClass {
		t.Errorf("class 0 holds %d buffers, want %d", n, poolPerClass)
	}
	if p.bytes > poolMaxBytes {
		t.Errorf("pool holds %d bytes, bound %d", p.bytes, poolMaxBytes)
	}
}
