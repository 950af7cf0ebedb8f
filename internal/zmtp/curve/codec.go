package curve

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/gozyre/zyre/internal/zmtp"
	"golang.org/x/crypto/nacl/box"
)

// MESSAGE layout: "\x07MESSAGE", 8-byte nonce, box. The box holds one
// flags byte (bit 0 MORE, bit 1 COMMAND) and the frame body, plus the
// 16-byte authenticator.
const (
	messagePrefix   = "\x07MESSAGE"
	messageOverhead = len(messagePrefix) + 8 + box.Overhead // 32
	minMessageSize  = messageOverhead + 1                   // 33: empty frame

	innerMore    = 0x01
	innerCommand = 0x02

	// scratchMax is the largest plaintext (flags byte and body) a codec
	// keeps a reusable buffer for, one per direction: a 64 KiB frame
	// fits. Larger frames get their own allocation, so a connection
	// that once saw a big frame does not keep its memory.
	scratchMax = 64<<10 + 1
)

// Nonce prefixes (RFC 26): a 16-byte prefix plus an 8-byte big-endian
// counter, or an 8-byte prefix plus 16 random bytes.
const (
	noncePrefixHello    = "CurveZMQHELLO---"
	noncePrefixInitiate = "CurveZMQINITIATE"
	noncePrefixReady    = "CurveZMQREADY---"
	noncePrefixMessageC = "CurveZMQMESSAGEC" // sent by the client
	noncePrefixMessageS = "CurveZMQMESSAGES" // sent by the server
	noncePrefixWelcome  = "WELCOME-"
	noncePrefixCookie   = "COOKIE--"
	noncePrefixVouch    = "VOUCH---"
)

// shortNonce builds a 24-byte nonce from a 16-byte prefix and a counter.
func shortNonce(prefix string, n uint64) (nonce [24]byte) {
	copy(nonce[:16], prefix)
	binary.BigEndian.PutUint64(nonce[16:], n)
	return nonce
}

// longNonce builds a 24-byte nonce from an 8-byte prefix and 16 bytes.
func longNonce(prefix string, tail []byte) (nonce [24]byte) {
	copy(nonce[:8], prefix)
	copy(nonce[8:], tail[:16])
	return nonce
}

// codec boxes every frame after the handshake into a MESSAGE. It
// implements zmtp.FrameCodec. The writer half (AppendEncoded) and the
// reader half (Decode) share only the read-only key, so one goroutine may
// encode while another decodes.
type codec struct {
	key [32]byte // precomputed C'/S' box key

	// Writer half.
	sendPrefix string
	sendNext   uint64 // nonce of the next MESSAGE we send; 0: exhausted
	sendBuf    []byte // plaintext scratch

	// Reader half.
	recvPrefix string
	recvLast   uint64 // nonce of the last command or MESSAGE the peer sent
	recvBuf    []byte // plaintext scratch
}

var _ zmtp.FrameCodec = (*codec)(nil)

func newCodec(key *[32]byte, client bool, sendNext, recvLast uint64) *codec {
	c := &codec{key: *key, sendNext: sendNext, recvLast: recvLast}
	if client {
		c.sendPrefix, c.recvPrefix = noncePrefixMessageC, noncePrefixMessageS
	} else {
		c.sendPrefix, c.recvPrefix = noncePrefixMessageS, noncePrefixMessageC
	}
	return c
}

// AppendEncoded appends one MESSAGE frame carrying the logical frame
// (flags, body) to dst. The outer frame is a data frame with no flags, as
// libzmq sends it; MORE and COMMAND travel inside the box.
func (c *codec) AppendEncoded(dst []byte, flags zmtp.Flags, body []byte) ([]byte, error) {
	n := c.sendNext
	if n == 0 {
		return dst, fmt.Errorf("%w: MESSAGE nonce counter exhausted", ErrNonce)
	}
	if n == math.MaxUint64 {
		c.sendNext = 0
	} else {
		c.sendNext = n + 1
	}
	var inner byte
	if flags&zmtp.FlagMore != 0 {
		inner |= innerMore
	}
	if flags&zmtp.FlagCommand != 0 {
		inner |= innerCommand
	}
	plain := scratch(&c.sendBuf, 1+len(body))
	plain[0] = inner
	copy(plain[1:], body)

	size := messageOverhead + len(plain)
	dst = slices.Grow(dst, zmtp.FrameHeaderLen(0, size)+size)
	dst = zmtp.AppendFrameHeader(dst, 0, size)
	dst = append(dst, messagePrefix...)
	dst = binary.BigEndian.AppendUint64(dst, n)
	nonce := shortNonce(c.sendPrefix, n)
	return box.SealAfterPrecomputation(dst, plain, &nonce, &c.key), nil
}

// Decode opens one received MESSAGE frame and returns the logical frame.
// The body is reused for the result. Anything else than a MESSAGE in a
// data frame without flags, a box that does not open, or a nonce not
// greater than the previous one is an error; the state is left as it was,
// so a forged frame cannot move the nonce window.
func (c *codec) Decode(flags zmtp.Flags, body []byte) (zmtp.Flags, []byte, error) {
	if len(body) < len(messagePrefix) || string(body[:len(messagePrefix)]) != messagePrefix {
		return 0, nil, unexpectedFrame(flags, body)
	}
	if flags&^zmtp.FlagLong != 0 {
		return 0, nil, fmt.Errorf("%w: MESSAGE in a frame with flags %#02x, want a plain data frame", ErrProtocol, byte(flags))
	}
	if len(body) < minMessageSize {
		return 0, nil, fmt.Errorf("%w: MESSAGE of %d bytes, want at least %d", ErrProtocol, len(body), minMessageSize)
	}
	n := binary.BigEndian.Uint64(body[len(messagePrefix):])
	if n <= c.recvLast {
		return 0, nil, fmt.Errorf("%w: MESSAGE nonce %d after %d (replayed or reordered)", ErrNonce, n, c.recvLast)
	}
	boxed := body[len(messagePrefix)+8:]
	nonce := shortNonce(c.recvPrefix, n)
	plainLen := len(boxed) - box.Overhead
	var plain []byte
	var ok bool
	if plainLen <= scratchMax {
		plain, ok = box.OpenAfterPrecomputation(scratch(&c.recvBuf, plainLen)[:0], boxed, &nonce, &c.key)
	} else {
		plain, ok = box.OpenAfterPrecomputation(make([]byte, 0, plainLen), boxed, &nonce, &c.key)
	}
	if !ok {
		return 0, nil, fmt.Errorf("%w: MESSAGE %d does not open (tampered with, or not from our peer)", ErrCrypto, n)
	}
	c.recvLast = n
	var f zmtp.Flags
	if plain[0]&innerMore != 0 {
		f |= zmtp.FlagMore
	}
	if plain[0]&innerCommand != 0 {
		f |= zmtp.FlagCommand
	}
	if plainLen > scratchMax {
		return f, plain[1:], nil
	}
	out := body[:plainLen-1]
	copy(out, plain[1:])
	return f, out, nil
}

// scratch returns (*buf)[:n], growing *buf when needed; buffers larger than
// scratchMax are not kept.
func scratch(buf *[]byte, n int) []byte {
	if n > scratchMax {
		return make([]byte, n)
	}
	if cap(*buf) < n {
		*buf = make([]byte, n, max(n, 512))
	}
	return (*buf)[:n]
}

// unexpectedFrame describes a frame after the handshake that is not a
// MESSAGE.
func unexpectedFrame(flags zmtp.Flags, body []byte) error {
	if flags&zmtp.FlagCommand != 0 {
		if cmd, err := zmtp.ParseCommand(body); err == nil {
			if cmd.Is(zmtp.CommandError) {
				reason := ""
				if len(cmd.Data) > 0 {
					reason = string(cmd.Data[1:min(len(cmd.Data), 1+int(cmd.Data[0]))])
				}
				return fmt.Errorf("%w: unencrypted ERROR %q after the handshake", ErrProtocol, reason)
			}
			return fmt.Errorf("%w: unencrypted %q command after the handshake, want MESSAGE", ErrProtocol, cmd.Name)
		}
	}
	return fmt.Errorf("%w: frame of %d bytes after the handshake is not a MESSAGE", ErrProtocol, len(body))
}
