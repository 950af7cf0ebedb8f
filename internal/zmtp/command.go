package zmtp

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Command names used by ZMTP 3.1 and the NULL mechanism.
const (
	CommandReady = "READY" // NULL handshake; carries metadata
	CommandError = "ERROR" // fatal error with a reason
	CommandPing  = "PING"  // heartbeat request (ZMTP 3.1)
	CommandPong  = "PONG"  // heartbeat reply (ZMTP 3.1)
)

// maxPingContext is the most context bytes a PING may carry.
const maxPingContext = 16

// Command is a parsed command frame body.
type Command struct {
	Name string // the command name, e.g. "READY"
	Data []byte // what follows the name; aliases the parsed body
}

// Is reports whether the command is called name. Command names are
// compared case-sensitively, as libzmq does.
func (c Command) Is(name string) bool { return c.Name == name }

// AppendCommand appends a command body (u8 name length, name, data) to b.
// The name must be 1 to 255 bytes.
func AppendCommand(b []byte, name string, data []byte) ([]byte, error) {
	if len(name) == 0 || len(name) > 255 {
		return b, fmt.Errorf("%w: command name %q must be 1 to 255 bytes", ErrBadCommand, name)
	}
	b = append(b, byte(len(name)))
	b = append(b, name...)
	return append(b, data...), nil
}

// ParseCommand parses a command body (u8 name length, name, data). Data
// aliases body. A body that ends inside the name fails with an error
// matching io.ErrUnexpectedEOF; an empty name fails with ErrBadCommand.
func ParseCommand(body []byte) (Command, error) {
	if len(body) < 1 {
		return Command{}, fmt.Errorf("%w: %w", ErrBadCommand, ErrTruncated)
	}
	n := int(body[0])
	if n == 0 {
		return Command{}, fmt.Errorf("%w: empty command name", ErrBadCommand)
	}
	if len(body) < 1+n {
		return Command{}, fmt.Errorf("%w: %w", ErrBadCommand, ErrTruncated)
	}
	return Command{Name: string(body[1 : 1+n]), Data: body[1+n:]}, nil
}

// commandIs reports whether a command body has the given name, without
// allocating.
func commandIs(body []byte, name string) bool {
	return len(body) > len(name) && int(body[0]) == len(name) && string(body[1:1+len(name)]) == name
}

// appendPing appends the data of a PING: a u16 TTL in deciseconds and up
// to 16 bytes of context.
func appendPing(b []byte, ttl uint16, context []byte) []byte {
	return append(binary.BigEndian.AppendUint16(b, ttl), context[:min(len(context), maxPingContext)]...)
}

// parsePing parses PING data. Context beyond 16 bytes is tolerated and cut.
func parsePing(data []byte) (ttl uint16, context []byte, err error) {
	if len(data) < 2 {
		return 0, nil, fmt.Errorf("%w: PING of %d bytes: %w", ErrBadCommand, len(data), ErrTruncated)
	}
	ctx := data[2:]
	return binary.BigEndian.Uint16(data), ctx[:min(len(ctx), maxPingContext)], nil
}

// appendErrorData appends ERROR data: a u8 length and the reason (cut to
// 255 bytes).
func appendErrorData(b []byte, reason string) []byte {
	if len(reason) > 255 {
		reason = reason[:255]
	}
	return append(append(b, byte(len(reason))), reason...)
}

// parseErrorData parses ERROR data into a *PeerError. A malformed reason
// is kept as far as it goes: the peer is going away anyway.
func parseErrorData(data []byte) *PeerError {
	if len(data) == 0 {
		return &PeerError{}
	}
	n := min(int(data[0]), len(data)-1)
	return &PeerError{Reason: strings.ToValidUTF8(string(data[1:1+n]), "\uFFFD")}
}
