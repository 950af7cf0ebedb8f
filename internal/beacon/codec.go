package beacon

import "errors"

// Prefix is the protocol name every ZRE beacon starts with.
const Prefix = "ZRE"

// The beacon versions Zyre sends: 1 for plain nodes (RFC 36), 3 for nodes
// with a CURVE certificate (RFC 43 draft).
const (
	V1 uint8 = 1
	V3 uint8 = 3
)

// Errors returned by Parse; match them with errors.Is.
var (
	ErrBadSize    = errors.New("beacon: wrong size for its version")        // not 22 bytes (v1) or 54 bytes (v3)
	ErrBadPrefix  = errors.New(`beacon: does not start with "ZRE"`)         // some other protocol's datagram
	ErrBadVersion = errors.New("beacon: unsupported version (want 1 or 3)") // version byte other than 1 or 3
)

// Len returns the encoded size: SizeV3 for version 3, SizeV1 otherwise.
func (b *Beacon) Len() int {
	if b.Version == V3 {
		return SizeV3
	}
	return SizeV1
}

// Append appends the beacon to dst: "ZRE", the version byte, the 16 UUID
// bytes, the port big-endian and, for version 3 only, the 32-byte public
// key. The version byte is written as it is; set it to V1 or V3 (a beacon
// with any other version does not parse). Append allocates only when dst
// lacks capacity.
func (b *Beacon) Append(dst []byte) []byte {
	dst = append(dst, Prefix...)
	dst = append(dst, b.Version)
	dst = append(dst, b.ID[:]...)
	dst = append(dst, byte(b.Port>>8), byte(b.Port))
	if b.Version == V3 {
		dst = append(dst, b.PublicKey[:]...)
	}
	return dst
}

// Parse decodes one beacon datagram. It accepts exactly 22 bytes with
// version 1 and exactly 54 bytes with version 3, like Zyre, and never
// panics. A datagram that does not start with "ZRE" yields ErrBadPrefix (a
// datagram shorter than 4 bytes that could still be a prefix of a beacon
// yields ErrBadSize), an unknown version byte ErrBadVersion, and a size
// that does not match its version ErrBadSize.
func Parse(p []byte) (Beacon, error) {
	var b Beacon
	n := min(len(p), len(Prefix))
	if string(p[:n]) != Prefix[:n] {
		return b, ErrBadPrefix
	}
	if len(p) < len(Prefix)+1 {
		return b, ErrBadSize
	}
	b.Version = p[3]
	switch b.Version {
	case V1:
		if len(p) != SizeV1 {
			return Beacon{}, ErrBadSize
		}
	case V3:
		if len(p) != SizeV3 {
			return Beacon{}, ErrBadSize
		}
		copy(b.PublicKey[:], p[SizeV1:SizeV3])
	default:
		return Beacon{}, ErrBadVersion
	}
	copy(b.ID[:], p[4:20])
	b.Port = uint16(p[20])<<8 | uint16(p[21])
	return b, nil
}
