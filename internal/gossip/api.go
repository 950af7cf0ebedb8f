package gossip

import (
	"log/slog"
	"time"
)

// Defaults of the engine's timers.
const (
	// DefaultTTL is the TTL our own tuples carry: C Zyre's peer expiry time.
	DefaultTTL = 30 * time.Second
	// DefaultPingInterval is below czmq's 1 s server-side client timeout,
	// so a czmq hub keeps our session while we are idle.
	DefaultPingInterval = 500 * time.Millisecond
)

// Never is what NextDeadline returns when no timer is pending. It lies so
// far in the future that time.Until saturates.
var Never = time.Unix(1<<62, 0)

// ConnID names one connection. The owner assigns it, unique among the
// engine's live connections (inbound clients and outbound remotes share
// one space); it may be reused after ConnDown or Close.
type ConnID uint64

// Config is the engine's configuration. Zero fields take the defaults
// given with them.
type Config struct {
	// TTL is the TTL our own tuples carry (default DefaultTTL). It is
	// sent in milliseconds, rounded up, at most 2^32-1 ms.
	TTL time.Duration
	// RepublishInterval is how often our own tuples are re-sent to every
	// remote and client to keep them alive (default TTL/3).
	RepublishInterval time.Duration
	// PingInterval is the silence on an outbound connection after which we
	// send PING (default DefaultPingInterval).
	PingInterval time.Duration
	// RemoteTimeout is the silence from a remote server after which its
	// connection is closed, so that the owner reconnects (default
	// 10*PingInterval; negative: never).
	RemoteTimeout time.Duration
	// ClientTimeout is the silence from a client after which its
	// connection is closed (default and 0: never). czmq clients never
	// PING, so a positive value makes them reconnect, HELLO and resend
	// their tuples each time it runs out.
	ClientTimeout time.Duration
	// TombstoneHold is how long a withdrawn tuple's value stays blocked,
	// so that a copy still travelling another path does not bring it back
	// (default TTL).
	TombstoneHold time.Duration
	// MaxTuples bounds the learned tuples (default 65536); PUBLISH of a
	// new key beyond it is dropped and counted.
	MaxTuples int

	Logger *slog.Logger // nil: discard
}

// Input is something that happened: a connection, a message, a timer, a
// command.
type Input interface{ isInput() }

// ClientUp reports a new inbound connection on our server (a client).
// The session starts when the client sends HELLO.
type ClientUp struct{ Conn ConnID }

// RemoteUp reports that our outbound connection to a remote server is
// ready (handshake done), including after a reconnect: the engine sends
// HELLO followed by every tuple it holds.
type RemoteUp struct{ Conn ConnID }

// ConnDown reports that a connection closed or failed.
type ConnDown struct {
	Conn ConnID
	Err  error
}

// MessageIn is a parsed command received on Conn.
type MessageIn struct {
	Conn ConnID
	Msg  Message
}

// BadMessage reports frames received on Conn that did not parse.
type BadMessage struct {
	Conn ConnID
	Err  error
}

// PublishOwn publishes (or changes) one of our own tuples. It is stored,
// never expires locally, goes to every remote and client at once and is
// republished every RepublishInterval with TTL. An invalid tuple (see
// ValidateTuple) is ignored and counted.
type PublishOwn struct{ Key, Value string }

// WithdrawOwn withdraws one of our own tuples: a withdrawal goes to every
// remote and client. Unknown keys are ignored.
type WithdrawOwn struct{ Key string }

// Tick tells the engine time has passed (NextDeadline reached).
type Tick struct{}

// Stop withdraws every own tuple and closes every connection. The engine
// ignores inputs after it.
type Stop struct{}

func (ClientUp) isInput()    {}
func (RemoteUp) isInput()    {}
func (ConnDown) isInput()    {}
func (MessageIn) isInput()   {}
func (BadMessage) isInput()  {}
func (PublishOwn) isInput()  {}
func (WithdrawOwn) isInput() {}
func (Tick) isInput()        {}
func (Stop) isInput()        {}

// Output is something the owner must do.
type Output interface{ isOutput() }

// Send queues Msg on Conn. One Msg value may be shared by several Sends:
// treat it as read-only.
type Send struct {
	Conn ConnID
	Msg  Message
}

// Deliver reports a tuple learned from the network, new or with a changed
// value; never one of our own. The node turns a node tuple (see
// ParseNodeTuple) into a peer, unless the endpoint is its own.
type Deliver struct{ Key, Value string }

// Expire reports that a learned tuple is gone: its TTL ran out, or it was
// withdrawn (Withdrawn). The node may drop the peer once it stops
// answering; gossip alone does not prove a peer dead.
type Expire struct {
	Key, Value string
	Withdrawn  bool
}

// Close asks the owner to close Conn after flushing the Sends queued on it.
// The engine has already forgotten the connection; a later ConnDown for it
// is ignored.
type Close struct {
	Conn   ConnID
	Reason string
}

func (Send) isOutput()    {}
func (Deliver) isOutput() {}
func (Expire) isOutput()  {}
func (Close) isOutput()   {}

// Tuple is a snapshot of one stored tuple.
type Tuple struct {
	Key, Value string
	Own        bool
	Expires    time.Time // zero: never (own tuples, and TTL 0 from czmq peers)
}

// Counters are the engine's monotonic counters.
type Counters struct {
	Delivered        uint64 // Deliver outputs
	Expired          uint64 // tuples removed because their TTL ran out
	Withdrawn        uint64 // tuples removed by a withdrawal
	Duplicates       uint64 // PUBLISH of a known key and value that was not forwarded
	Refreshes        uint64 // duplicates that extended a TTL far enough to be forwarded
	Tombstoned       uint64 // PUBLISH dropped because the tuple was withdrawn recently
	StoreFull        uint64 // new keys dropped at MaxTuples
	OwnKeyConflicts  uint64 // PUBLISH from the network for one of our own keys (ignored)
	BadMessages      uint64 // frames that did not parse
	Unexpected       uint64 // well-formed commands out of place (PONG from a client, HELLO from a server, ...)
	InvalidSent      uint64 // INVALID replies
	InvalidReceived  uint64 // INVALID from a server (or, ignored, from a client)
	ReHellos         uint64 // re-HELLOs sent after INVALID
	UnknownConn      uint64 // input for a connection the engine does not know
	BadOwnTuples     uint64 // PublishOwn that failed ValidateTuple
	ClosedForSilence uint64 // connections closed by RemoteTimeout or ClientTimeout
}
