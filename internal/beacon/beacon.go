// Package beacon encodes and parses ZRE UDP discovery beacons: the 22-byte
// version 1 beacon of RFC 36 and the 54-byte version 3 beacon of RFC 43
// that carries a CURVE public key.
package beacon

import "github.com/gozyre/zyre/internal/zre"

// Beacon sizes and the default UDP port.
const (
	SizeV1      = 22
	SizeV3      = 54
	DefaultPort = 5670
)

// Beacon is one discovery datagram.
type Beacon struct {
	Version   uint8    // 1 or 3
	ID        zre.UUID // sender's node UUID
	Port      uint16   // sender's mailbox port; 0 means "leaving"
	PublicKey [32]byte // raw Curve25519 key, version 3 only
}
