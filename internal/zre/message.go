// Package zre encodes and parses ZRE v2 commands (ZeroMQ RFC 36, with the
// ELECT, LEADER and GOODBYE extensions of Zyre 2.x).
//
// A ZRE command travels as one ZMTP message: frame 0 holds the header and
// the fixed fields; WHISPER and SHOUT carry the application content as the
// following frames, kept here as separate byte slices.
//
// Encoding appends to a caller's buffer (Append(buf[:0])) and does not
// allocate. Parsing never panics: every malformed input yields an error that
// matches one of the sentinel errors with errors.Is; errors found after a
// readable 6-byte header are *Error values that carry the command id and the
// sequence number, so a receiver can account for the sequence of a message
// it cannot use.
package zre

import (
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
)

// Wire constants of ZRE v2.
const (
	Signature  uint16 = 0xAAA1 // first two bytes of frame 0
	Version    uint8  = 2      // protocol version Zyre 2.x sends (also in CURVE mode)
	HeaderSize        = 6      // signature, command id, version, sequence
	MaxString         = 255    // longest short string (names, groups, endpoints, header keys)
)

// UUID is a node identity: 16 random bytes.
type UUID [16]byte

// String returns the 32-character upper-case hex form C Zyre prints and
// sends in ELECT, LEADER and gossip tuples.
func (u UUID) String() string { return strings.ToUpper(hex.EncodeToString(u[:])) }

// ErrBadUUID is returned by ParseUUID for input that is not 32 hex digits.
var ErrBadUUID = errors.New("zre: bad UUID string")

// ParseUUID parses the 32 hex digit form (either case). Dashes are accepted
// and ignored, so the canonical 8-4-4-4-12 form parses too.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	s = strings.ReplaceAll(s, "-", "")
	if len(s) != 32 {
		return u, ErrBadUUID
	}
	if _, err := hex.Decode(u[:], []byte(s)); err != nil {
		return u, ErrBadUUID
	}
	return u, nil
}

// Command is a ZRE command id.
type Command uint8

// The commands of Zyre 2.x. 1 to 7 are RFC 36; 8 to 10 are Zyre extensions.
const (
	CmdHello   Command = 1
	CmdWhisper Command = 2
	CmdShout   Command = 3
	CmdJoin    Command = 4
	CmdLeave   Command = 5
	CmdPing    Command = 6
	CmdPingOK  Command = 7
	CmdElect   Command = 8
	CmdLeader  Command = 9
	CmdGoodbye Command = 10
)

// String returns the name RFC 36 and Zyre use ("HELLO", "PING-OK", ...).
func (c Command) String() string {
	switch c {
	case CmdHello:
		return "HELLO"
	case CmdWhisper:
		return "WHISPER"
	case CmdShout:
		return "SHOUT"
	case CmdJoin:
		return "JOIN"
	case CmdLeave:
		return "LEAVE"
	case CmdPing:
		return "PING"
	case CmdPingOK:
		return "PING-OK"
	case CmdElect:
		return "ELECT"
	case CmdLeader:
		return "LEADER"
	case CmdGoodbye:
		return "GOODBYE"
	}
	return "UNKNOWN(" + itoa(int(c)) + ")"
}

// itoa formats a command id or sequence number. (It once used a 4-byte
// buffer, which panicked on sequence numbers of five digits; see
// TestErrorTextFiveDigitSequence.)
func itoa(n int) string { return strconv.Itoa(n) }

// Header is one HELLO header (key at most 255 bytes, value a long string).
// HELLO keeps headers as an ordered list so that a parsed message re-encodes
// to the identical bytes; C Zyre writes them in hash order, so compare them
// as a set.
type Header struct {
	Key, Value string
}

// Message is one ZRE command. The concrete types are *Hello, *Whisper,
// *Shout, *Join, *Leave, *Ping, *PingOK, *Elect, *Leader and *Goodbye.
type Message interface {
	// Command returns the command id.
	Command() Command
	// Seq returns the sequence number.
	Seq() uint16
	// SetSeq sets the sequence number (the sender stamps it per peer).
	SetSeq(uint16)
	// Len returns the encoded length of frame 0.
	Len() int
	// Append appends frame 0 to b. It fails only when a field does not fit
	// its wire encoding (a short string over 255 bytes).
	Append(b []byte) ([]byte, error)
}

// Hello introduces a node to a peer; it must carry sequence 1.
type Hello struct {
	Sequence uint16
	Endpoint string   // the sender's mailbox, e.g. "tcp://192.168.1.5:49152"
	Groups   []string // groups the sender is in
	Status   uint8    // the sender's group status counter
	Name     string   // the sender's name
	Headers  []Header // the sender's headers, in wire order
}

// Whisper sends content frames to one peer.
type Whisper struct {
	Sequence uint16
	Content  [][]byte // frames 1..n
}

// Shout sends content frames to a group.
type Shout struct {
	Sequence uint16
	Group    string
	Content  [][]byte // frames 1..n
}

// Join announces that the sender joined a group.
type Join struct {
	Sequence uint16
	Group    string
	Status   uint8
}

// Leave announces that the sender left a group.
type Leave struct {
	Sequence uint16
	Group    string
	Status   uint8
}

// Ping asks a peer to show it is alive.
type Ping struct{ Sequence uint16 }

// PingOK answers a Ping.
type PingOK struct{ Sequence uint16 }

// Elect carries a leader-election challenge (Zyre extension).
type Elect struct {
	Sequence   uint16
	Group      string
	Challenger string // 32 upper-case hex digits
}

// Leader announces an elected leader (Zyre extension).
type Leader struct {
	Sequence uint16
	Group    string
	LeaderID string // 32 upper-case hex digits
}

// Goodbye announces that the sender is leaving (Zyre extension).
type Goodbye struct{ Sequence uint16 }

// Command returns CmdHello.
func (*Hello) Command() Command { return CmdHello }

// Command returns CmdWhisper.
func (*Whisper) Command() Command { return CmdWhisper }

// Command returns CmdShout.
func (*Shout) Command() Command { return CmdShout }

// Command returns CmdJoin.
func (*Join) Command() Command { return CmdJoin }

// Command returns CmdLeave.
func (*Leave) Command() Command { return CmdLeave }

// Command returns CmdPing.
func (*Ping) Command() Command { return CmdPing }

// Command returns CmdPingOK.
func (*PingOK) Command() Command { return CmdPingOK }

// Command returns CmdElect.
func (*Elect) Command() Command { return CmdElect }

// Command returns CmdLeader.
func (*Leader) Command() Command { return CmdLeader }

// Command returns CmdGoodbye.
func (*Goodbye) Command() Command { return CmdGoodbye }

// Seq returns the sequence number.
func (m *Hello) Seq() uint16 { return m.Sequence }

// Seq returns the sequence number.
func (m *Whisper) Seq() uint16 { return m.Sequence }

// Seq returns the sequence number.
func (m *Shout) Seq() uint16 { return m.Sequence }

// Seq returns the sequence number.
func (m *Join) Seq() uint16 { return m.Sequence }

// Seq returns the sequence number.
func (m *Leave) Seq() uint16 { return m.Sequence }

// Seq returns the sequence number.
func (m *Ping) Seq() uint16 { return m.Sequence }

// Seq returns the sequence number.
func (m *PingOK) Seq() uint16 { return m.Sequence }

// Seq returns the sequence number.
func (m *Elect) Seq() uint16 { return m.Sequence }

// Seq returns the sequence number.
func (m *Leader) Seq() uint16 { return m.Sequence }

// Seq returns the sequence number.
func (m *Goodbye) Seq() uint16 { return m.Sequence }

// SetSeq sets the sequence number.
func (m *Hello) SetSeq(s uint16) { m.Sequence = s }

// SetSeq sets the sequence number.
func (m *Whisper) SetSeq(s uint16) { m.Sequence = s }

// SetSeq sets the sequence number.
func (m *Shout) SetSeq(s uint16) { m.Sequence = s }

// SetSeq sets the sequence number.
func (m *Join) SetSeq(s uint16) { m.Sequence = s }

// SetSeq sets the sequence number.
func (m *Leave) SetSeq(s uint16) { m.Sequence = s }

// SetSeq sets the sequence number.
func (m *Ping) SetSeq(s uint16) { m.Sequence = s }

// SetSeq sets the sequence number.
func (m *PingOK) SetSeq(s uint16) { m.Sequence = s }

// SetSeq sets the sequence number.
func (m *Elect) SetSeq(s uint16) { m.Sequence = s }

// SetSeq sets the sequence number.
func (m *Leader) SetSeq(s uint16) { m.Sequence = s }

// SetSeq sets the sequence number.
func (m *Goodbye) SetSeq(s uint16) { m.Sequence = s }

// ContentOf returns the content frames of a Whisper or Shout, nil otherwise.
func ContentOf(m Message) [][]byte {
	switch m := m.(type) {
	case *Whisper:
		return m.Content
	case *Shout:
		return m.Content
	}
	return nil
}

// Sentinel errors; match them with errors.Is.
var (
	ErrTruncated      = errors.New("zre: message truncated")            // also matches io.ErrUnexpectedEOF
	ErrBadSignature   = errors.New("zre: bad signature")                // frame 0 does not start AA A1
	ErrBadVersion     = errors.New("zre: unsupported protocol version") // version byte is not 2
	ErrUnknownCommand = errors.New("zre: unknown command id")           // id outside 1..10
	ErrTrailingBytes  = errors.New("zre: trailing bytes after message") // frame 0 longer than its fields
	ErrStringTooLong  = errors.New("zre: string longer than 255 bytes") // encode: short string too long
	ErrTooManyItems   = errors.New("zre: list longer than the message") // a count that cannot fit the bytes left; such errors also match ErrTruncated
	ErrNoContent      = errors.New("zre: content frames on a command that has none")
)

// Error describes a malformed message whose 6-byte header was readable: it
// carries the command id and sequence number so the receiver can account
// for the sequence. Unwrap returns the sentinel.
type Error struct {
	Command  Command
	Sequence uint16
	Err      error
}

// Error returns the sentinel text followed by the command and sequence.
func (e *Error) Error() string {
	return e.Err.Error() + " (" + e.Command.String() + " seq " + itoa(int(e.Sequence)) + ")"
}

// Unwrap returns the sentinel (or the wrapped sentinels) describing the problem.
func (e *Error) Unwrap() error { return e.Err }
