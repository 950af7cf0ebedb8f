package curve

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/gozyre/zyre/internal/zmtp"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
)

// MechanismName is the mechanism name both peers put in their greeting.
const MechanismName = "CURVE"

// Command names of the CURVE handshake (RFC 26 section "Commands").
const (
	CommandHello    = "HELLO"    // client: C' and a signature box
	CommandWelcome  = "WELCOME"  // server: S' and the cookie
	CommandInitiate = "INITIATE" // client: cookie, C, vouch, metadata
	CommandReady    = "READY"    // server: metadata
	CommandMessage  = "MESSAGE"  // either side, after the handshake: one boxed frame
)

// Sizes of the handshake commands' data (after the command name).
const (
	helloDataSize   = 2 + helloPadding + 32 + 8 + 64 + box.Overhead // 194
	helloPadding    = 72                                            // anti-amplification padding, as libzmq sends
	welcomeDataSize = 16 + 32 + cookieSize + box.Overhead           // 160
	cookieSize      = 16 + 64 + box.Overhead                        // 96
	vouchSize       = 16 + 64 + box.Overhead                        // 96
	// INITIATE: cookie, short nonce, box of C + vouch + metadata.
	minInitiateDataSize = cookieSize + 8 + box.Overhead + 32 + vouchSize // 248
	// READY: short nonce, box of metadata.
	minReadyDataSize = 8 + box.Overhead // 24

	// errorUnauthorized is the ERROR reason a server sends when it
	// refuses a client's key: the ZAP status code libzmq sends, which
	// libzmq clients report as an authentication failure.
	errorUnauthorized = "400"
)

// randReader returns r or crypto/rand.
func randReader(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}

func readRandom(r io.Reader, b []byte) error {
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Errorf("curve: reading randomness: %w", err)
	}
	return nil
}

// precompute derives the box key between a peer's public key and our
// secret key. It refuses low-order public keys, whose shared secret is
// all zero and so known to everyone.
func precompute(peer, secret *[32]byte, what string) (key [32]byte, err error) {
	if _, err := curve25519.X25519(secret[:], peer[:]); err != nil {
		return key, fmt.Errorf("%w: %s is a low-order point", ErrCrypto, what)
	}
	box.Precompute(&key, peer, secret)
	return key, nil
}

// expect checks the name of a received command.
func expect(cmd zmtp.Command, name string) error {
	if !cmd.Is(name) {
		return fmt.Errorf("%w: %w: %q, want %s", ErrProtocol, zmtp.ErrUnexpectedCommand, cmd.Name, name)
	}
	return nil
}

// appendErrorData appends ERROR data: u8 length and reason.
func appendErrorData(b []byte, reason string) []byte {
	reason = reason[:min(len(reason), 255)]
	return append(append(b, byte(len(reason))), reason...)
}

// recvErr wraps an error from RecvCommand with what we were waiting for.
func recvErr(err error, waiting string) error {
	var pe *zmtp.PeerError
	switch {
	case errors.As(err, &pe):
		return fmt.Errorf("%w while waiting for %s: %w", ErrRejected, waiting, err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("curve: connection closed while waiting for %s: %w", waiting, err)
	}
	return fmt.Errorf("curve: waiting for %s: %w", waiting, err)
}
