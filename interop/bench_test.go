package interop

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gozyre/zyre/internal/zmtp"
	"github.com/gozyre/zyre/internal/zmtp/curve"
)

var benchSizes = []struct {
	name string
	n    int
}{
	{"16B", 16},
	{"1KiB", 1 << 10},
	{"64KiB", 64 << 10},
	{"1MiB", 1 << 20},
}

// BenchmarkOneWay measures one-way throughput from a DEALER to a ROUTER
// over TCP on 127.0.0.1, one single-frame message per op:
//
//   - go: our zmtp.Dealer to our zmtp.Router (default queues and buffers);
//   - libzmq: libzmq's DEALER to its ROUTER in C (testdata/zmqbench.c),
//     each socket in its own context with one I/O thread;
//   - pyzmq: the same through python3-zmq (testdata/bench.py), to show
//     how much python adds per message.
//
// Each reports msgs/s and MB/s (10^6 bytes of payload per second). For
// libzmq and pyzmq these come from the program's own clock (first send to
// last receive), leaving out the pipe round trip that ns/op includes.
// libzmq keeps its default high-water marks (1000 messages each way) and
// sends frames of 1 KiB and more without copying; small ones are copied
// into the message, as our Dealer copies them into its write buffer.
func BenchmarkOneWay(b *testing.B) {
	b.Run("go", func(b *testing.B) {
		for _, sz := range benchSizes {
			b.Run(sz.name, func(b *testing.B) { benchGo(b, sz.n) })
		}
	})
	b.Run("libzmq", func(b *testing.B) {
		bin := buildZMQBench(b)
		for _, sz := range benchSizes {
			b.Run(sz.name, func(b *testing.B) { benchExternal(b, sz.n, bin) })
		}
	})
	b.Run("pyzmq", func(b *testing.B) {
		needPyZMQ(b)
		for _, sz := range benchSizes {
			b.Run(sz.name, func(b *testing.B) {
				benchExternal(b, sz.n, python, "-u", filepath.Join("testdata", "bench.py"))
			})
		}
	})
}

// BenchmarkOneWayCurve is BenchmarkOneWay with the CURVE mechanism on
// both ends, to compare with its NULL results from the same run:
//
//   - go: our zmtp.Dealer with a curve.Client to our zmtp.Router with a
//     curve.Server;
//   - libzmq: testdata/zmqbench.c with -curve (the ROUTER a CURVE server,
//     the DEALER its client, keys from zmq_curve_keypair).
//
// Key generation and the handshake happen before the timer starts.
func BenchmarkOneWayCurve(b *testing.B) {
	b.Run("go", func(b *testing.B) {
		serverKey, err := curve.GenerateKeyPair(nil)
		if err != nil {
			b.Fatal(err)
		}
		clientKey, err := curve.GenerateKeyPair(nil)
		if err != nil {
			b.Fatal(err)
		}
		server := &curve.Server{Key: serverKey}
		client := &curve.Client{Key: clientKey, ServerKey: serverKey.Public}
		for _, sz := range benchSizes {
			b.Run(sz.name, func(b *testing.B) { benchGoMech(b, sz.n, client, server) })
		}
	})
	b.Run("libzmq", func(b *testing.B) {
		bin := buildZMQBench(b)
		for _, sz := range benchSizes {
			b.Run(sz.name, func(b *testing.B) { benchExternal(b, sz.n, bin, "-curve") })
		}
	})
}

func report(b *testing.B, size int, elapsed time.Duration) {
	s := elapsed.Seconds()
	b.ReportMetric(float64(b.N)/s, "msgs/s")
	b.ReportMetric(float64(b.N)*float64(size)/s/1e6, "MB/s")
}

func benchGo(b *testing.B, size int) { benchGoMech(b, size, nil, nil) }

// benchGoMech runs benchGo's DEALER to ROUTER benchmark with the given
// mechanisms for the Dealer and the Router (nil: NULL).
func benchGoMech(b *testing.B, size int, dealerMech, routerMech zmtp.Mechanism) {
	ctx := b.Context()
	r, err := zmtp.NewRouter(listen(b), zmtp.RouterConfig{Conn: zmtp.Config{Mechanism: routerMech}})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	d, err := zmtp.NewDealer(zmtp.DealerConfig{
		Conn: zmtp.Config{Identity: newID(), Mechanism: dealerMech},
		Dial: dialer(port(r.Addr())),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	msg := [][]byte{payload(0, 0, size)} // shared by all sends: the Dealer never modifies it
	if err := d.Send(ctx, msg); err != nil {
		b.Fatal(err)
	}
	if _, err := r.Recv(ctx); err != nil { // warm up: connected
		b.Fatal(err)
	}
	batch := make([]zmtp.Message, 0, 256)
	var wg sync.WaitGroup
	var sendErr error
	b.ResetTimer()
	wg.Go(func() {
		for range b.N {
			if sendErr = d.Send(ctx, msg); sendErr != nil {
				return
			}
		}
	})
	for got := 0; got < b.N; {
		batch, err = r.RecvBatch(ctx, batch[:0])
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range batch {
			if len(m.Frames) != 1 || len(m.Frames[0]) != size {
				b.Fatalf("got %d frames, first of %d bytes", len(m.Frames), len(m.Frames[0]))
			}
		}
		got += len(batch)
	}
	b.StopTimer()
	wg.Wait()
	if sendErr != nil {
		b.Fatal(sendErr)
	}
	report(b, size, b.Elapsed())
}

// buildZMQBench compiles testdata/zmqbench.c against libzmq3-dev into
// b's temporary directory, or skips b when that is not possible.
func buildZMQBench(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "zmqbench")
	out, err := exec.Command("gcc", "-O2", "-o", bin, filepath.Join("testdata", "zmqbench.c"), "-lzmq", "-lpthread").CombinedOutput()
	if err != nil {
		b.Skipf("cannot build the libzmq benchmark (apt-get install -y gcc libzmq3-dev): %v: %s", err, out)
	}
	return bin
}

// benchExternal runs one of the zmqbench protocol programs (SIZE as the
// last argument): it prints READY once warmed up, then for each "N" line
// on stdin runs N messages and prints "DONE <seconds>". Its own time is
// reported, so the pipe round trip is left out.
func benchExternal(b *testing.B, size int, name string, args ...string) {
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	cmd := exec.CommandContext(ctx, name, append(args, strconv.Itoa(size))...)
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close()
		io.Copy(io.Discard, stdout)
		cmd.Wait()
	}()
	br := bufio.NewReader(stdout)
	readLine := func() string {
		l, err := br.ReadString('\n')
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		return strings.TrimSpace(l)
	}
	if l := readLine(); !strings.HasPrefix(l, "READY ") {
		b.Fatalf("%s: want READY, got %q", name, l)
	}
	b.ResetTimer()
	if _, err := fmt.Fprintf(stdin, "%d\n", b.N); err != nil {
		b.Fatal(err)
	}
	l := readLine()
	b.StopTimer()
	secs, err := strconv.ParseFloat(strings.TrimPrefix(l, "DONE "), 64)
	if !strings.HasPrefix(l, "DONE ") || err != nil {
		b.Fatalf("%s: want DONE <seconds>, got %q", name, l)
	}
	report(b, size, time.Duration(secs*float64(time.Second)))
}
