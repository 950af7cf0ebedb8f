package zyre

import (
	"errors"

	"github.com/gozyre/zyre/internal/zre"
)

// PeerID is a node's identity: a random 16-byte UUID chosen at New.
type PeerID [16]byte

// String returns the 32-character upper-case hex form, as C Zyre prints it.
func (id PeerID) String() string { return zre.UUID(id).String() }

// Short returns the first 6 hex characters, C Zyre's default node name.
func (id PeerID) Short() string { return id.String()[:6] }

// IsZero reports whether id is the zero value.
func (id PeerID) IsZero() bool { return id == PeerID{} }

// MarshalText implements encoding.TextMarshaler (the String form).
func (id PeerID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts what
// ParsePeerID accepts.
func (id *PeerID) UnmarshalText(b []byte) error {
	p, err := ParsePeerID(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}

// ErrBadPeerID is returned by ParsePeerID for malformed input.
var ErrBadPeerID = errors.New("zyre: peer ID must be 32 hex digits")

// ParsePeerID parses the 32 hex digit form (either case; dashes ignored).
func ParsePeerID(s string) (PeerID, error) {
	u, err := zre.ParseUUID(s)
	if err != nil {
		return PeerID{}, ErrBadPeerID
	}
	return PeerID(u), nil
}

// PeerInfo is a snapshot of what this node knows about a peer.
type PeerInfo struct {
	ID       PeerID
	Name     string
	Endpoint string            // the peer's mailbox, e.g. "tcp://192.168.1.7:49152"
	Headers  map[string]string // from the peer's HELLO
	Groups   []string          // groups the peer is in, sorted
}
