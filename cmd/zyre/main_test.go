package main

// Process tests: TestMain builds the zyre binary once, and each test runs it
// as separate processes. Everything runs on loopback only (--iface
// 127.0.0.1), with a random high beacon port per test and 100 ms beacons.
// Every wait is bounded; the bounds stop broken tests, they are not timing
// assertions.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gozyre/zyre"
)

// zyreBin is the binary under test.
var zyreBin string

// waitLimit bounds every wait for output or exit.
const waitLimit = 20 * time.Second

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "zyre-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	zyreBin = filepath.Join(dir, "zyre")
	if runtime.GOOS == "windows" {
		zyreBin += ".exe"
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	args := []string{"build", "-o", zyreBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command(goTool, append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building zyre:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testPort returns a random high beacon port for one test.
func testPort() int { return 41000 + rand.IntN(8000) }

// netArgs pins a process to loopback and the test's beacon port.
func netArgs(port int) []string {
	return []string{"--iface", "127.0.0.1", "--port", strconv.Itoa(port), "--interval", "100ms"}
}

// cmdArgs is a command line: the subcommand, netArgs, then more.
func cmdArgs(port int, cmd string, more ...string) []string {
	return append(append([]string{cmd}, netArgs(port)...), more...)
}

// uniq makes a name unique to this test run.
func uniq(prefix string) string { return fmt.Sprintf("%s-%04x", prefix, rand.IntN(1<<16)) }

// proc is a running zyre process with its stdin, a stream of its stdout
// lines and its stderr.
type proc struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan struct{} // closed when the process has exited

	mu     sync.Mutex
	seen   []string // every stdout line so far, for failure messages
	stderr bytes.Buffer
}

// startProc starts zyre with args; the process is killed at the end of
// the test if it is still running.
func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return startCmd(t, name, zyreBin, args...)
}

// startCmd is startProc for any program (the netns test runs zyre under
// "ip netns exec").
func startCmd(t *testing.T, name, path string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, lines: make(chan string, 1024), done: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Stderr = lockedWriter{&p.mu, &p.stderr}
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.seen = append(p.seen, sc.Text())
			p.mu.Unlock()
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(2 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("when the test failed:\n%s", p.dump()) // every process, not only the one a check named
		}
	})
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// dump describes what the process printed, for failure messages.
func (p *proc) dump() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("%s stdout:\n  %s\n%s stderr:\n%s", p.name, strings.Join(p.seen, "\n  "), p.name, p.stderr.String())
}

// stderrText returns what the process wrote on stderr so far.
func (p *proc) stderrText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// expect reads stdout lines until one satisfies ok.
func (p *proc) expect(what string, ok func(line string) bool) string {
	p.t.Helper()
	timeout := time.After(waitLimit)
	for {
		select {
		case line, open := <-p.lines:
			if !open {
				p.t.Fatalf("%s: exited while waiting for %s\n%s", p.name, what, p.dump())
			}
			if ok(line) {
				return line
			}
		case <-timeout:
			p.t.Fatalf("%s: no %s after %v\n%s", p.name, what, waitLimit, p.dump())
		}
	}
}

// expectEvent reads JSON lines until one satisfies ok. Every line must be
// a JSON object with a "type".
func (p *proc) expectEvent(what string, ok func(ev event) bool) event {
	p.t.Helper()
	var got event
	p.expect(what, func(line string) bool {
		var ev event
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Type == "" {
			p.t.Fatalf("%s: not a JSON event line: %q (%v)", p.name, line, err)
		}
		if ok(ev) {
			got = ev
			return true
		}
		return false
	})
	return got
}

// send writes one line to the process's stdin.
func (p *proc) send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatalf("%s: write %q: %v", p.name, line, err)
	}
}

// exitCode waits for the process to exit and returns its exit code.
func (p *proc) exitCode() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(waitLimit):
		p.t.Fatalf("%s: still running after %v\n%s", p.name, waitLimit, p.dump())
	}
	return p.cmd.ProcessState.ExitCode()
}

// event is one line of "zyre events --json".
type event struct {
	Type     string            `json:"type"`
	Peer     string            `json:"peer"`
	Name     string            `json:"name"`
	Group    string            `json:"group"`
	Endpoint string            `json:"endpoint"`
	Gossip   string            `json:"gossip"`
	Headers  map[string]string `json:"headers"`
	Frames   []string          `json:"frames"`
	Error    string            `json:"error"`
	Peers    []peerJSON        `json:"peers"`
	Stats    *zyre.Stats       `json:"stats"`
}

// runZyre runs zyre to completion and returns its exit code and output.
func runZyre(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runCmd(t, zyreBin, args...)
}

// runCmd is runZyre for any program.
func runCmd(t *testing.T, path string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("zyre %s: still running after %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), waitLimit, out.String(), errb.String())
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("zyre %s: %v", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}
