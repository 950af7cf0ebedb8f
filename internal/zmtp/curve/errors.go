package curve

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap one of these (or
// ErrKey, or are an *AuthError); compare with errors.Is.
var (
	// ErrConfig reports an unusable Client or Server: missing or
	// mismatched keys.
	ErrConfig = errors.New("curve: invalid configuration")
	// ErrProtocol reports a command that breaks RFC 25/26: wrong command
	// at this point, wrong size, unsupported version, malformed MESSAGE.
	ErrProtocol = errors.New("curve: protocol error")
	// ErrCrypto reports a box that does not open: the peer does not hold
	// the key it claims (for example a client configured with a wrong
	// server key), a cookie or vouch that does not match, or data
	// tampered with on the way.
	ErrCrypto = errors.New("curve: authentication failed")
	// ErrNonce reports a MESSAGE (or handshake command) whose nonce is not
	// greater than the previous one from the same peer: a replayed or
	// reordered message. Also returned when our own nonce counter would
	// wrap.
	ErrNonce = errors.New("curve: nonce not strictly increasing")
	// ErrUnauthorized is matched by *AuthError: the server's Authorize
	// hook refused the client's long-term key.
	ErrUnauthorized = errors.New("curve: client key not authorized")
	// ErrRejected reports, on the client, that the server answered our
	// INITIATE (or HELLO) with an ERROR command: it refused our key. The
	// error also wraps the *zmtp.PeerError with the server's reason.
	ErrRejected = errors.New("curve: server rejected the handshake")
	// ErrServerGone reports, on the client, that the server closed the
	// connection during the handshake without a word, as libzmq (and our
	// Server) do when HELLO does not open: the most likely cause is a
	// wrong ServerKey.
	ErrServerGone = errors.New("curve: server closed the connection during the handshake (wrong server public key?)")
)

// AuthError is returned by Server.Handshake when Authorize refused the
// client. The client proved that it holds the secret key of Key. It
// matches ErrUnauthorized and unwraps to the error Authorize returned.
type AuthError struct {
	Key [KeySize]byte // the client's proven long-term public key
	Err error         // what Authorize returned
}

// Error describes the refusal, with the client's key in Z85.
func (e *AuthError) Error() string {
	return fmt.Sprintf("curve: client key %s not authorized: %v", EncodeKey(e.Key), e.Err)
}

// Is reports whether target is ErrUnauthorized.
func (e *AuthError) Is(target error) bool { return target == ErrUnauthorized }

// Unwrap returns the error Authorize returned.
func (e *AuthError) Unwrap() error { return e.Err }
