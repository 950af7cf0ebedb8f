package gossip

import (
	"io"
	"math"
	"strings"

	"github.com/gozyre/zyre/internal/zre"
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

// errTruncated is what Parse returns for a frame that ends before its
// fields do. It is a single value, so rejecting a short frame allocates
// nothing.
var errTruncated error = &wireError{ErrTruncated.Error(), []error{ErrTruncated, io.ErrUnexpectedEOF}}

// ---------------------------------------------------------------------------
// Encoding

func appendHeader(b []byte, c Command) []byte {
	return append(b, byte(Signature>>8), byte(Signature&0xFF), byte(c), Version)
}

func appendU32(b []byte, v uint32) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// Len returns HeaderSize.
func (*Hello) Len() int { return HeaderSize }

// Len returns HeaderSize.
func (*Ping) Len() int { return HeaderSize }

// Len returns HeaderSize.
func (*Pong) Len() int { return HeaderSize }

// Len returns HeaderSize.
func (*Invalid) Len() int { return HeaderSize }

// Len returns the encoded length: header, key, value and TTL.
func (p *Publish) Len() int { return HeaderSize + 1 + len(p.Key) + 4 + len(p.Value) + 4 }

// Append appends the 4-byte HELLO.
func (*Hello) Append(b []byte) ([]byte, error) { return appendHeader(b, CmdHello), nil }

// Append appends the 4-byte PING.
func (*Ping) Append(b []byte) ([]byte, error) { return appendHeader(b, CmdPing), nil }

// Append appends the 4-byte PONG.
func (*Pong) Append(b []byte) ([]byte, error) { return appendHeader(b, CmdPong), nil }

// Append appends the 4-byte INVALID.
func (*Invalid) Append(b []byte) ([]byte, error) { return appendHeader(b, CmdInvalid), nil }

// Append appends the PUBLISH. It fails, leaving b unchanged, when the key
// is longer than 255 bytes or the value longer than 2^32-1 bytes.
func (p *Publish) Append(b []byte) ([]byte, error) {
	if len(p.Key) > MaxKey {
		return b, ErrKeyTooLong
	}
	if uint64(len(p.Value)) > math.MaxUint32 {
		return b, ErrValueTooLong
	}
	if n := p.Len(); cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		b = nb
	}
	b = appendHeader(b, CmdPublish)
	b = append(append(b, byte(len(p.Key))), p.Key...)
	b = append(appendU32(b, uint32(len(p.Value))), p.Value...)
	return appendU32(b, p.TTL), nil
}

// ---------------------------------------------------------------------------
// Parsing

// PeekHeader checks the 4-byte header of frame and returns the command id.
// Checks run in wire order, so the error names the first bad byte: a wrong
// signature (even from the first byte alone), an id outside 1..5, then a
// version other than 1. A frame too short to decide matches ErrTruncated.
func PeekHeader(frame []byte) (Command, error) {
	switch {
	case len(frame) >= 1 && frame[0] != byte(Signature>>8),
		len(frame) >= 2 && frame[1] != byte(Signature&0xFF):
		return 0, ErrBadSignature
	case len(frame) < 3:
		return 0, errTruncated
	}
	c := Command(frame[2])
	if c < CmdHello || c > CmdInvalid {
		return c, ErrUnknownCommand
	}
	if len(frame) < 4 {
		return c, errTruncated
	}
	if frame[3] != Version {
		return c, ErrBadVersion
	}
	return c, nil
}

// Parse parses one ZGossip frame. The returned message does not alias
// frame. Parse never panics; a frame longer than its fields fails with
// ErrTrailingBytes (czmq would ignore the excess, but never sends any), so
// every message Parse accepts re-encodes to the identical bytes.
func Parse(frame []byte) (Message, error) {
	c, err := PeekHeader(frame)
	if err != nil {
		return nil, err
	}
	var m Message
	switch c {
	case CmdHello:
		m = &Hello{}
	case CmdPing:
		m = &Ping{}
	case CmdPong:
		m = &Pong{}
	case CmdInvalid:
		m = &Invalid{}
	case CmdPublish:
		return parsePublish(frame)
	}
	if len(frame) != HeaderSize {
		return nil, ErrTrailingBytes
	}
	return m, nil
}

func parsePublish(frame []byte) (Message, error) {
	b := frame[HeaderSize:]
	if len(b) < 1 {
		return nil, errTruncated
	}
	kl := int(b[0])
	if len(b) < 1+kl+4 {
		return nil, errTruncated
	}
	vo := 1 + kl + 4 // value offset in b
	vl := uint64(b[vo-4])<<24 | uint64(b[vo-3])<<16 | uint64(b[vo-2])<<8 | uint64(b[vo-1])
	if uint64(len(b)-vo) < vl+4 {
		return nil, errTruncated
	}
	end := vo + int(vl) + 4
	if len(b) != end {
		return nil, ErrTrailingBytes
	}
	// One allocation for key and value: both slice one string copy.
	s := string(b[1 : end-4])
	return &Publish{
		Key:   s[:kl],
		Value: s[kl+4:],
		TTL:   uint32(b[end-4])<<24 | uint32(b[end-3])<<16 | uint32(b[end-2])<<8 | uint32(b[end-1]),
	}, nil
}

// ParseFrames parses a ZMTP message that must hold exactly one frame, as
// every ZGossip command does. (A ROUTER's routing-id frame is a libzmq
// artefact that never crosses the wire, so a connection delivers the
// command frame alone.)
func ParseFrames(frames [][]byte) (Message, error) {
	if len(frames) != 1 {
		return nil, ErrFrameCount
	}
	return Parse(frames[0])
}

// ---------------------------------------------------------------------------
// Tuples

// ValidateTuple reports whether key and value can be published: a key of 1
// to 255 bytes and a non-empty value (the empty value means withdrawal).
func ValidateTuple(key, value string) error {
	if len(key) > MaxKey {
		return ErrKeyTooLong
	}
	if key == "" {
		return ErrBadTuple
	}
	if value == "" {
		return ErrEmptyValue
	}
	if uint64(len(value)) > math.MaxUint32 {
		return ErrValueTooLong
	}
	return nil
}

// NodeTuple returns the tuple C Zyre publishes for a node: the UUID as 32
// upper-case hex digits, and the endpoint, followed by "|" and the Z85
// public key in CURVE mode (publicKey non-empty).
func NodeTuple(id zre.UUID, endpoint, publicKey string) (key, value string) {
	if publicKey == "" {
		return id.String(), endpoint
	}
	return id.String(), endpoint + "|" + publicKey
}

// ParseNodeTuple splits a node tuple as C Zyre does: the key is a UUID,
// and the value is cut at the first "|" into the endpoint and the Z85
// public key (empty in NULL mode). It fails with ErrBadTuple for a key
// that is not a UUID or an empty endpoint (which includes a withdrawal).
func ParseNodeTuple(key, value string) (id zre.UUID, endpoint, publicKey string, err error) {
	id, err = zre.ParseUUID(key)
	if err != nil {
		return id, "", "", ErrBadTuple
	}
	endpoint, publicKey, _ = strings.Cut(value, "|")
	if endpoint == "" {
		return id, "", "", ErrBadTuple
	}
	return id, endpoint, publicKey, nil
}
