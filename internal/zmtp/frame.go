package zmtp

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync/atomic"
)

// Flags is the flags byte of a frame.
type Flags uint8

// Frame flag bits. Bits 3 to 7 are reserved and must be zero.
const (
	FlagMore    Flags = 1 << 0 // more frames of this message follow
	FlagLong    Flags = 1 << 1 // the size is 8 bytes (big-endian) instead of 1
	FlagCommand Flags = 1 << 2 // a command frame, not part of a message

	flagReserved Flags = 0xF8
)

// MaxShortSize is the largest body a short frame (1-byte size) can carry.
const MaxShortSize = 255

// Frame is one ZMTP frame.
type Frame struct {
	Flags Flags  // MORE, LONG, COMMAND
	Body  []byte // the frame body; for commands, name length + name + data
}

// More reports whether more frames of the same message follow.
func (f Frame) More() bool { return f.Flags&FlagMore != 0 }

// IsCommand reports whether f is a command frame.
func (f Frame) IsCommand() bool { return f.Flags&FlagCommand != 0 }

// checkFlags validates a received flags byte.
func checkFlags(f Flags) error {
	if f&flagReserved != 0 {
		return fmt.Errorf("%w: reserved flag bits set in %#02x", ErrBadFrame, byte(f))
	}
	if f&(FlagCommand|FlagMore) == FlagCommand|FlagMore {
		return fmt.Errorf("%w: command frame with MORE flag", ErrBadFrame)
	}
	return nil
}

// FrameHeaderLen returns the size of the header (flags and size) of a
// frame with the given flags and body size.
func FrameHeaderLen(flags Flags, size int) int {
	if size > MaxShortSize || flags&FlagLong != 0 {
		return 9
	}
	return 2
}

// AppendFrameHeader appends a frame header (flags byte and size) to b.
// The long form is used when size exceeds 255 or flags has FlagLong, so a
// parsed frame re-encodes byte for byte.
func AppendFrameHeader(b []byte, flags Flags, size int) []byte {
	if size > MaxShortSize || flags&FlagLong != 0 {
		return binary.BigEndian.AppendUint64(append(b, byte(flags|FlagLong)), uint64(size))
	}
	return append(b, byte(flags), byte(size))
}

// AppendFrame appends a whole frame (header and body) to b. Only the MORE,
// COMMAND and LONG bits of flags are used.
func AppendFrame(b []byte, flags Flags, body []byte) []byte {
	return append(AppendFrameHeader(b, flags&^flagReserved, len(body)), body...)
}

// ParseFrame parses one frame from the start of b and returns it with the
// number of bytes consumed. The body aliases b. Short input fails with an
// error matching io.ErrUnexpectedEOF; reserved flag bits and a command with
// MORE fail with ErrBadFrame. A declared size above max fails with
// *TooLargeError before the body is looked at; as in Config, max 0 means
// DefaultMaxMessageSize and a negative max means no limit.
func ParseFrame(b []byte, max int64) (Frame, int, error) {
	if max == 0 {
		max = DefaultMaxMessageSize
	}
	if len(b) < 1 {
		return Frame{}, 0, ErrTruncated
	}
	flags := Flags(b[0])
	if err := checkFlags(flags); err != nil {
		return Frame{}, 0, err
	}
	var size uint64
	hdr := 2
	if flags&FlagLong != 0 {
		hdr = 9
		if len(b) < hdr {
			return Frame{}, 0, ErrTruncated
		}
		size = binary.BigEndian.Uint64(b[1:9])
	} else {
		if len(b) < hdr {
			return Frame{}, 0, ErrTruncated
		}
		size = uint64(b[1])
	}
	if err := checkSize(size, 0, max); err != nil {
		return Frame{}, 0, err
	}
	if uint64(len(b)-hdr) < size {
		return Frame{}, 0, ErrTruncated
	}
	end := hdr + int(size)
	return Frame{Flags: flags, Body: b[hdr:end:end]}, end, nil
}

// hardMaxSize bounds any single frame when the limit is off: a size that
// does not fit an int cannot be held in memory.
const hardMaxSize = uint64(int(^uint(0) >> 1))

// checkSize checks a declared frame size plus what the message already
// holds against max (negative: unlimited).
func checkSize(size, sofar uint64, max int64) error {
	total := size + sofar
	if total < size || total > hardMaxSize {
		return &TooLargeError{Size: total, Limit: max}
	}
	if max >= 0 && total > uint64(max) {
		return &TooLargeError{Size: total, Limit: max}
	}
	return nil
}

// DefaultBufferSize is the default size of the read and write buffers.
const DefaultBufferSize = 64 << 10

// largeWrite is the body size from which FrameWriter hands the body to the
// kernel directly (with the buffered bytes in front, in one writev where
// the connection supports it) instead of copying it into its buffer.
const largeWrite = 16 << 10

// writeChunk is the most FrameWriter hands to the underlying writer in one
// call, so that Written moves on while a long frame goes out over a slow
// link (a 256 KiB piece takes 20 s at 100 kbit/s).
const writeChunk = 256 << 10

// FrameWriter encodes frames into a buffer and writes the buffer to the
// underlying writer when it fills up or on Flush. Large bodies bypass the
// buffer. After a write error every method returns that error.
// A FrameWriter is not safe for concurrent use, except Written.
type FrameWriter struct {
	w       io.Writer
	buf     []byte // pending bytes
	size    int    // buffer size: flush when buf reaches it
	codec   FrameCodec
	err     error
	vec     [2][]byte
	bufs    net.Buffers
	written atomic.Uint64
}

// NewFrameWriter returns a FrameWriter over w with a buffer of size bytes
// (DefaultBufferSize when size <= 0).
func NewFrameWriter(w io.Writer, size int) *FrameWriter {
	if size <= 0 {
		size = DefaultBufferSize
	}
	return &FrameWriter{w: w, buf: make([]byte, 0, size), size: size}
}

// Written returns the number of bytes the underlying writer has taken so
// far. Other goroutines may call it, to see whether a blocked write makes
// progress.
func (w *FrameWriter) Written() uint64 { return w.written.Load() }

// Buffered returns the number of bytes waiting for Flush.
func (w *FrameWriter) Buffered() int { return len(w.buf) }

// WriteFrame buffers one frame. Only the MORE and COMMAND bits of flags
// are used; the size form is chosen from the body length.
func (w *FrameWriter) WriteFrame(flags Flags, body []byte) error {
	if w.err != nil {
		return w.err
	}
	flags &= FlagMore | FlagCommand
	if w.codec != nil {
		return w.writeEncoded(flags, body)
	}
	n := len(body)
	if n <= MaxShortSize && len(w.buf)+2+n <= w.size {
		// Hot path: small frame that fits.
		w.buf = append(w.buf, byte(flags), byte(n))
		w.buf = append(w.buf, body...)
		return nil
	}
	hl := FrameHeaderLen(flags, n)
	if len(w.buf)+hl+n > w.size {
		if n >= largeWrite || hl+n > w.size {
			// Large body: header behind what is buffered, body
			// straight from the caller's memory.
			if len(w.buf)+hl > w.size {
				if err := w.flushBuf(); err != nil {
					return err
				}
			}
			w.buf = AppendFrameHeader(w.buf, flags, n)
			return w.writeWithBody(body)
		}
		if err := w.flushBuf(); err != nil {
			return err
		}
	}
	w.buf = AppendFrameHeader(w.buf, flags, n)
	w.buf = append(w.buf, body...)
	return nil
}

func (w *FrameWriter) writeEncoded(flags Flags, body []byte) error {
	b, err := w.codec.AppendEncoded(w.buf, flags, body)
	if err != nil {
		// A codec failure is not an I/O failure: the stream is intact
		// up to the previous frame, but we cannot go on safely.
		w.err = fmt.Errorf("zmtp: encode frame: %w", err)
		return w.err
	}
	w.buf = b
	if len(w.buf) >= w.size {
		err := w.flushBuf()
		if cap(w.buf) > 2*w.size {
			w.buf = make([]byte, 0, w.size) // do not keep a huge buffer after a large frame
		}
		return err
	}
	return nil
}

// writeWithBody writes the buffered bytes followed by body: the first
// piece together with the buffer (one writev where the connection
// supports it), the rest in pieces of writeChunk.
func (w *FrameWriter) writeWithBody(body []byte) error {
	first := body[:min(len(body), writeChunk)]
	w.vec[0], w.vec[1] = w.buf, first
	w.bufs = w.vec[:]
	n, err := w.bufs.WriteTo(w.w)
	w.written.Add(uint64(n))
	w.vec[0], w.vec[1] = nil, nil
	w.buf = w.buf[:0]
	if err == nil {
		err = w.write(body[len(first):])
	}
	if err != nil {
		w.err = err
	}
	return err
}

// write hands p to the underlying writer in pieces of at most
// writeChunk, counting what it takes.
func (w *FrameWriter) write(p []byte) error {
	for len(p) > 0 {
		n, err := w.w.Write(p[:min(len(p), writeChunk)])
		w.written.Add(uint64(n))
		if err == nil && n == 0 {
			err = io.ErrShortWrite
		}
		if err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// WriteMessage buffers a multipart message: every frame but the last gets
// the MORE flag.
func (w *FrameWriter) WriteMessage(msg [][]byte) error {
	if len(msg) == 0 {
		return ErrEmptyMessage
	}
	last := len(msg) - 1
	for i, f := range msg {
		flags := FlagMore
		if i == last {
			flags = 0
		}
		if err := w.WriteFrame(flags, f); err != nil {
			return err
		}
	}
	return nil
}

// WriteCommand buffers a command frame.
func (w *FrameWriter) WriteCommand(name string, data []byte) error {
	if w.err != nil {
		return w.err
	}
	if len(name) == 0 || len(name) > 255 {
		return fmt.Errorf("%w: command name %q must be 1 to 255 bytes", ErrBadCommand, name)
	}
	n := 1 + len(name) + len(data)
	if w.codec != nil || 9+n > w.size {
		body := make([]byte, 0, n)
		body = append(append(append(body, byte(len(name))), name...), data...)
		return w.WriteFrame(FlagCommand, body)
	}
	if len(w.buf)+9+n > w.size {
		if err := w.flushBuf(); err != nil {
			return err
		}
	}
	w.buf = AppendFrameHeader(w.buf, FlagCommand, n)
	w.buf = append(append(append(w.buf, byte(len(name))), name...), data...)
	return nil
}

// Flush writes the buffered bytes to the underlying writer.
func (w *FrameWriter) Flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) == 0 {
		return nil
	}
	return w.flushBuf()
}

func (w *FrameWriter) flushBuf() error {
	err := w.write(w.buf)
	w.buf = w.buf[:0]
	if err != nil {
		w.err = err
	}
	return err
}
