package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha3"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gozyre/zyre/internal/pyzmq"
	"github.com/gozyre/zyre/internal/zmtp"
)

// python is Debian's interpreter, which has python3-zmq. The python3 first
// on PATH may be another one without it.
const python = pyzmq.Python

// testTimeout bounds each test so that a broken peer cannot hang it; it is
// not a timing assertion.
const testTimeout = 30 * time.Second

// needPyZMQ skips the test when python3-zmq is missing, or fails it when
// running in CI, where the interop tests are required.
func needPyZMQ(t testing.TB) {
	t.Helper()
	pyzmq.Require(t)
}

// testCtx returns the test's context bounded by testTimeout.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newID returns a ZRE-style identity: 0x01 followed by a random UUID.
func newID() []byte {
	id := make([]byte, 17)
	id[0] = 1
	rand.Read(id[1:])
	return id
}

// payload returns frame j of message i, n bytes long: the first n bytes of
// SHAKE128("m<i>f<j>"). testdata/zmtpkit.py computes the same.
func payload(i, j, n int) []byte {
	b := make([]byte, n)
	if n > 0 {
		h := sha3.NewSHAKE128()
		fmt.Fprintf(h, "m%df%d", i, j)
		h.Read(b)
	}
	return b
}

// specFrames builds the messages of a spec (a list of lists of frame sizes).
func specFrames(spec [][]int) [][][]byte {
	msgs := make([][][]byte, len(spec))
	for i, sizes := range spec {
		for j, n := range sizes {
			msgs[i] = append(msgs[i], payload(i, j, n))
		}
	}
	return msgs
}

// testSpec: a 3-frame multipart message, frames of 0, 255 (the largest
// short frame), 256 (the smallest long frame) and 4 MiB bytes, and all of
// them in one multipart message.
var testSpec = [][]int{
	{11, 0, 1000},
	{0},
	{255},
	{256},
	{4 << 20},
	{255, 256, 0, 4 << 20, 1},
}

func specJSON(spec [][]int) string {
	b, _ := json.Marshal(spec)
	return string(b)
}

// describe renders frames as router.py reports them: [len, sha256 hex].
func describe(frames [][]byte) [][2]any {
	d := make([][2]any, len(frames))
	for i, f := range frames {
		sum := sha256.Sum256(f)
		d[i] = [2]any{float64(len(f)), hex.EncodeToString(sum[:])}
	}
	return d
}

// shortFrames renders frames for failure messages without dumping MiBs.
func shortFrames(frames [][]byte) string {
	var sb strings.Builder
	sb.WriteString("[")
	for i, f := range frames {
		if i > 0 {
			sb.WriteString(" ")
		}
		if len(f) <= 16 {
			fmt.Fprintf(&sb, "%q", f)
		} else {
			sum := sha256.Sum256(f)
			fmt.Fprintf(&sb, "%dB:%x", len(f), sum[:4])
		}
	}
	sb.WriteString("]")
	return sb.String()
}

func equalFrames(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// lockedBuffer collects a process's stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// proc is a helper process that prints "READY <port>" and JSON lines on
// stdout and stops when its stdin is closed.
type proc struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr lockedBuffer
	waited chan struct{}
	err    error
	extra  []string // lines stop skipped before the summary
}

// startProc starts name with args under ctx (killed when ctx ends or the
// test is cleaned up) and collects its output.
func startProc(t testing.TB, ctx context.Context, name string, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	p := &proc{t: t, name: filepath.Base(name), lines: make(chan string, 1024), waited: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, name, args...)
	p.cmd.Stderr = &p.stderr
	p.cmd.WaitDelay = 5 * time.Second
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", name, err)
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	go func() {
		<-readDone // reads must finish before Wait
		p.err = p.cmd.Wait()
		close(p.waited)
	}()
	t.Cleanup(func() {
		p.stdin.Close()
		cancel()
		<-p.waited
		if t.Failed() {
			if s := p.stderr.String(); s != "" {
				t.Logf("%s stderr:\n%s", p.name, s)
			}
		}
	})
	return p
}

// startPy runs a script from testdata/ with /usr/bin/python3.
func startPy(t testing.TB, ctx context.Context, script string, args ...string) *proc {
	t.Helper()
	return startProc(t, ctx, python, append([]string{"-u", filepath.Join("testdata", script)}, args...)...)
}

// line returns the next stdout line; it fails the test when the process
// ends or ctx does first.
func (p *proc) line(ctx context.Context) string {
	p.t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			<-p.waited
			p.t.Fatalf("%s exited (%v) before printing what we waited for; stderr:\n%s", p.name, p.err, p.stderr.String())
		}
		return l
	case <-ctx.Done():
		p.t.Fatalf("waiting for %s: %v; stderr:\n%s", p.name, ctx.Err(), p.stderr.String())
	}
	return ""
}

// ready waits for "READY <port>" and returns the port.
func (p *proc) ready(ctx context.Context) int {
	p.t.Helper()
	l := p.line(ctx)
	port, err := strconv.Atoi(strings.TrimPrefix(l, "READY "))
	if !strings.HasPrefix(l, "READY ") || err != nil {
		p.t.Fatalf("%s: want READY <port>, got %q", p.name, l)
	}
	return port
}

// json decodes the next line into v.
func (p *proc) json(ctx context.Context, v any) {
	p.t.Helper()
	l := p.line(ctx)
	if err := json.Unmarshal([]byte(l), v); err != nil {
		p.t.Fatalf("%s: bad JSON line %q: %v", p.name, l, err)
	}
}

// pyMsg is one message as reported by router.py.
type pyMsg struct {
	ID     string   `json:"id"`
	Frames [][2]any `json:"frames"`
	Error  string   `json:"error"`
}

// summary is what the scripts print when told to stop.
type summary struct {
	Monitor map[string]int `json:"monitor"`
	Proxy   *proxySummary  `json:"proxy"`
}

type proxySummary struct {
	Go       originStats `json:"go"`
	ZMQ      originStats `json:"zmq"`
	Injected int         `json:"injected"`
	Echoed   int         `json:"echoed"`
}

// originStats are the frames one side sent, as seen by the proxy.
type originStats struct {
	Commands   map[string]int `json:"commands"`
	Pings      [][2]any       `json:"pings"` // [ttl, context hex]
	Pongs      []string       `json:"pongs"` // context hex of PONGs passed on
	Minor      *int           `json:"minor"`
	DataFrames int            `json:"data_frames"`
}

// stop closes the script's stdin and returns its summary; other lines
// printed before it are kept in p.extra.
func (p *proc) stop(ctx context.Context) summary {
	p.t.Helper()
	p.stdin.Close()
	for {
		var v struct {
			Summary *summary `json:"summary"`
			Error   string   `json:"error"`
		}
		l := p.line(ctx)
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			p.t.Fatalf("%s: bad JSON line %q: %v", p.name, l, err)
		}
		if v.Error != "" {
			p.t.Errorf("%s: %s", p.name, v.Error)
		}
		if v.Summary != nil {
			return *v.Summary
		}
		if v.Error == "" {
			p.extra = append(p.extra, l)
		}
	}
}

// dial connects to 127.0.0.1:port and handshakes as cfg says.
func dial(t testing.TB, ctx context.Context, port int, cfg zmtp.Config) *zmtp.Conn {
	t.Helper()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	c, err := zmtp.Handshake(ctx, nc, cfg)
	if err != nil {
		t.Fatalf("handshake with 127.0.0.1:%d: %v", port, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// listen opens a TCP listener on 127.0.0.1, closed at cleanup.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func port(a net.Addr) int { return a.(*net.TCPAddr).Port }

// dialer returns a DealerConfig.Dial for 127.0.0.1:port.
func dialer(port int) func(context.Context) (net.Conn, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
}
