package zmtp

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/gozyre/zyre/internal/cputime"
)

// benchPair starts a Router on loopback and a Dealer connected to it.
func benchPair(tb testing.TB, queueLen int) (*Dealer, *Router) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r, err := NewRouter(ln, RouterConfig{QueueLen: queueLen})
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	d, err := NewDealer(DealerConfig{
		Conn:     Config{Identity: testIdentity()},
		QueueLen: queueLen,
		Dial: func(ctx context.Context) (net.Conn, error) {
			var nd net.Dialer
			return nd.DialContext(ctx, "tcp", addr)
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	select {
	case <-d.Ready():
	case <-d.Done():
		tb.Fatal(d.Err())
	case <-time.After(10 * time.Second):
		tb.Fatal("dealer not ready")
	}
	tb.Cleanup(func() {
		d.Close()
		r.Close()
	})
	return d, r
}

func testIdentity() []byte {
	id := make([]byte, 17)
	id[0] = 1
	for i := 1; i < 17; i++ {
		id[i] = byte(i * 7)
	}
	return id
}

func BenchmarkThroughput(b *testing.B) { benchThroughput(b, true) }

// BenchmarkThroughputNoRelease is BenchmarkThroughput with a consumer
// that never hands frames back: every large body is a fresh allocation.
func BenchmarkThroughputNoRelease(b *testing.B) { benchThroughput(b, false) }

func benchThroughput(b *testing.B, release bool) {
	for _, size := range []int{16, 1 << 10, 64 << 10, 1 << 20} {
		name := fmt.Sprintf("%dB", size)
		switch {
		case size >= 1<<20:
			name = fmt.Sprintf("%dMiB", size>>20)
		case size >= 1<<10:
			name = fmt.Sprintf("%dKiB", size>>10)
		}
		b.Run(name, func(b *testing.B) {
			qlen := 4096
			if size >= 64<<10 {
				qlen = 64
			}
			d, r := benchPair(b, qlen)
			msg := [][]byte{make([]byte, size)}
			ctx := context.Background()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			done := make(chan error, 1)
			n := b.N
			b.ResetTimer()
			start, cpu0 := time.Now(), cputime.Process()
			go func() {
				buf := make([]Message, 0, 1024)
				got := 0
				for got < n {
					var err error
					buf, err = r.RecvBatch(ctx, buf[:0])
					if err != nil {
						done <- err
						return
					}
					got += len(buf)
					if release {
						r.Release(buf)
					}
				}
				done <- nil
			}()
			for range n {
				if err := d.Send(ctx, msg); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			el, cpu := time.Since(start), cputime.Process()-cpu0
			b.StopTimer()
			b.ReportMetric(float64(n)/el.Seconds(), "msgs/s")
			// CPU time of both ends per message: with 2 cores and no
			// other load, throughput is bounded by about 2/cpu-ns.
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/msg")
		})
	}
}

// loopReader serves the same bytes forever.
type loopReader struct {
	b   []byte
	off int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m := copy(p[n:], r.b[r.off:])
		n += m
		r.off = (r.off + m) % len(r.b)
	}
	return n, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

var benchSizes = []int{16, 1 << 10, 64 << 10}

func BenchmarkFrameWriter(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			w := NewFrameWriter(discard{}, 0)
			msg := [][]byte{make([]byte, size)}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := w.WriteMessage(msg); err != nil {
					b.Fatal(err)
				}
			}
			_ = w.Flush()
		})
	}
}

func BenchmarkFrameReader(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			// A whole number of frames, so the loop stays aligned.
			var stream []byte
			for len(stream) < 256<<10 {
				stream = AppendFrame(stream, 0, make([]byte, size))
			}
			r := NewFrameReader(&loopReader{b: stream}, 0, 0)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := r.ReadMessage(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendFrame(b *testing.B) {
	body := make([]byte, 16)
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendFrame(buf[:0], FlagMore, body)
	}
}

func BenchmarkParseFrame(b *testing.B) {
	enc := AppendFrame(nil, FlagMore, make([]byte, 16))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseFrame(enc, 0); err != nil {
			b.Fatal(err)
		}
	}
}
