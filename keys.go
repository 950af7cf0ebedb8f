package zyre

import (
	"crypto/rand"
	"fmt"

	"github.com/gozyre/zyre/internal/zmtp/curve"
)

// PublicKey is a CURVE (Curve25519) public key. Its String form is the
// 40-character Z85 text C Zyre sends in the X-PUBLICKEY header.
type PublicKey [32]byte

// String returns the Z85 text form.
func (k PublicKey) String() string { return curve.EncodeKey(k) }

// MarshalText implements encoding.TextMarshaler (Z85).
func (k PublicKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (Z85).
func (k *PublicKey) UnmarshalText(b []byte) error {
	p, err := ParsePublicKey(string(b))
	if err == nil {
		*k = p
	}
	return err
}

// ParsePublicKey parses the 40-character Z85 form of a public key.
func ParsePublicKey(s string) (PublicKey, error) {
	k, err := curve.ParseKey(s)
	if err != nil {
		return PublicKey{}, fmt.Errorf("zyre: public key: %w", err)
	}
	return PublicKey(k), nil
}

// KeyPair is a node's long-term CURVE key pair. Setting Config.Curve turns
// on CURVE mode: encrypted connections, 54-byte v3 beacons that carry the
// public key, and the X-PUBLICKEY header, as C Zyre does.
type KeyPair struct {
	Public PublicKey
	Secret [32]byte
}

// String shows the public key only; the secret never reaches logs.
func (k KeyPair) String() string { return "KeyPair{Public: " + k.Public.String() + "}" }

// GoString shows the public key only.
func (k KeyPair) GoString() string { return k.String() }

// GenerateKeyPair makes a new random key pair.
func GenerateKeyPair() (KeyPair, error) {
	kp, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		return KeyPair{}, fmt.Errorf("zyre: %w", err)
	}
	return KeyPair{Public: kp.Public, Secret: kp.Secret}, nil
}

// ParseKeyPair parses the Z85 forms of a public and a secret key and
// checks that they belong together.
func ParseKeyPair(public, secret string) (KeyPair, error) {
	kp, err := curve.ParseKeyPair(public, secret)
	if err != nil {
		return KeyPair{}, fmt.Errorf("zyre: %w", err)
	}
	return KeyPair{Public: kp.Public, Secret: kp.Secret}, nil
}

// LoadCertificate reads a czmq zcert certificate (the "path_secret" file
// if there is one, else "path"), so existing Zyre deployments can reuse
// their keys. A public-only certificate gives a KeyPair with a zero Secret.
func LoadCertificate(path string) (KeyPair, error) {
	c, err := curve.LoadCertificate(path)
	if err != nil {
		return KeyPair{}, fmt.Errorf("zyre: %w", err)
	}
	return KeyPair{Public: c.Key.Public, Secret: c.Key.Secret}, nil
}

// SaveCertificate writes a czmq zcert certificate pair: the public file at
// path and the secret file at path+"_secret" (mode 0600).
func SaveCertificate(path string, k KeyPair) error {
	c := curve.NewCertificate(k.internal())
	if err := c.Save(path); err != nil {
		return fmt.Errorf("zyre: %w", err)
	}
	return nil
}

func (k KeyPair) internal() curve.KeyPair {
	return curve.KeyPair{Public: k.Public, Secret: k.Secret}
}
