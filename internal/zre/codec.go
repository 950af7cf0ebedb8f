package zre

import (
	"fmt"
	"io"
	"math"
)

// wireError is a parse error that matches several sentinels at once, so a
// short frame satisfies both errors.Is(err, ErrTruncated) and
// errors.Is(err, io.ErrUnexpectedEOF).
type wireError struct {
	msg string
	is  []error
}

func (e *wireError) Error() string   { return e.msg }
func (e *wireError) Unwrap() []error { return e.is }

var (
	// errTruncated is what the parser returns (bare or inside *Error) when
	// frame 0 ends before its fields do.
	errTruncated = &wireError{ErrTruncated.Error(), []error{ErrTruncated, io.ErrUnexpectedEOF}}
	// errTooMany is returned for a count that the remaining bytes cannot
	// hold. Such a frame is truncated with respect to its own count, so the
	// error matches ErrTruncated and io.ErrUnexpectedEOF as well.
	errTooMany = &wireError{ErrTooManyItems.Error(), []error{ErrTooManyItems, ErrTruncated, io.ErrUnexpectedEOF}}
)

// Smallest encoded sizes of list items, used to reject impossible counts
// before anything is allocated.
const (
	minListItem   = 4 // longstr: u32 length
	minHeaderItem = 5 // short-string key (u8 length) + longstr value (u32 length)
)

// ---------------------------------------------------------------------------
// Encoding

func appendHeader(b []byte, c Command, seq uint16) []byte {
	return append(b, byte(Signature>>8), byte(Signature&0xFF), byte(c), Version, byte(seq>>8), byte(seq))
}

func appendU32(b []byte, v uint32) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// appendShort appends a short string; the caller has checked its length.
func appendShort(b []byte, s string) []byte {
	return append(append(b, byte(len(s))), s...)
}

// appendLong appends a longstr; the caller has checked its length.
func appendLong(b []byte, s string) []byte {
	return append(appendU32(b, uint32(len(s))), s...)
}

// checkShort reports a short string that does not fit its u8 length.
func checkShort(c Command, field string, s string) error {
	if len(s) > MaxString {
		return fmt.Errorf("%w: %v %s has %d bytes", ErrStringTooLong, c, field, len(s))
	}
	return nil
}

// checkLong reports a longstr (or a count) that does not fit its u32 length.
func checkLong(c Command, field string, n int) error {
	if uint64(n) > math.MaxUint32 {
		return fmt.Errorf("%w: %v %s has %d bytes (more than 2^32-1)", ErrStringTooLong, c, field, n)
	}
	return nil
}

// grow makes room for n more bytes so that the appends that follow
// allocate at most once.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), len(b)+n)
	copy(nb, b)
	return nb
}

// Len returns the encoded length of frame 0.
func (m *Hello) Len() int {
	n := HeaderSize + 1 + len(m.Endpoint) + 4 + 1 + 1 + len(m.Name) + 4
	for _, g := range m.Groups {
		n += 4 + len(g)
	}
	for _, h := range m.Headers {
		n += 1 + len(h.Key) + 4 + len(h.Value)
	}
	return n
}

// Append appends frame 0 of the HELLO to b. It fails, returning b
// unchanged, when the endpoint, the name or a header key is longer than
// 255 bytes (ErrStringTooLong).
func (m *Hello) Append(b []byte) ([]byte, error) {
	if err := checkShort(CmdHello, "endpoint", m.Endpoint); err != nil {
		return b, err
	}
	if err := checkShort(CmdHello, "name", m.Name); err != nil {
		return b, err
	}
	if err := checkLong(CmdHello, "group count", len(m.Groups)); err != nil {
		return b, err
	}
	for _, g := range m.Groups {
		if err := checkLong(CmdHello, "group", len(g)); err != nil {
			return b, err
		}
	}
	if err := checkLong(CmdHello, "header count", len(m.Headers)); err != nil {
		return b, err
	}
	for _, h := range m.Headers {
		if err := checkShort(CmdHello, "header key", h.Key); err != nil {
			return b, err
		}
		if err := checkLong(CmdHello, "header value", len(h.Value)); err != nil {
			return b, err
		}
	}
	b = grow(b, m.Len())
	b = appendHeader(b, CmdHello, m.Sequence)
	b = appendShort(b, m.Endpoint)
	b = appendU32(b, uint32(len(m.Groups)))
	for _, g := range m.Groups {
		b = appendLong(b, g)
	}
	b = append(b, m.Status)
	b = appendShort(b, m.Name)
	b = appendU32(b, uint32(len(m.Headers)))
	for _, h := range m.Headers {
		b = appendShort(b, h.Key)
		b = appendLong(b, h.Value)
	}
	return b, nil
}

// Len returns the encoded length of frame 0 (the content frames are not
// part of it).
func (m *Whisper) Len() int { return HeaderSize }

// Append appends frame 0 of the WHISPER to b; the content goes in the
// frames that follow it. It never fails.
func (m *Whisper) Append(b []byte) ([]byte, error) {
	return appendHeader(b, CmdWhisper, m.Sequence), nil
}

// Len returns the encoded length of frame 0 (the content frames are not
// part of it).
func (m *Shout) Len() int { return HeaderSize + 1 + len(m.Group) }

// Append appends frame 0 of the SHOUT to b; the content goes in the frames
// that follow it. It fails, returning b unchanged, when the group is longer
// than 255 bytes.
func (m *Shout) Append(b []byte) ([]byte, error) {
	if err := checkShort(CmdShout, "group", m.Group); err != nil {
		return b, err
	}
	b = grow(b, m.Len())
	b = appendHeader(b, CmdShout, m.Sequence)
	return appendShort(b, m.Group), nil
}

// Len returns the encoded length of frame 0.
func (m *Join) Len() int { return HeaderSize + 1 + len(m.Group) + 1 }

// Append appends frame 0 of the JOIN to b. It fails, returning b unchanged,
// when the group is longer than 255 bytes.
func (m *Join) Append(b []byte) ([]byte, error) {
	if err := checkShort(CmdJoin, "group", m.Group); err != nil {
		return b, err
	}
	b = grow(b, m.Len())
	b = appendHeader(b, CmdJoin, m.Sequence)
	return append(appendShort(b, m.Group), m.Status), nil
}

// Len returns the encoded length of frame 0.
func (m *Leave) Len() int { return HeaderSize + 1 + len(m.Group) + 1 }

// Append appends frame 0 of the LEAVE to b. It fails, returning b
// unchanged, when the group is longer than 255 bytes.
func (m *Leave) Append(b []byte) ([]byte, error) {
	if err := checkShort(CmdLeave, "group", m.Group); err != nil {
		return b, err
	}
	b = grow(b, m.Len())
	b = appendHeader(b, CmdLeave, m.Sequence)
	return append(appendShort(b, m.Group), m.Status), nil
}

// Len returns the encoded length of frame 0.
func (m *Ping) Len() int { return HeaderSize }

// Append appends the PING frame to b. It never fails.
func (m *Ping) Append(b []byte) ([]byte, error) {
	return appendHeader(b, CmdPing, m.Sequence), nil
}

// Len returns the encoded length of frame 0.
func (m *PingOK) Len() int { return HeaderSize }

// Append appends the PING-OK frame to b. It never fails.
func (m *PingOK) Append(b []byte) ([]byte, error) {
	return appendHeader(b, CmdPingOK, m.Sequence), nil
}

// Len returns the encoded length of frame 0.
func (m *Elect) Len() int { return HeaderSize + 1 + len(m.Group) + 1 + len(m.Challenger) }

// Append appends frame 0 of the ELECT to b. It fails, returning b
// unchanged, when the group or the challenger id is longer than 255 bytes.
func (m *Elect) Append(b []byte) ([]byte, error) {
	if err := checkShort(CmdElect, "group", m.Group); err != nil {
		return b, err
	}
	if err := checkShort(CmdElect, "challenger_id", m.Challenger); err != nil {
		return b, err
	}
	b = grow(b, m.Len())
	b = appendHeader(b, CmdElect, m.Sequence)
	return appendShort(appendShort(b, m.Group), m.Challenger), nil
}

// Len returns the encoded length of frame 0.
func (m *Leader) Len() int { return HeaderSize + 1 + len(m.Group) + 1 + len(m.LeaderID) }

// Append appends frame 0 of the LEADER to b. It fails, returning b
// unchanged, when the group or the leader id is longer than 255 bytes.
func (m *Leader) Append(b []byte) ([]byte, error) {
	if err := checkShort(CmdLeader, "group", m.Group); err != nil {
		return b, err
	}
	if err := checkShort(CmdLeader, "leader_id", m.LeaderID); err != nil {
		return b, err
	}
	b = grow(b, m.Len())
	b = appendHeader(b, CmdLeader, m.Sequence)
	return appendShort(appendShort(b, m.Group), m.LeaderID), nil
}

// Len returns the encoded length of frame 0.
func (m *Goodbye) Len() int { return HeaderSize }

// Append appends the GOODBYE frame to b. It never fails.
func (m *Goodbye) Append(b []byte) ([]byte, error) {
	return appendHeader(b, CmdGoodbye, m.Sequence), nil
}

// ---------------------------------------------------------------------------
// Parsing

// PeekHeader reads only the 6-byte header of frame 0 and returns the command
// id and sequence number.
//
// A frame shorter than 6 bytes yields an error matching ErrTruncated and
// io.ErrUnexpectedEOF; a wrong signature yields ErrBadSignature. Both are
// returned bare because there is no header to report. A version other than
// 2 or a command id outside 1..10 yields an *Error (ErrBadVersion,
// ErrUnknownCommand); in that case the returned command and sequence are
// the values read from the frame, so the caller can still account for the
// sequence.
func PeekHeader(frame []byte) (Command, uint16, error) {
	if len(frame) < HeaderSize {
		return 0, 0, errTruncated
	}
	if frame[0] != byte(Signature>>8) || frame[1] != byte(Signature&0xFF) {
		return 0, 0, ErrBadSignature
	}
	c := Command(frame[2])
	seq := uint16(frame[4])<<8 | uint16(frame[5])
	if frame[3] != Version {
		return c, seq, &Error{Command: c, Sequence: seq, Err: ErrBadVersion}
	}
	if c < CmdHello || c > CmdGoodbye {
		return c, seq, &Error{Command: c, Sequence: seq, Err: ErrUnknownCommand}
	}
	return c, seq, nil
}

// Parse parses frame 0 of a ZRE command. It never panics and never
// allocates according to a count it has not checked against the bytes
// left. The strings of the result share one copy of the frame, so the
// caller may reuse frame afterwards.
//
// Errors: a frame shorter than the header matches ErrTruncated (and
// io.ErrUnexpectedEOF); a bad signature is ErrBadSignature. Once the header
// is readable every error is an *Error carrying the command id and
// sequence number, wrapping ErrBadVersion, ErrUnknownCommand, ErrTruncated
// (which also matches io.ErrUnexpectedEOF), ErrTooManyItems (a list count
// that the bytes left cannot hold; it also matches ErrTruncated) or
// ErrTrailingBytes.
//
// For WHISPER and SHOUT the Content field is left nil; ParseFrames fills it.
func Parse(frame []byte) (Message, error) {
	c, seq, err := PeekHeader(frame)
	if err != nil {
		return nil, err
	}
	r := reader{b: frame, off: HeaderSize}
	var m Message
	switch c {
	case CmdHello:
		// HELLO is the one command whose size is not bounded by 255-byte
		// fields, so check its whole structure without allocating first:
		// a malformed HELLO then costs no copies at all.
		dry := reader{b: frame, off: HeaderSize, dry: true}
		dry.hello()
		if dry.err != nil || dry.off != len(frame) {
			r = dry
			break
		}
		if h := r.hello(); h != nil {
			h.Sequence = seq
			m = h
		}
	case CmdWhisper:
		m = &Whisper{Sequence: seq}
	case CmdShout:
		group := r.short()
		if r.err == nil {
			m = &Shout{Sequence: seq, Group: group}
		}
	case CmdJoin:
		group := r.short()
		status := r.u8()
		if r.err == nil {
			m = &Join{Sequence: seq, Group: group, Status: status}
		}
	case CmdLeave:
		group := r.short()
		status := r.u8()
		if r.err == nil {
			m = &Leave{Sequence: seq, Group: group, Status: status}
		}
	case CmdPing:
		m = &Ping{Sequence: seq}
	case CmdPingOK:
		m = &PingOK{Sequence: seq}
	case CmdElect:
		group := r.short()
		id := r.short()
		if r.err == nil {
			m = &Elect{Sequence: seq, Group: group, Challenger: id}
		}
	case CmdLeader:
		group := r.short()
		id := r.short()
		if r.err == nil {
			m = &Leader{Sequence: seq, Group: group, LeaderID: id}
		}
	case CmdGoodbye:
		m = &Goodbye{Sequence: seq}
	}
	if r.err == nil && r.off != len(frame) {
		r.err = ErrTrailingBytes
	}
	if r.err != nil {
		return nil, &Error{Command: c, Sequence: seq, Err: r.err}
	}
	return m, nil
}

// ParseFrames parses a whole ZRE message: frames[0] with Parse and, for
// WHISPER and SHOUT, the content frames frames[1:], which the result keeps
// without copying (Content is nil when there are none). Content frames on
// any other command yield an *Error wrapping ErrNoContent. An empty frames
// slice matches ErrTruncated.
func ParseFrames(frames [][]byte) (Message, error) {
	if len(frames) == 0 {
		return nil, errTruncated
	}
	m, err := Parse(frames[0])
	if err != nil {
		return nil, err
	}
	var content [][]byte
	if len(frames) > 1 {
		content = frames[1:]
	}
	switch m := m.(type) {
	case *Whisper:
		m.Content = content
	case *Shout:
		m.Content = content
	default:
		if content != nil {
			return nil, &Error{Command: m.Command(), Sequence: m.Seq(), Err: ErrNoContent}
		}
	}
	return m, nil
}

// reader walks the fields of frame 0. The first error sticks; after it
// every read returns a zero value.
type reader struct {
	b   []byte
	s   string // string(b), made on the first non-empty string read
	off int
	err error
	dry bool // only check the structure: no strings, no slices
}

// hello reads the fields of a HELLO after the header. In dry mode it
// returns nil.
func (r *reader) hello() *Hello {
	endpoint := r.short()
	groups := r.list()
	status := r.u8()
	name := r.short()
	headers := r.headers()
	if r.err != nil || r.dry {
		return nil
	}
	return &Hello{Endpoint: endpoint, Groups: groups, Status: status, Name: name, Headers: headers}
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) u8() uint8 {
	if r.err != nil {
		return 0
	}
	if r.left() < 1 {
		r.err = errTruncated
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

func (r *reader) u32() uint32 {
	if r.err != nil {
		return 0
	}
	if r.left() < 4 {
		r.err = errTruncated
		return 0
	}
	b := r.b[r.off : r.off+4]
	r.off += 4
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// str returns the next n bytes as a string. All strings of one frame are
// substrings of a single copy of it: one allocation per message instead of
// one per field.
func (r *reader) str(n uint64) string {
	if r.err != nil {
		return ""
	}
	if uint64(r.left()) < n {
		r.err = errTruncated
		return ""
	}
	if n == 0 || r.dry {
		r.off += int(n)
		return ""
	}
	if r.s == "" {
		r.s = string(r.b)
	}
	s := r.s[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

func (r *reader) short() string { return r.str(uint64(r.u8())) }

func (r *reader) long() string { return r.str(uint64(r.u32())) }

// count reads a u32 item count and checks that the bytes left can hold
// that many items of at least size bytes each.
func (r *reader) count(size int) int {
	n := r.u32()
	if r.err != nil {
		return 0
	}
	if uint64(n) > uint64(r.left()/size) {
		r.err = errTooMany
		return 0
	}
	return int(n)
}

func (r *reader) list() []string {
	n := r.count(minListItem)
	if r.dry {
		for i := 0; i < n && r.err == nil; i++ {
			r.long()
		}
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = r.long()
	}
	return out
}

func (r *reader) headers() []Header {
	n := r.count(minHeaderItem)
	if r.dry {
		for i := 0; i < n && r.err == nil; i++ {
			r.short()
			r.long()
		}
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]Header, n)
	for i := range out {
		out[i].Key = r.short()
		out[i].Value = r.long()
	}
	return out
}
