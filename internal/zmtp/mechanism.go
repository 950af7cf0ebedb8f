package zmtp

import (
	"context"
	"fmt"
)

// Mechanism is a ZMTP security mechanism (RFC 23 "Authentication and
// Confidentiality"). One Mechanism value serves many connections at once
// (a Router hands the same Config to every connection), so per-connection
// state must live inside Handshake and the FrameCodec it returns.
type Mechanism interface {
	// Name returns the mechanism name sent in the greeting: "NULL",
	// "CURVE". Both peers must use the same name.
	Name() string
	// AsServer returns the as-server flag of our greeting.
	AsServer() bool
	// Handshake runs the mechanism's handshake over hc, after the
	// greetings were exchanged. It must send local (our metadata) to the
	// peer and return the peer's metadata. It may return a FrameCodec
	// that transforms every frame after the handshake (CURVE boxes each
	// one into a MESSAGE); nil means frames travel as they are. ctx
	// bounds the handshake; Conn also enforces it through the
	// connection's deadline.
	Handshake(ctx context.Context, hc HandshakeConn, local Metadata) (peer Metadata, codec FrameCodec, err error)
}

// HandshakeConn is the command channel a Mechanism uses during the
// handshake. It is implemented by Conn's handshake and is only valid until
// Handshake returns.
type HandshakeConn interface {
	// SendCommand sends a command frame. Sending does not wait for the
	// peer to read it, so both peers may send at the same time (as the
	// NULL mechanism does) even over an unbuffered net.Pipe; write errors
	// surface when the handshake completes, or as read errors.
	SendCommand(name string, data []byte) error
	// RecvCommand reads the next frame, which must be a command. An
	// ERROR command is returned as a *PeerError, a data frame as
	// ErrUnexpectedCommand. The command's data is owned by the caller.
	RecvCommand() (Command, error)
	// PeerGreeting returns the peer's greeting.
	PeerGreeting() Greeting
}

// FrameCodec transforms frames after the handshake, for mechanisms that
// encrypt. Calls are made by at most one reader goroutine (Decode) and one
// writer goroutine (AppendEncoded) at a time, possibly concurrently.
type FrameCodec interface {
	// AppendEncoded appends the complete wire form (flags, size, body)
	// of one logical frame to dst. flags holds only FlagMore and
	// FlagCommand.
	AppendEncoded(dst []byte, flags Flags, body []byte) ([]byte, error)
	// Decode turns one received wire frame into the logical frame.
	// flags are the wire flags without FlagLong (a framing detail). The
	// body is owned by the caller of Decode and may be reused for the
	// result. The returned flags may hold FlagMore and FlagCommand.
	Decode(flags Flags, body []byte) (Flags, []byte, error)
}

// Null is the NULL mechanism: no authentication, no encryption. As libzmq
// does, each side sends its READY at once and then reads the peer's.
var Null Mechanism = nullMechanism{}

type nullMechanism struct{}

func (nullMechanism) Name() string   { return "NULL" }
func (nullMechanism) AsServer() bool { return false }

func (nullMechanism) Handshake(_ context.Context, hc HandshakeConn, local Metadata) (Metadata, FrameCodec, error) {
	data, err := AppendMetadata(nil, local)
	if err != nil {
		return nil, nil, err
	}
	if err := hc.SendCommand(CommandReady, data); err != nil {
		return nil, nil, err
	}
	cmd, err := hc.RecvCommand()
	if err != nil {
		return nil, nil, err
	}
	if !cmd.Is(CommandReady) {
		return nil, nil, fmt.Errorf("%w: %q during NULL handshake, want READY", ErrUnexpectedCommand, cmd.Name)
	}
	md, err := ParseMetadata(cmd.Data)
	if err != nil {
		return nil, nil, err
	}
	return md, nil, nil
}
