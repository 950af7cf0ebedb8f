package zyre

import (
	"context"
	"sync"
)

// eventQueue is the node's one ordered event queue: the actor appends, the
// application drains with Recv or Events. Data events (WHISPER, SHOUT) are
// bounded in number (limit) and in the size of their frames (byteLimit);
// membership events are always accepted, so they are never lost. The
// actor never blocks on it: it asks hasRoom before taking more data from
// peers, and waits on room() when the queue is full.
type eventQueue struct {
	mu        sync.Mutex
	items     []Event
	head      int
	data      int   // data events queued
	bytes     int64 // their frames' size
	limit     int
	byteLimit int64
	stopped   bool // StopEvent queued
	done      bool // StopEvent delivered
	ready     chan struct{}
	roomC     chan struct{}
}

func newEventQueue(limit int, byteLimit int64) *eventQueue {
	return &eventQueue{limit: limit, byteLimit: byteLimit, ready: make(chan struct{}, 1), roomC: make(chan struct{}, 1)}
}

func isData(ev Event) bool {
	switch ev.(type) {
	case WhisperEvent, ShoutEvent:
		return true
	}
	return false
}

// dataFrames returns the frames of a WhisperEvent or ShoutEvent; nil for
// other events.
func dataFrames(ev Event) [][]byte {
	switch ev := ev.(type) {
	case WhisperEvent:
		return ev.Frames
	case ShoutEvent:
		return ev.Frames
	}
	return nil
}

// dataSize is the size of a data event's frames.
func dataSize(ev Event) (n int64) {
	for _, f := range dataFrames(ev) {
		n += int64(len(f))
	}
	return n
}

// full reports whether the data events reach either bound; q.mu held.
func (q *eventQueue) full() bool { return q.data >= q.limit || q.bytes >= q.byteLimit }

// push appends ev. It reports false when ev is a data event and the queue
// is full (the caller drops or holds it back) unless force is set.
func (q *eventQueue) push(ev Event, force bool) bool {
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		return true
	}
	if isData(ev) {
		if q.full() && !force {
			q.mu.Unlock()
			return false
		}
		q.data++
		q.bytes += dataSize(ev)
	}
	if _, ok := ev.(StopEvent); ok {
		q.stopped = true
	}
	q.items = append(q.items, ev)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
}

// hasRoom reports whether another data event fits.
func (q *eventQueue) hasRoom() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return !q.full()
}

// room is signalled when a data event is consumed.
func (q *eventQueue) room() <-chan struct{} { return q.roomC }

// pop returns the next event, waiting until one is queued or ctx ends.
// After StopEvent has been returned it returns ErrClosed.
func (q *eventQueue) pop(ctx context.Context) (Event, error) {
	for {
		q.mu.Lock()
		if q.head < len(q.items) {
			ev := q.items[q.head]
			q.items[q.head] = nil
			q.head++
			if q.head == len(q.items) {
				q.items, q.head = q.items[:0], 0
			} else if q.head > 1024 && q.head*2 > len(q.items) {
				n := copy(q.items, q.items[q.head:])
				clear(q.items[n:])
				q.items, q.head = q.items[:n], 0
			}
			wasFull := false
			if isData(ev) {
				wasFull = q.full()
				q.data--
				q.bytes -= dataSize(ev)
			}
			if _, ok := ev.(StopEvent); ok {
				q.done = true
			}
			more := q.head < len(q.items)
			q.mu.Unlock()
			if more {
				select {
				case q.ready <- struct{}{}:
				default:
				}
			}
			if wasFull {
				select {
				case q.roomC <- struct{}{}:
				default:
				}
			}
			return ev, nil
		}
		done := q.done
		q.mu.Unlock()
		if done {
			return nil, ErrClosed
		}
		select {
		case <-q.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
