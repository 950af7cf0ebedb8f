package zre

import (
	"testing"
)

// benchMessages is one typical value per command, as a node sends them.
func benchMessages() []Message {
	return []Message{
		&Hello{
			Sequence: 1,
			Endpoint: "tcp://192.168.1.5:49152",
			Groups:   []string{"CHAT", "GLOBAL"},
			Status:   2,
			Name:     "alpha",
			Headers:  []Header{{"X-HELLO", "World"}, {"X-TYPE", "ref"}},
		},
		&Whisper{Sequence: 2, Content: [][]byte{[]byte("Hello")}},
		&Shout{Sequence: 3, Group: "CHAT", Content: [][]byte{[]byte("Hello, World")}},
		&Join{Sequence: 4, Group: "CHAT", Status: 3},
		&Leave{Sequence: 5, Group: "CHAT", Status: 4},
		&Ping{Sequence: 6},
		&PingOK{Sequence: 7},
		&Elect{Sequence: 8, Group: "VOTE", Challenger: "258FA6BD6E8842DC93F461DEC301ECA4"},
		&Leader{Sequence: 9, Group: "VOTE", LeaderID: "258FA6BD6E8842DC93F461DEC301ECA4"},
		&Goodbye{Sequence: 10},
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, m := range benchMessages() {
		b.Run(m.Command().String(), func(b *testing.B) {
			buf := make([]byte, 0, 512)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				buf, err = m.Append(buf[:0])
				if err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func BenchmarkParse(b *testing.B) {
	for _, m := range benchMessages() {
		frame, err := m.Append(nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(m.Command().String(), func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPeekHeader(b *testing.B) {
	frame, _ := (&Ping{Sequence: 6}).Append(nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := PeekHeader(frame); err != nil {
			b.Fatal(err)
		}
	}
}
