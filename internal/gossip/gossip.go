// Package gossip implements ZGossip, the tuple-gossip protocol of czmq's
// zgossip that C Zyre uses for discovery where UDP beacons cannot reach
// (across subnets, through NAT with an advertised endpoint), and a sans-IO
// engine that plays both of its roles: the server (hub) that clients
// connect to, and the client of one or more remote servers.
//
// # Wire format
//
// Each command is one ZMTP frame: the signature 0xAA 0xA0, the command id,
// the protocol version 1, then the command's fields (czmq zgossip_msg.xml):
//
//	id  command  fields
//	1   HELLO    -
//	2   PUBLISH  key (u8 length + bytes), value (u32 BE length + bytes), ttl (u32 BE, ms)
//	3   PING     -
//	4   PONG     -
//	5   INVALID  -
//
// There is no UNPUBLISH command on the wire: czmq's draft UNPUBLISH is a
// command of the zgossip actor API that deletes a tuple locally and sends
// nothing. Parse rejects ids outside 1..5.
//
// # TTL and withdrawal
//
// czmq never sets the TTL field: the captures in shared/vectors/gossip show
// ttl = 0 on every PUBLISH, including tuples a czmq hub relays on behalf of
// other nodes. TTL 0 therefore cannot mean "withdraw" without breaking every
// czmq peer; this package gives it czmq's meaning, "no expiry". A withdrawal
// is a PUBLISH with an empty value (and TTL 0), see Withdrawal; an empty
// value is never a valid endpoint, so nothing else is lost. czmq stores and
// relays such a tuple like any other value change (and keeps it, as it
// keeps every tuple), so it crosses czmq hubs to the Go nodes behind them.
// A C Zyre node that receives it for a UUID it already knows does nothing
// (zyre_node_require_peer acts only on new UUIDs); for a UUID it never saw
// it would create a peer whose connect to "" fails, a ghost that its
// expiry timer removes [inferred from zyre_node.c, not seen running]. See
// Engine for how TTLs are honoured.
//
// # Codec
//
// Encoding appends to a caller's buffer (Append(buf[:0])) and does not
// allocate. Parse never panics: malformed input yields an error matching one
// of the sentinel errors below with errors.Is. A parsed message re-encodes
// to the identical bytes.
package gossip

import (
	"errors"
	"strconv"
	"time"
)

// Wire constants of ZGossip.
const (
	Signature  uint16 = 0xAAA0 // first two bytes of every command (0xAAA0 | 0)
	Version    uint8  = 1      // the only protocol version
	HeaderSize        = 4      // signature, command id, version
	MaxKey            = 255    // longest key (a short string)
)

// Command is a ZGossip command id.
type Command uint8

// The ZGossip commands.
const (
	CmdHello   Command = 1
	CmdPublish Command = 2
	CmdPing    Command = 3
	CmdPong    Command = 4
	CmdInvalid Command = 5
)

// String returns the name czmq uses ("HELLO", "PUBLISH", ...).
func (c Command) String() string {
	switch c {
	case CmdHello:
		return "HELLO"
	case CmdPublish:
		return "PUBLISH"
	case CmdPing:
		return "PING"
	case CmdPong:
		return "PONG"
	case CmdInvalid:
		return "INVALID"
	}
	return "UNKNOWN(" + strconv.Itoa(int(c)) + ")"
}

// Message is one ZGossip command. The concrete types are *Hello, *Publish,
// *Ping, *Pong and *Invalid.
type Message interface {
	// Command returns the command id.
	Command() Command
	// Len returns the encoded length.
	Len() int
	// Append appends the encoded command to b. It fails only when a field
	// does not fit its wire encoding (a key over 255 bytes).
	Append(b []byte) ([]byte, error)
}

// Hello opens a client session; the server answers with every tuple it
// holds.
type Hello struct{}

// Publish announces a tuple (client to server or server to client).
//
// An empty Value is a withdrawal of Key (see the package documentation).
// TTL is in milliseconds; 0 means "no expiry", which is what czmq always
// sends.
type Publish struct {
	Key   string // at most 255 bytes; for Zyre the node UUID as 32 upper-case hex digits
	Value string // for Zyre the mailbox endpoint, or "endpoint|Z85 public key" in CURVE mode
	TTL   uint32 // time to live in ms; 0: none
}

// Ping is a client's liveness signal.
type Ping struct{}

// Pong answers a Ping. It is not correlated with a Ping: any traffic from
// the server counts as activity.
type Pong struct{}

// Invalid tells a client that the server rejected a command; the client
// answers with a new HELLO (and, here, republishes its tuples).
type Invalid struct{}

// Command returns CmdHello.
func (*Hello) Command() Command { return CmdHello }

// Command returns CmdPublish.
func (*Publish) Command() Command { return CmdPublish }

// Command returns CmdPing.
func (*Ping) Command() Command { return CmdPing }

// Command returns CmdPong.
func (*Pong) Command() Command { return CmdPong }

// Command returns CmdInvalid.
func (*Invalid) Command() Command { return CmdInvalid }

// IsWithdrawal reports whether p withdraws its key (an empty value).
func (p *Publish) IsWithdrawal() bool { return p.Value == "" }

// TTLDuration returns the TTL as a duration (0: no expiry).
func (p *Publish) TTLDuration() time.Duration { return time.Duration(p.TTL) * time.Millisecond }

// Withdrawal returns the PUBLISH that withdraws key: an empty value and
// TTL 0.
func Withdrawal(key string) *Publish { return &Publish{Key: key} }

// Sentinel errors; match them with errors.Is.
var (
	ErrTruncated      = errors.New("gossip: message truncated")                     // also matches io.ErrUnexpectedEOF
	ErrBadSignature   = errors.New("gossip: bad signature")                         // the frame does not start AA A0
	ErrBadVersion     = errors.New("gossip: unsupported protocol version")          // the version byte is not 1
	ErrUnknownCommand = errors.New("gossip: unknown command id")                    // id outside 1..5
	ErrTrailingBytes  = errors.New("gossip: trailing bytes after message")          // the frame is longer than its fields
	ErrKeyTooLong     = errors.New("gossip: key longer than 255 bytes")             // encode: the key does not fit its u8 length
	ErrValueTooLong   = errors.New("gossip: value longer than 2^32-1 bytes")        // encode: the value does not fit its u32 length
	ErrFrameCount     = errors.New("gossip: message is not exactly one frame")      // ParseFrames: zero or several frames
	ErrBadTuple       = errors.New("gossip: not a Zyre node tuple")                 // ParseNodeTuple
	ErrEmptyValue     = errors.New("gossip: empty value (reserved for withdrawal)") // ValidateTuple
)
