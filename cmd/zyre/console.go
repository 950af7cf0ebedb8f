package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"unicode/utf8"
)

// errInterrupted is returned by console.ReadLine on Ctrl-C.
var errInterrupted = errors.New("interrupted")

// console is chat's terminal: it reads the user's lines and prints
// incoming messages without garbling the line being typed.
type console interface {
	// ReadLine returns the next line; io.EOF at the end of input (or
	// Ctrl-D on an empty line), errInterrupted on Ctrl-C.
	ReadLine() (string, error)
	// Println prints one message above the input line.
	Println(s string)
	// SetPrompt changes the prompt.
	SetPrompt(p string)
	// Write prints whole lines through Println (for the logger).
	io.Writer
	// Close restores the terminal.
	Close()
}

// newConsole returns a line editor in raw mode when in and out are both
// terminals and raw mode works here, otherwise a plain line reader.
func newConsole(in *os.File, out io.Writer) console {
	if f, ok := out.(*os.File); ok && isTerminal(in) && isTerminal(f) {
		if restore, err := makeRaw(in); err == nil {
			return &editor{in: in, out: out, restore: restore}
		}
	}
	return &plainConsole{sc: bufio.NewScanner(in), out: out}
}

// plainConsole reads lines with bufio and prints messages as they come.
type plainConsole struct {
	sc  *bufio.Scanner
	mu  sync.Mutex
	out io.Writer
}

func (c *plainConsole) ReadLine() (string, error) {
	if c.sc.Scan() {
		return strings.TrimRight(c.sc.Text(), "\r"), nil
	}
	if err := c.sc.Err(); err != nil {
		return "", err
	}
	return "", io.EOF
}

func (c *plainConsole) Println(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintln(c.out, s)
}

func (c *plainConsole) SetPrompt(string) {}

func (c *plainConsole) Write(b []byte) (int, error) {
	c.Println(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func (c *plainConsole) Close() {}

// editor is a small line editor for a terminal in raw mode: insert and
// delete, cursor left and right, Home/End (Ctrl-A/Ctrl-E), Ctrl-U, Ctrl-W,
// Ctrl-L, and history with up and down. Messages printed while the user
// types go above the input line, which is then redrawn. It assumes one
// terminal column per character and does not wrap long lines specially.
type editor struct {
	in      *os.File
	out     io.Writer
	restore func()

	mu      sync.Mutex // guards everything below and writes to out
	prompt  string
	buf     []rune
	pos     int // cursor, index into buf
	reading bool

	history []string
	hpos    int    // index into history while browsing; len(history) = the new line
	saved   []rune // the new line, kept while browsing history

	pending []byte // bytes of an incomplete rune or escape sequence
}

func (ed *editor) Close() {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	if ed.restore != nil {
		if ed.reading {
			io.WriteString(ed.out, "\r\x1b[K")
		}
		ed.restore()
		ed.restore = nil
	}
}

func (ed *editor) SetPrompt(p string) {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	ed.prompt = p
	if ed.reading {
		ed.redraw()
	}
}

func (ed *editor) Println(s string) {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	if ed.reading {
		io.WriteString(ed.out, "\r\x1b[K"+s+"\n")
		ed.redraw()
	} else {
		io.WriteString(ed.out, s+"\n")
	}
}

func (ed *editor) Write(b []byte) (int, error) {
	for line := range strings.SplitSeq(strings.TrimRight(string(b), "\n"), "\n") {
		ed.Println(line)
	}
	return len(b), nil
}

// redraw draws the prompt and the line and puts the cursor in place.
// Called with mu held.
func (ed *editor) redraw() {
	var b strings.Builder
	b.WriteString("\r\x1b[K")
	b.WriteString(ed.prompt)
	b.WriteString(string(ed.buf))
	if back := len(ed.buf) - ed.pos; back > 0 {
		fmt.Fprintf(&b, "\x1b[%dD", back)
	}
	io.WriteString(ed.out, b.String())
}

func (ed *editor) ReadLine() (string, error) {
	ed.mu.Lock()
	ed.buf, ed.pos, ed.reading = nil, 0, true
	ed.hpos, ed.saved = len(ed.history), nil
	ed.redraw()
	ed.mu.Unlock()

	var chunk [256]byte
	for {
		// Process what is pending first: a paste may hold several lines.
		ed.mu.Lock()
		line, done, err := ed.process()
		ed.mu.Unlock()
		if done {
			return line, err
		}
		n, rerr := ed.in.Read(chunk[:])
		if n > 0 {
			ed.mu.Lock()
			ed.pending = append(ed.pending, chunk[:n]...)
			ed.mu.Unlock()
			continue
		}
		if rerr != nil {
			ed.finish("")
			return "", io.EOF
		}
	}
}

// finish ends the current line: it is printed no more (the caller shows
// what it wants) and remembered in the history if not empty.
func (ed *editor) finish(line string) {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	ed.finishLocked(line)
}

func (ed *editor) finishLocked(line string) {
	io.WriteString(ed.out, "\r\x1b[K")
	ed.reading = false
	if strings.TrimSpace(line) != "" && (len(ed.history) == 0 || ed.history[len(ed.history)-1] != line) {
		ed.history = append(ed.history, line)
		if len(ed.history) > 500 {
			ed.history = ed.history[1:]
		}
	}
}

// process consumes pending input. done is true when a line is complete (or
// the input ends). Called with mu held.
func (ed *editor) process() (line string, done bool, err error) {
	for len(ed.pending) > 0 {
		c := ed.pending[0]
		switch {
		case c == '\r' || c == '\n':
			ed.pending = ed.pending[1:]
			// A CR LF pair is one Enter.
			if c == '\r' && len(ed.pending) > 0 && ed.pending[0] == '\n' {
				ed.pending = ed.pending[1:]
			}
			line = string(ed.buf)
			ed.finishLocked(line)
			return line, true, nil
		case c == 3: // Ctrl-C
			ed.pending = ed.pending[1:]
			ed.finishLocked("")
			return "", true, errInterrupted
		case c == 4: // Ctrl-D: EOF on an empty line, else delete
			ed.pending = ed.pending[1:]
			if len(ed.buf) == 0 {
				ed.finishLocked("")
				return "", true, io.EOF
			}
			ed.deleteAt(ed.pos)
		case c == 127 || c == 8: // Backspace
			ed.pending = ed.pending[1:]
			if ed.pos > 0 {
				ed.pos--
				ed.deleteAt(ed.pos)
			}
		case c == 1: // Ctrl-A
			ed.pending = ed.pending[1:]
			ed.pos = 0
		case c == 5: // Ctrl-E
			ed.pending = ed.pending[1:]
			ed.pos = len(ed.buf)
		case c == 2: // Ctrl-B
			ed.pending = ed.pending[1:]
			ed.pos = max(0, ed.pos-1)
		case c == 6: // Ctrl-F
			ed.pending = ed.pending[1:]
			ed.pos = min(len(ed.buf), ed.pos+1)
		case c == 21: // Ctrl-U
			ed.pending = ed.pending[1:]
			ed.buf = append(ed.buf[:0:0], ed.buf[ed.pos:]...)
			ed.pos = 0
		case c == 11: // Ctrl-K
			ed.pending = ed.pending[1:]
			ed.buf = ed.buf[:ed.pos]
		case c == 23: // Ctrl-W
			ed.pending = ed.pending[1:]
			i := ed.pos
			for i > 0 && ed.buf[i-1] == ' ' {
				i--
			}
			for i > 0 && ed.buf[i-1] != ' ' {
				i--
			}
			ed.buf = append(ed.buf[:i], ed.buf[ed.pos:]...)
			ed.pos = i
		case c == 12: // Ctrl-L
			ed.pending = ed.pending[1:]
			io.WriteString(ed.out, "\x1b[H\x1b[2J")
		case c == 16: // Ctrl-P
			ed.pending = ed.pending[1:]
			ed.historyMove(-1)
		case c == 14: // Ctrl-N
			ed.pending = ed.pending[1:]
			ed.historyMove(+1)
		case c == 0x1b:
			n, ok := ed.escape()
			if !ok {
				return "", false, nil // wait for the rest of the sequence
			}
			ed.pending = ed.pending[n:]
		case c < 0x20:
			ed.pending = ed.pending[1:] // other control characters: ignored
		default:
			if !utf8.FullRune(ed.pending) {
				return "", false, nil
			}
			r, size := utf8.DecodeRune(ed.pending)
			ed.pending = ed.pending[size:]
			if r == utf8.RuneError && size == 1 {
				continue
			}
			ed.buf = append(ed.buf, 0)
			copy(ed.buf[ed.pos+1:], ed.buf[ed.pos:])
			ed.buf[ed.pos] = r
			ed.pos++
		}
		ed.redraw()
	}
	return "", false, nil
}

// escape interprets the escape sequence at the start of pending and
// returns its length; ok is false when it is incomplete.
func (ed *editor) escape() (n int, ok bool) {
	p := ed.pending
	if len(p) < 2 {
		return 0, false
	}
	if p[1] != '[' && p[1] != 'O' {
		return 1, true // a lone ESC (or Alt-key): dropped
	}
	// CSI: parameters and intermediates, then a final byte in 0x40..0x7e.
	i := 2
	for i < len(p) && (p[i] < 0x40 || p[i] > 0x7e) {
		i++
	}
	if i == len(p) {
		if len(p) > 16 {
			return len(p), true // garbage: drop it
		}
		return 0, false
	}
	seq := string(p[2 : i+1])
	switch seq {
	case "A":
		ed.historyMove(-1)
	case "B":
		ed.historyMove(+1)
	case "C":
		ed.pos = min(len(ed.buf), ed.pos+1)
	case "D":
		ed.pos = max(0, ed.pos-1)
	case "H", "1~", "7~":
		ed.pos = 0
	case "F", "4~", "8~":
		ed.pos = len(ed.buf)
	case "3~":
		ed.deleteAt(ed.pos)
	}
	return i + 1, true
}

func (ed *editor) deleteAt(i int) {
	if i < len(ed.buf) {
		ed.buf = append(ed.buf[:i], ed.buf[i+1:]...)
	}
}

// historyMove browses the history: -1 older, +1 newer.
func (ed *editor) historyMove(d int) {
	next := ed.hpos + d
	if next < 0 || next > len(ed.history) {
		return
	}
	if ed.hpos == len(ed.history) {
		ed.saved = append([]rune(nil), ed.buf...)
	}
	ed.hpos = next
	if next == len(ed.history) {
		ed.buf = append([]rune(nil), ed.saved...)
	} else {
		ed.buf = []rune(ed.history[next])
	}
	ed.pos = len(ed.buf)
}
