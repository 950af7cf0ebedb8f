package curve

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"

	"github.com/gozyre/zyre/internal/z85"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
)

// KeySize is the size of a Curve25519 key in bytes.
const KeySize = 32

// KeyTextSize is the length of a key in Z85 text form.
const KeyTextSize = 40

// ErrKey reports a malformed key: wrong length or not Z85, or a public key
// that does not belong to the secret key next to it.
var ErrKey = errors.New("curve: invalid key")

// KeyPair is a long-term CURVE key pair. The zero value is not a valid key
// pair. Its String and GoString methods never print the secret key.
type KeyPair struct {
	Public [KeySize]byte // Curve25519 public key
	Secret [KeySize]byte // Curve25519 secret key
}

// GenerateKeyPair makes a new key pair from 32 bytes of rnd; nil rnd means
// crypto/rand.
func GenerateKeyPair(rnd io.Reader) (KeyPair, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	pub, sec, err := box.GenerateKey(rnd)
	if err != nil {
		return KeyPair{}, fmt.Errorf("curve: generating key pair: %w", err)
	}
	kp := KeyPair{Public: *pub, Secret: *sec}
	clear(sec[:])
	return kp, nil
}

// KeyPairFromSecret returns the key pair of a secret key (the public key
// is the X25519 base-point product, as libsodium computes it).
func KeyPairFromSecret(secret [KeySize]byte) KeyPair {
	kp := KeyPair{Secret: secret}
	curve25519.ScalarBaseMult(&kp.Public, &kp.Secret)
	return kp
}

// Validate reports whether kp is usable: the secret key is not all zero
// and the public key belongs to it.
func (kp KeyPair) Validate() error {
	if isZero(kp.Secret[:]) {
		return fmt.Errorf("%w: secret key is empty", ErrKey)
	}
	var pub [KeySize]byte
	curve25519.ScalarBaseMult(&pub, &kp.Secret)
	if subtle.ConstantTimeCompare(pub[:], kp.Public[:]) != 1 {
		return fmt.Errorf("%w: public key %s does not belong to the secret key", ErrKey, EncodeKey(kp.Public))
	}
	return nil
}

// PublicText returns the public key in Z85 (40 characters).
func (kp KeyPair) PublicText() string { return EncodeKey(kp.Public) }

// SecretText returns the secret key in Z85 (40 characters). Handle it
// with care.
func (kp KeyPair) SecretText() string { return EncodeKey(kp.Secret) }

// String returns the public key in Z85; the secret key is never printed.
func (kp KeyPair) String() string {
	return "KeyPair{Public: " + kp.PublicText() + ", Secret: <redacted>}"
}

// GoString is like String, so %#v does not print the secret key either.
func (kp KeyPair) GoString() string { return kp.String() }

// EncodeKey returns the Z85 text form (40 characters) of a key.
func EncodeKey(k [KeySize]byte) string {
	s, _ := z85.Encode(k[:]) // 32 is a multiple of 4
	return s
}

// ParseKey parses a key in Z85 text form (exactly 40 characters).
func ParseKey(s string) ([KeySize]byte, error) {
	var k [KeySize]byte
	if len(s) != KeyTextSize {
		return k, fmt.Errorf("%w: %d characters, want %d Z85 characters", ErrKey, len(s), KeyTextSize)
	}
	b, err := z85.Decode(s)
	if err != nil {
		return k, fmt.Errorf("%w: %w", ErrKey, err)
	}
	copy(k[:], b)
	return k, nil
}

// ParseKeyPair parses a key pair from Z85 text. An empty public key is
// computed from the secret key; otherwise it must belong to it.
func ParseKeyPair(publicText, secretText string) (KeyPair, error) {
	sec, err := ParseKey(secretText)
	if err != nil {
		return KeyPair{}, fmt.Errorf("secret key: %w", err)
	}
	kp := KeyPairFromSecret(sec)
	clear(sec[:])
	if publicText != "" {
		pub, err := ParseKey(publicText)
		if err != nil {
			return KeyPair{}, fmt.Errorf("public key: %w", err)
		}
		if pub != kp.Public {
			return KeyPair{}, fmt.Errorf("%w: public key %s does not belong to the secret key", ErrKey, publicText)
		}
	}
	if err := kp.Validate(); err != nil {
		return KeyPair{}, err
	}
	return kp, nil
}

func isZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}
