package zmtp

import (
	"errors"
	"fmt"
	"io"
)

// Sentinel errors. Errors returned by this package wrap one of these (or
// are one of the typed errors below); compare with errors.Is.
var (
	// ErrTruncated reports input that ended inside a greeting, frame,
	// command or message. It wraps io.ErrUnexpectedEOF.
	ErrTruncated = fmt.Errorf("zmtp: truncated input: %w", io.ErrUnexpectedEOF)
	// ErrBadSignature reports a greeting that does not start with the
	// ZMTP 3 signature (0xFF, 8 padding bytes, 0x7F).
	ErrBadSignature = errors.New("zmtp: bad greeting signature")
	// ErrVersion reports a peer announcing a ZMTP major version below 3.
	ErrVersion = errors.New("zmtp: unsupported ZMTP version")
	// ErrBadGreeting reports a greeting with a malformed mechanism field.
	ErrBadGreeting = errors.New("zmtp: malformed greeting")
	// ErrMechanismMismatch reports a peer that asked for another security
	// mechanism than ours.
	ErrMechanismMismatch = errors.New("zmtp: security mechanism mismatch")
	// ErrBadFrame reports a frame with reserved flag bits set, or a
	// command frame with the MORE flag.
	ErrBadFrame = errors.New("zmtp: malformed frame")
	// ErrBadCommand reports a malformed command body (empty name, name
	// longer than the body, bad PING).
	ErrBadCommand = errors.New("zmtp: malformed command")
	// ErrBadMetadata reports malformed READY properties.
	ErrBadMetadata = errors.New("zmtp: malformed metadata")
	// ErrUnexpectedCommand reports a command or data frame that is not
	// allowed at this point of the handshake.
	ErrUnexpectedCommand = errors.New("zmtp: unexpected command")
	// ErrSocketType reports an incompatible or unknown peer socket type,
	// or an invalid local Config.SocketType.
	ErrSocketType = errors.New("zmtp: incompatible socket type")
	// ErrTooLarge is matched by *TooLargeError.
	ErrTooLarge = errors.New("zmtp: message too large")
	// ErrEmptyMessage reports an attempt to send a message with no frames.
	ErrEmptyMessage = errors.New("zmtp: message has no frames")
	// ErrConfig reports an invalid configuration value.
	ErrConfig = errors.New("zmtp: invalid configuration")
	// ErrClosed reports use of a closed Conn, Dealer or Router.
	ErrClosed = errors.New("zmtp: closed")
	// ErrQueueFull reports that a Dealer's send queue is full.
	ErrQueueFull = errors.New("zmtp: send queue full")
	// ErrHeartbeatTimeout reports a peer that stayed silent longer than
	// the heartbeat timeout (or the TTL it announced).
	ErrHeartbeatTimeout = errors.New("zmtp: heartbeat timeout")
	// ErrHandover reports a connection closed because a newer connection
	// presented the same identity to the Router (ROUTER_HANDOVER).
	ErrHandover = errors.New("zmtp: identity taken over by a new connection")
	// ErrPeer is matched by *PeerError.
	ErrPeer = errors.New("zmtp: peer sent ERROR")
)

// TooLargeError reports a frame or message larger than the configured
// MaxMessageSize, detected from the declared size before any memory is
// allocated for it. It matches ErrTooLarge.
type TooLargeError struct {
	Size  uint64 // declared size of the message so far, including the offending frame
	Limit int64  // the limit in force
}

// Error implements error.
func (e *TooLargeError) Error() string {
	return fmt.Sprintf("zmtp: message of %d bytes exceeds limit of %d", e.Size, e.Limit)
}

// Is reports whether target is ErrTooLarge.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// PeerError is an ERROR command received from the peer. It is fatal: the
// connection is closed. It matches ErrPeer.
type PeerError struct {
	Reason string // the reason text the peer sent
}

// Error implements error.
func (e *PeerError) Error() string { return fmt.Sprintf("zmtp: peer error: %q", e.Reason) }

// Is reports whether target is ErrPeer.
func (e *PeerError) Is(target error) bool { return target == ErrPeer }
