package gossip

import (
	"testing"
	"time"
)

func benchMessages() []Message {
	return []Message{
		&Hello{},
		&Ping{},
		&Publish{Key: "258FA6BD6E8842DC93F461DEC301ECA4", Value: "tcp://192.168.1.5:49152", TTL: 30000},
		&Publish{Key: "258FA6BD6E8842DC93F461DEC301ECA4", Value: "tcp://192.168.1.5:49152|rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", TTL: 30000},
	}
}

func benchName(m Message) string {
	if p, ok := m.(*Publish); ok && len(p.Value) > 30 {
		return "PUBLISH_CURVE"
	}
	return m.Command().String()
}

func BenchmarkAppend(b *testing.B) {
	for _, m := range benchMessages() {
		b.Run(benchName(m), func(b *testing.B) {
			buf := make([]byte, 0, 256)
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
		b.Run(benchName(m), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				if _, err := Parse(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHubForward measures a hub with 100 clients handling one
// owner's refresh that it forwards to the other 99.
func BenchmarkHubForward(b *testing.B) {
	e := New(Config{TTL: 30 * time.Second})
	now := t0
	for c := ConnID(1); c <= 100; c++ {
		e.Step(now, ClientUp{Conn: c}, nil)
		e.Step(now, MessageIn{Conn: c, Msg: &Hello{}}, nil)
	}
	p := &Publish{Key: "258FA6BD6E8842DC93F461DEC301ECA4", Value: "tcp://192.168.1.5:49152", TTL: 30000}
	out := make([]Output, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(10 * time.Second)
		out = e.Step(now, MessageIn{Conn: 1, Msg: p}, out[:0])
	}
}
