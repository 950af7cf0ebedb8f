package zyre

import (
	"sync/atomic"
	"testing"
)

// The count of full outboxes (Shout's fast path) follows the queues: up
// when one reaches OutboxLen, down when the writer takes the queue or the
// outbox closes, never below zero.
func TestOutboxFullCount(t *testing.T) {
	var fulls atomic.Int32
	o := closedOutbox()
	o.closed, o.limit, o.fullAt, o.fulls = false, 10, 3, &fulls
	frame := [][]byte{[]byte("x")}
	for i := range 3 {
		if fulls.Load() != 0 {
			t.Fatalf("counted full at %d queued", i)
		}
		if !o.trySend(frame) {
			t.Fatal("trySend refused")
		}
	}
	if fulls.Load() != 1 {
		t.Fatalf("fulls = %d at OutboxLen queued, want 1", fulls.Load())
	}
	o.trySend(frame)
	if fulls.Load() != 1 {
		t.Fatalf("fulls = %d past OutboxLen, want 1", fulls.Load())
	}
	if batch, _ := o.take(); len(batch) != 4 || fulls.Load() != 0 {
		t.Fatalf("take: %d messages, fulls = %d, want 4 and 0", len(batch), fulls.Load())
	}
	for range 3 {
		o.trySend(frame)
	}
	o.close()
	o.close()
	if fulls.Load() != 0 {
		t.Fatalf("fulls = %d after close, want 0", fulls.Load())
	}
}
