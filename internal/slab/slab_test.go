package slab

import "testing"

func TestSlab(t *testing.T) {
	var s Slab[[]byte]
	var ps []*[]byte
	for i := range 20 { // crosses two growths
		p := s.Next()
		if *p != nil {
			t.Fatalf("item %d not zeroed", i)
		}
		*p = []byte{byte(i)}
		ps = append(ps, p)
	}
	for i, p := range ps {
		if len(*p) != 1 || (*p)[0] != byte(i) {
			t.Fatalf("item %d changed to %v before Reset", i, *p)
		}
	}
	s.Reset()
	for i := range s.items {
		if s.items[i] != nil {
			t.Fatalf("Reset kept a reference in item %d", i)
		}
	}
	if p := s.Next(); p != &s.items[0] {
		t.Fatal("Reset did not recycle the array")
	}
}

func TestSlabNoAllocsInSteadyState(t *testing.T) {
	var s Slab[[4]int]
	for range 100 {
		s.Next()
	}
	s.Reset()
	allocs := testing.AllocsPerRun(100, func() {
		for range 50 {
			s.Next()[0] = 1
		}
		s.Reset()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per round, want 0", allocs)
	}
}
