package sim

// kind is what a scheduled event does when its time comes.
type kind uint8

const (
	evTick   kind = iota + 1 // a node's engine deadline
	evBeacon                 // a datagram copy reaches a node
	evMsg                    // a stream message reaches a node
	evStall                  // a stalled stream's reset timer
	evStart                  // a node's first tick (staggered start)
	evLost                   // a connection of a killed node's peer broke (aux: the killed node)
)

// event is one entry of the simulator's queue. It is a plain value (no
// interface) so the heap moves 40-byte records and the garbage collector
// scans one pointer per entry.
type event struct {
	at   int64   // virtual nanoseconds since the epoch
	seq  uint64  // insertion order: ties at the same instant run FIFO
	p    *packet // evBeacon, evMsg
	node int32   // the node the event happens at (receiver, ticker, stream sender)
	aux  int32   // evStall: the stream's receiver; evLost: the killed node
	gen  uint32  // the node's incarnation (evTick, evStart) or the stall id (evStall)
	kind kind
}

func (a *event) before(b *event) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

// queue is a 4-ary min-heap of events ordered by (at, seq). A 4-ary heap
// is shallower than a binary one and its children share cache lines, which
// pays off at the millions of pushes and pops a 1,000-node run makes.
type queue []event

func (q *queue) push(e event) {
	h := append(*q, e)
	i := len(h) - 1
	for i > 0 {
		parent := (i - 1) / 4
		if !h[i].before(&h[parent]) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
	*q = h
}

// pop removes and returns the earliest event. The queue must not be empty.
func (q *queue) pop() event {
	h := *q
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h[n] = event{}
	h = h[:n]
	i := 0
	for {
		first := 4*i + 1
		if first >= n {
			break
		}
		m := first
		last := min(first+4, n)
		for c := first + 1; c < last; c++ {
			if h[c].before(&h[m]) {
				m = c
			}
		}
		if !h[m].before(&h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	*q = h
	return top
}
