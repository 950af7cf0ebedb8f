package curve

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/gozyre/zyre/internal/zmtp"
)

// benchPair starts a zmtp.Router on loopback and a zmtp.Dealer connected
// to it, both using mech (nil: NULL).
func benchPair(tb testing.TB, client, server zmtp.Mechanism, queueLen int) (*zmtp.Dealer, *zmtp.Router) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r, err := zmtp.NewRouter(ln, zmtp.RouterConfig{QueueLen: queueLen, Conn: zmtp.Config{Mechanism: server}})
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	d, err := zmtp.NewDealer(zmtp.DealerConfig{
		Conn:     zmtp.Config{Identity: dealerIdentity(1), Mechanism: client},
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

func sizeName(size int) string {
	switch {
	case size >= 1<<20:
		return fmt.Sprintf("%dMiB", size>>20)
	case size >= 1<<10:
		return fmt.Sprintf("%dKiB", size>>10)
	}
	return fmt.Sprintf("%dB", size)
}

// BenchmarkThroughput sends one-frame messages from a Dealer to a Router
// over TCP loopback, with the NULL mechanism and with CURVE.
func BenchmarkThroughput(b *testing.B) {
	sk, ck := testKey(b, 1), testKey(b, 2)
	mechs := []struct {
		name           string
		client, server zmtp.Mechanism
	}{
		{"NULL", nil, nil},
		{"CURVE", &Client{Key: ck, ServerKey: sk.Public}, &Server{Key: sk}},
	}
	for _, m := range mechs {
		b.Run(m.name, func(b *testing.B) {
			for _, size := range []int{16, 1 << 10, 64 << 10, 1 << 20} {
				b.Run(sizeName(size), func(b *testing.B) {
					qlen := 4096
					if size >= 64<<10 {
						qlen = 64
					}
					d, r := benchPair(b, m.client, m.server, qlen)
					msg := [][]byte{make([]byte, size)}
					ctx := context.Background()
					b.SetBytes(int64(size))
					b.ReportAllocs()
					done := make(chan error, 1)
					n := b.N
					b.ResetTimer()
					start := time.Now()
					go func() {
						buf := make([]zmtp.Message, 0, 1024)
						got := 0
						for got < n {
							var err error
							buf, err = r.RecvBatch(ctx, buf[:0])
							if err != nil {
								done <- err
								return
							}
							got += len(buf)
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
					el := time.Since(start)
					b.StopTimer()
					b.ReportMetric(float64(n)/el.Seconds(), "msgs/s")
				})
			}
		})
	}
}

// BenchmarkCodec measures boxing and opening one frame, without I/O.
func BenchmarkCodec(b *testing.B) {
	for _, size := range []int{16, 1 << 10, 64 << 10, 1 << 20} {
		b.Run("encode/"+sizeName(size), func(b *testing.B) {
			cli, _ := codecPair()
			body := make([]byte, size)
			dst := make([]byte, 0, size+64)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := cli.AppendEncoded(dst[:0], 0, body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("decode/"+sizeName(size), func(b *testing.B) {
			cli, srv := codecPair()
			wire, err := cli.AppendEncoded(nil, 0, make([]byte, size))
			if err != nil {
				b.Fatal(err)
			}
			f, _, _ := zmtp.ParseFrame(wire, -1)
			in := make([]byte, len(f.Body))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				// Reuse one frame: rewind the nonce window.
				copy(in, f.Body)
				srv.recvLast = 2
				if _, _, err := srv.Decode(0, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
