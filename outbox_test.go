package zyre

import (
	"sync/atomic"
	"testing"
)

// The count of full outboxes (Shout's fast path) follows the queues: up
// when one reaches OutboxLen messages or OutboxBytes bytes, down when the
// writer takes the queue (OutboxLen) or has written it (OutboxBytes), or
// the outbox closes, never below zero. Whisper's wait (fullWait) ends at
// the same time.
func TestOutboxFullCount(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fullAt    int
		fullBytes int64
		frame     int
	}{
		{"messages", 3, 1 << 20, 1},
		{"bytes", 100, 30, 10},
		{"large message", 100, 5, 1000}, // the first one fills it
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fulls atomic.Int32
			o := closedOutbox()
			o.closed, o.limit, o.fullAt, o.fullBytes, o.fulls = false, 10, tc.fullAt, tc.fullBytes, &fulls
			frame := [][]byte{make([]byte, tc.frame)}
			fillAt := min(tc.fullAt, int((tc.fullBytes+int64(tc.frame)-1)/int64(tc.frame)))
			for i := range fillAt {
				if fulls.Load() != 0 || o.fullWait() != nil {
					t.Fatalf("counted full at %d queued", i)
				}
				if !o.trySend(frame) {
					t.Fatal("trySend refused")
				}
			}
			wait := o.fullWait()
			if fulls.Load() != 1 || wait == nil {
				t.Fatalf("fulls = %d at %d queued, want 1", fulls.Load(), fillAt)
			}
			o.trySend(frame)
			if fulls.Load() != 1 {
				t.Fatalf("fulls = %d past full, want 1", fulls.Load())
			}
			batch, size, _ := o.take()
			if len(batch) != fillAt+1 || size != int64(len(batch)*tc.frame) {
				t.Fatalf("take: %d messages, %d bytes, want %d", len(batch), size, fillAt+1)
			}
			byBytes := fillAt < tc.fullAt
			if want := map[bool]int32{false: 0, true: 1}[byBytes]; fulls.Load() != want {
				t.Fatalf("fulls = %d after take, want %d", fulls.Load(), want)
			}
			o.written(size)
			if fulls.Load() != 0 {
				t.Fatalf("fulls = %d after written, want 0", fulls.Load())
			}
			select {
			case <-wait:
			default:
				t.Fatal("fullWait not released")
			}
			for range fillAt {
				o.trySend(frame)
			}
			wait = o.fullWait()
			o.close()
			o.close()
			if fulls.Load() != 0 || o.fullWait() != nil {
				t.Fatalf("fulls = %d after close, want 0", fulls.Load())
			}
			<-wait
		})
	}
}
