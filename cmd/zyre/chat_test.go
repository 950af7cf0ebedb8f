package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tmux drives programs in real terminals on a private tmux server.
type tmux struct {
	t    *testing.T
	sock string
}

func newTmux(t *testing.T) *tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux not found; CI must install it (apt-get install -y tmux)")
		}
		t.Skip("tmux not found")
	}
	// A private server (its own socket, no user configuration), so the
	// test touches no other tmux session.
	tm := &tmux{t: t, sock: filepath.Join(t.TempDir(), "tmux.sock")}
	t.Cleanup(func() { exec.Command("tmux", "-S", tm.sock, "kill-server").Run() })
	return tm
}

func (tm *tmux) run(args ...string) (string, error) {
	cmd := exec.Command("tmux", append([]string{"-S", tm.sock, "-f", "/dev/null"}, args...)...)
	cmd.Env = append(os.Environ(), "TERM=xterm-256color")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// start runs argv in a new detached session of 160x40 cells.
func (tm *tmux) start(session string, argv ...string) {
	tm.t.Helper()
	if out, err := tm.run(append([]string{"new-session", "-d", "-s", session, "-x", "160", "-y", "40", "--"}, argv...)...); err != nil {
		tm.t.Fatalf("tmux new-session %s: %v: %s", session, err, out)
	}
	tm.t.Cleanup(func() { tm.run("kill-session", "-t", session) })
}

func (tm *tmux) keys(session string, keys ...string) {
	tm.t.Helper()
	if out, err := tm.run(append([]string{"send-keys", "-t", session}, keys...)...); err != nil {
		tm.t.Fatalf("tmux send-keys %s %q: %v: %s", session, keys, err, out)
	}
}

func (tm *tmux) screen(session string) string {
	out, _ := tm.run("capture-pane", "-p", "-t", session)
	return out
}

// waitScreen waits until the session's screen contains want.
func (tm *tmux) waitScreen(session, want string) string {
	tm.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		s := tm.screen(session)
		if strings.Contains(s, want) {
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("screen of %s never showed %q; it shows:\n%s", session, want, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLastLine waits until the last non-blank line of the screen is want.
func (tm *tmux) waitLastLine(session, want string) {
	tm.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		s := tm.screen(session)
		if lastLine(s) == want {
			return
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("last line of %s never became %q; screen:\n%s", session, want, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func lastLine(screen string) string {
	lines := strings.Split(strings.TrimRight(screen, "\n "), "\n")
	return strings.TrimRight(lines[len(lines)-1], " ")
}

// Two chats in real terminals: both join G, alice types a line, bob's
// screen shows it, and bob's half-typed line survives the message.
func TestChatTmux(t *testing.T) {
	t.Parallel()
	tm := newTmux(t)
	port := testPort()
	id := uniq("zyretest")
	alice, bob := id+"-alice", id+"-bob"
	an, bn := uniq("alice"), uniq("bob")
	chat := func(name string) []string {
		return append([]string{zyreBin}, cmdArgs(port, "chat", "--name", name)...)
	}
	tm.start(alice, chat(an)...)
	tm.start(bob, chat(bn)...)
	tm.waitScreen(alice, bn+" entered")
	tm.waitScreen(bob, an+" entered")

	tm.keys(alice, "/join G", "Enter")
	tm.keys(bob, "/join G", "Enter")
	tm.waitScreen(alice, bn+" joined G")
	tm.waitLastLine(bob, "G>") // capture-pane drops trailing blanks

	tm.keys(bob, "half typed")
	tm.waitLastLine(bob, "G> half typed")
	tm.keys(alice, "hello from alice", "Enter")
	screen := tm.waitScreen(bob, fmt.Sprintf("<%s@G> hello from alice", an))
	// The incoming line went above the input line, which was redrawn.
	if last := lastLine(screen); last != "G> half typed" {
		t.Errorf("bob's input line after the message = %q, want %q; screen:\n%s", last, "G> half typed", screen)
	}

	// History: the up arrow brings back alice's last line.
	tm.keys(alice, "Up")
	tm.waitLastLine(alice, "G> hello from alice")
	tm.keys(alice, "C-u", "/quit", "Enter")
	tm.waitScreen(bob, an+" left")
	tm.keys(bob, "C-u", "/quit", "Enter")
	deadline := time.Now().Add(waitLimit)
	for {
		if _, err := tm.run("has-session", "-t", bob); err != nil {
			break // the chat ended and its session with it
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob's chat still running after /quit:\n%s", tm.screen(bob))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
