package zmtp

import (
	"encoding/binary"
	"fmt"
)

// Greeting sizes and offsets (RFC 23/37 section "Greeting").
const (
	// GreetingSize is the length of a ZMTP 3.x greeting.
	GreetingSize = 64
	// SignatureSize is the length of the greeting's signature part
	// (0xFF, 8 padding bytes, 0x7F). libzmq sends it first and waits for
	// the peer's signature before sending the rest.
	SignatureSize = 10
	// MechanismSize is the width of the NUL-padded mechanism field.
	MechanismSize = 20

	offMajor     = 10
	offMinor     = 11
	offMechanism = 12
	offAsServer  = 32
	offFiller    = 33
)

// Greeting is a ZMTP 3.x greeting.
type Greeting struct {
	// Padding is signature bytes 1 to 8 read as a big-endian integer.
	// The RFC calls it padding and peers must ignore it; libzmq puts
	// identity length + 1 there (a ZMTP 1.0 habit), and Conn does the same.
	Padding uint64
	// Major and Minor are the protocol version: 3.1 when we send; 3.0
	// peers (minor 0) get no heartbeats.
	Major, Minor uint8
	// Mechanism is the security mechanism name: "NULL", "PLAIN", "CURVE".
	Mechanism string
	// AsServer is the as-server flag (0 for NULL).
	AsServer bool
}

// Append appends the 64-byte encoding of g to b. It fails if the
// mechanism name is empty, longer than 20 bytes or contains NUL.
func (g *Greeting) Append(b []byte) ([]byte, error) {
	if err := checkMechanismName(g.Mechanism); err != nil {
		return b, err
	}
	b = append(b, 0xFF)
	b = binary.BigEndian.AppendUint64(b, g.Padding)
	b = append(b, 0x7F, g.Major, g.Minor)
	b = append(b, g.Mechanism...)
	for range MechanismSize - len(g.Mechanism) {
		b = append(b, 0)
	}
	as := byte(0)
	if g.AsServer {
		as = 1
	}
	b = append(b, as)
	var filler [GreetingSize - offFiller]byte
	return append(b, filler[:]...), nil
}

func checkMechanismName(name string) error {
	if name == "" || len(name) > MechanismSize {
		return fmt.Errorf("%w: mechanism name %q must be 1 to %d bytes", ErrBadGreeting, name, MechanismSize)
	}
	for i := range len(name) {
		if c := name[i]; c <= 0x20 || c >= 0x7F {
			return fmt.Errorf("%w: mechanism name %q must be printable ASCII", ErrBadGreeting, name)
		}
	}
	return nil
}

// checkSignature validates the first 10 bytes of a greeting. b must hold
// at least SignatureSize bytes.
func checkSignature(b []byte) error {
	if b[0] != 0xFF || b[9] != 0x7F {
		return fmt.Errorf("%w: % x", ErrBadSignature, b[:SignatureSize])
	}
	return nil
}

// checkVersion validates the major version byte.
func checkVersion(major, minor byte) error {
	if major < 3 {
		return fmt.Errorf("%w: %d.%d (need 3.0 or later)", ErrVersion, major, minor)
	}
	return nil
}

// ParseGreeting parses a greeting from the start of b and returns it with
// the number of bytes consumed (always GreetingSize on success).
//
// Any padding value is accepted, and so is any version from 3.0 up. The
// mechanism must be printable ASCII padded with NULs. The 31 filler bytes
// are ignored and any non-zero as-server byte counts as true, so
// re-encoding gives the canonical form (zero filler, as-server 0 or 1).
// Short input fails with an error matching io.ErrUnexpectedEOF.
func ParseGreeting(b []byte) (Greeting, int, error) {
	var g Greeting
	if len(b) < SignatureSize {
		if len(b) > 0 && b[0] != 0xFF {
			return g, 0, fmt.Errorf("%w: first byte %#02x", ErrBadSignature, b[0])
		}
		return g, 0, ErrTruncated
	}
	if err := checkSignature(b); err != nil {
		return g, 0, err
	}
	if len(b) < offMinor+1 {
		if len(b) > offMajor {
			if err := checkVersion(b[offMajor], 0); err != nil {
				return g, 0, err
			}
		}
		return g, 0, ErrTruncated
	}
	if err := checkVersion(b[offMajor], b[offMinor]); err != nil {
		return g, 0, err
	}
	if len(b) < GreetingSize {
		return g, 0, ErrTruncated
	}
	g.Padding = binary.BigEndian.Uint64(b[1:9])
	g.Major, g.Minor = b[offMajor], b[offMinor]
	mech := b[offMechanism : offMechanism+MechanismSize]
	n := 0
	for n < len(mech) && mech[n] != 0 {
		n++
	}
	for _, c := range mech[n:] {
		if c != 0 {
			return Greeting{}, 0, fmt.Errorf("%w: mechanism field % x is not NUL-padded", ErrBadGreeting, mech)
		}
	}
	g.Mechanism = string(mech[:n])
	if err := checkMechanismName(g.Mechanism); err != nil {
		return Greeting{}, 0, err
	}
	g.AsServer = b[offAsServer] != 0
	return g, GreetingSize, nil
}

// SupportsHeartbeat reports whether the peer speaks ZMTP 3.1 or later and
// so understands PING and PONG.
func (g *Greeting) SupportsHeartbeat() bool {
	return g.Major > 3 || (g.Major == 3 && g.Minor >= 1)
}
