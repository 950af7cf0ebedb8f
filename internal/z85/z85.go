// Package z85 implements Z85 (ZeroMQ RFC 32), the printable base-85
// encoding ZeroMQ uses for CURVE keys: every 4 bytes of binary data become
// 5 characters, so a 32-byte key becomes 40 characters. The alphabet has
// no quotes, backslash or space, so encoded keys can sit in configuration
// files and on command lines without escaping.
//
// The binary length must be a multiple of 4 and the text length a multiple
// of 5; there is no padding. Decoding is strict: characters outside the
// alphabet and groups whose value does not fit 32 bits are errors, so
// every string that decodes re-encodes to the same string.
package z85

import (
	"errors"
	"fmt"
)

// alphabet is the Z85 character set, in value order (RFC 32).
const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"

// decodeMap maps a byte to its value plus one; 0 marks a byte that is not
// in the alphabet.
var decodeMap = func() (m [256]byte) {
	for i := range len(alphabet) {
		m[alphabet[i]] = byte(i + 1)
	}
	return m
}()

// ErrLength reports input whose length is not a multiple of 4 (encoding)
// or 5 (decoding).
var ErrLength = errors.New("z85: bad length")

// CorruptInputError reports the offset of the first character (or of the
// start of the first 5-character group, for a group that overflows 32
// bits) that makes a string invalid Z85.
type CorruptInputError int64

// Error reports the offset of the bad input.
func (e CorruptInputError) Error() string {
	return fmt.Sprintf("z85: illegal data at input byte %d", int64(e))
}

// EncodedLen returns the length of the Z85 encoding of n bytes (n must be
// a multiple of 4).
func EncodedLen(n int) int { return n / 4 * 5 }

// DecodedLen returns the number of bytes n Z85 characters decode to (n
// must be a multiple of 5).
func DecodedLen(n int) int { return n / 5 * 4 }

// AppendEncode appends the Z85 encoding of src to dst. len(src) must be a
// multiple of 4.
func AppendEncode(dst, src []byte) ([]byte, error) {
	if len(src)%4 != 0 {
		return dst, fmt.Errorf("%w: %d bytes is not a multiple of 4", ErrLength, len(src))
	}
	for i := 0; i < len(src); i += 4 {
		v := uint32(src[i])<<24 | uint32(src[i+1])<<16 | uint32(src[i+2])<<8 | uint32(src[i+3])
		var g [5]byte
		for j := 4; j >= 0; j-- {
			g[j] = alphabet[v%85]
			v /= 85
		}
		dst = append(dst, g[:]...)
	}
	return dst, nil
}

// Encode returns the Z85 encoding of src. len(src) must be a multiple of 4.
func Encode(src []byte) (string, error) {
	b, err := AppendEncode(make([]byte, 0, EncodedLen(len(src))), src)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// AppendDecode appends the bytes s decodes to to dst. len(s) must be a
// multiple of 5; a character outside the alphabet, or a group whose value
// exceeds 2^32-1, fails with a CorruptInputError. On error dst is returned
// unchanged.
func AppendDecode(dst []byte, s string) ([]byte, error) {
	if len(s)%5 != 0 {
		return dst, fmt.Errorf("%w: %d characters is not a multiple of 5", ErrLength, len(s))
	}
	orig := len(dst)
	for i := 0; i < len(s); i += 5 {
		var v uint64
		for j := range 5 {
			d := decodeMap[s[i+j]]
			if d == 0 {
				return dst[:orig], CorruptInputError(i + j)
			}
			v = v*85 + uint64(d-1)
		}
		if v > 0xFFFFFFFF {
			return dst[:orig], CorruptInputError(i)
		}
		dst = append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return dst, nil
}

// Decode returns the bytes s decodes to. len(s) must be a multiple of 5.
func Decode(s string) ([]byte, error) {
	return AppendDecode(make([]byte, 0, DecodedLen(len(s))), s)
}
