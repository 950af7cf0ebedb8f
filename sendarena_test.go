package zyre

import (
	"bytes"
	"testing"

	"github.com/gozyre/zyre/internal/zre"
)

func TestSendArena(t *testing.T) {
	var s sendArena
	big := make([]byte, sendArenaMaxContent+1)
	msgs := []zre.Message{
		&zre.Whisper{Sequence: 1, Content: [][]byte{[]byte("a")}},
		&zre.Shout{Sequence: 2, Group: "G", Content: [][]byte{[]byte("b"), []byte("c")}},
		&zre.Ping{Sequence: 3},
		&zre.Whisper{Sequence: 4, Content: [][]byte{big}}, // large content: own allocation
		&zre.Hello{Sequence: 5, Endpoint: "tcp://127.0.0.1:1", Headers: []zre.Header{{Key: "X-BIG", Value: string(make([]byte, 2000))}}}, // large frame 0
		&zre.Whisper{Sequence: 6},
	}
	var got [][][]byte
	for range 300 { // several chunks
		for _, m := range msgs {
			frames, err := s.frames(m)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, frames)
		}
	}
	// Every message still encodes as Append does: nothing carved later
	// overwrote an earlier frame, and appending to a frame or a list
	// cannot reach its neighbours.
	for i, frames := range got {
		m := msgs[i%len(msgs)]
		want, _ := m.Append(nil)
		if !bytes.Equal(frames[0], want) {
			t.Fatalf("message %d: frame 0 = %x, want %x", i, frames[0], want)
		}
		if cap(frames[0]) != len(frames[0]) {
			t.Fatalf("message %d: frame 0 has spare capacity %d", i, cap(frames[0])-len(frames[0]))
		}
		content := zre.ContentOf(m)
		if len(frames) != 1+len(content) || cap(frames) != len(frames) {
			t.Fatalf("message %d: %d frames (cap %d), want %d", i, len(frames), cap(frames), 1+len(content))
		}
		for k, f := range content {
			if &frames[1+k][0] != &f[0] {
				t.Fatalf("message %d: content frame %d copied, want shared", i, k)
			}
		}
	}
}
