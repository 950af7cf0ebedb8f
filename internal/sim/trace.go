package sim

import (
	"io"
	"strconv"

	"github.com/gozyre/zyre/internal/zre"
)

// tracer writes one compact line per traced happening:
//
//	<seconds.nanoseconds> <node> <what> [<peer>] [<detail>]
//
// for example
//
//	1.000731208 n7 beacon n3 port=49152
//	1.001502117 n3 recv HELLO n7 seq=1 61B
//	1.001502117 n3 event ENTER n7
//	35.204000000 n3 drop PING n7 seq=4 reset
//	40.000000000 - heal
//
// Lines are built in a reused buffer with strconv, never fmt, and written
// in 64 KiB chunks: a 1,000-node run traces millions of packets.
type tracer struct {
	w       io.Writer
	on      bool // anything at all
	packets bool // packets too (TracePackets)
	buf     []byte
	err     error
}

func (t *tracer) init(w io.Writer, level TraceLevel) {
	if w == nil {
		return
	}
	t.w = w
	t.on = true
	t.packets = level >= TracePackets
	t.buf = make([]byte, 0, 64<<10)
}

func (t *tracer) flush() error {
	if !t.on || len(t.buf) == 0 {
		return t.err
	}
	if t.err == nil {
		_, t.err = t.w.Write(t.buf)
	}
	t.buf = t.buf[:0]
	return t.err
}

// head starts a line: time and node ("-" for the network itself).
func (t *tracer) head(now int64, node int32) {
	b := t.buf
	b = appendTime(b, now)
	b = append(b, ' ')
	if node < 0 {
		b = append(b, '-')
	} else {
		b = append(b, 'n')
		b = strconv.AppendInt(b, int64(node), 10)
	}
	t.buf = append(b, ' ')
}

func (t *tracer) end() {
	t.buf = append(t.buf, '\n')
	if len(t.buf) >= 60<<10 {
		t.flush()
	}
}

// appendTime writes virtual nanoseconds as seconds with nine decimals.
func appendTime(b []byte, ns int64) []byte {
	if ns < 0 {
		b = append(b, '-')
		ns = -ns
	}
	b = strconv.AppendInt(b, ns/1e9, 10)
	frac := ns % 1e9
	var d [10]byte
	d[0] = '.'
	for k := 9; k >= 1; k-- {
		d[k] = byte('0' + frac%10)
		frac /= 10
	}
	return append(b, d[:]...)
}

// line writes "<what> <prefix><peer> <detail>"; peer < 0 prints "?".
func (t *tracer) line(now int64, node int32, what, prefix string, peer int64, detail string) {
	if !t.on {
		return
	}
	t.head(now, node)
	t.buf = append(t.buf, what...)
	t.buf = append(t.buf, ' ')
	if peer < 0 {
		t.buf = append(t.buf, '?')
	} else {
		t.buf = append(t.buf, prefix...)
		t.buf = strconv.AppendInt(t.buf, peer, 10)
	}
	if detail != "" {
		t.buf = append(t.buf, ' ')
		t.buf = append(t.buf, detail...)
	}
	t.end()
}

// event writes "<what> [detail]" for a node (or the network, node -1).
func (t *tracer) event(now int64, node int32, what, detail string) {
	if !t.on {
		return
	}
	t.head(now, node)
	t.buf = append(t.buf, what...)
	if detail != "" {
		t.buf = append(t.buf, ' ')
		t.buf = append(t.buf, detail...)
	}
	t.end()
}

// peer writes "<what> n<j>".
func (t *tracer) peer(now int64, node int32, what string, j int32) {
	if t.on {
		t.line(now, node, what, "n", int64(j), "")
	}
}

// msg writes a delivered message: "recv CMD n<from> seq=S <size>B".
func (t *tracer) msg(now int64, to int32, cmd zre.Command, seq uint16, from int32, size int) {
	if !t.packets {
		return
	}
	t.head(now, to)
	b := append(t.buf, "recv "...)
	b = append(b, cmd.String()...)
	b = append(b, " n"...)
	b = strconv.AppendInt(b, int64(from), 10)
	b = append(b, " seq="...)
	b = strconv.AppendUint(b, uint64(seq), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(size), 10)
	t.buf = append(b, 'B')
	t.end()
}

// msgDrop writes a message that was not delivered (or held): "drop CMD
// n<from> seq=S <why>".
func (t *tracer) msgDrop(now int64, to int32, cmd zre.Command, seq uint16, from int32, why string) {
	t.msgVerb(now, to, "drop ", cmd, seq, from, why)
}

// msgVerb writes "<verb>CMD n<from> seq=S <why>".
func (t *tracer) msgVerb(now int64, to int32, verb string, cmd zre.Command, seq uint16, from int32, why string) {
	if !t.packets {
		return
	}
	t.head(now, to)
	b := append(t.buf, verb...)
	b = append(b, cmd.String()...)
	b = append(b, " n"...)
	b = strconv.AppendInt(b, int64(from), 10)
	b = append(b, " seq="...)
	b = strconv.AppendUint(b, uint64(seq), 10)
	b = append(b, ' ')
	t.buf = append(b, why...)
	t.end()
}
