package zmtp

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// Property names ZRE relies on.
const (
	PropSocketType = "Socket-Type"
	PropIdentity   = "Identity"
)

// Property is one metadata property of a READY (or CURVE INITIATE/READY)
// command.
type Property struct {
	Name  string // 1 to 255 bytes; compared case-insensitively
	Value []byte // up to 2^32-1 bytes
}

// Metadata is an ordered list of properties. Order is kept so that parsed
// metadata re-encodes byte for byte.
type Metadata []Property

// Get returns the value of the first property called name (compared
// case-insensitively, as RFC 37 requires).
func (m Metadata) Get(name string) ([]byte, bool) {
	for _, p := range m {
		if strings.EqualFold(p.Name, name) {
			return p.Value, true
		}
	}
	return nil, false
}

// Len returns the encoded size of m.
func (m Metadata) Len() int {
	n := 0
	for _, p := range m {
		n += 1 + len(p.Name) + 4 + len(p.Value)
	}
	return n
}

// AppendMetadata appends the wire form of m to b: for each property a u8
// name length, the name, a u32 big-endian value length and the value.
func AppendMetadata(b []byte, m Metadata) ([]byte, error) {
	for _, p := range m {
		if len(p.Name) == 0 || len(p.Name) > 255 {
			return b, fmt.Errorf("%w: property name %q must be 1 to 255 bytes", ErrBadMetadata, p.Name)
		}
		if uint64(len(p.Value)) > math.MaxUint32 {
			return b, fmt.Errorf("%w: property %q value too long", ErrBadMetadata, p.Name)
		}
		b = append(b, byte(len(p.Name)))
		b = append(b, p.Name...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(p.Value)))
		b = append(b, p.Value...)
	}
	return b, nil
}

// ParseMetadata parses a metadata block (the data of a READY command).
// Values alias b. Input that ends inside a property fails with an error
// matching io.ErrUnexpectedEOF; an empty name fails with ErrBadMetadata.
func ParseMetadata(b []byte) (Metadata, error) {
	var m Metadata
	for len(b) > 0 {
		n := int(b[0])
		if n == 0 {
			return nil, fmt.Errorf("%w: empty property name", ErrBadMetadata)
		}
		if len(b) < 1+n+4 {
			return nil, fmt.Errorf("%w: %w", ErrBadMetadata, ErrTruncated)
		}
		name := string(b[1 : 1+n])
		b = b[1+n:]
		vl := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(len(b)) < uint64(vl) {
			return nil, fmt.Errorf("%w: property %q: %w", ErrBadMetadata, name, ErrTruncated)
		}
		m = append(m, Property{Name: name, Value: b[:vl:vl]})
		b = b[vl:]
	}
	return m, nil
}
