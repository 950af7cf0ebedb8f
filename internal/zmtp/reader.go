package zmtp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// DefaultMaxMessageSize is the default limit on one incoming message (the
// sum of its frames): 256 MiB.
const DefaultMaxMessageSize = 256 << 20

// eagerAlloc is the largest frame body allocated in full as soon as its
// header arrives. Larger bodies (only possible with a higher or no
// MaxMessageSize) grow as their bytes arrive, so a peer cannot make us
// allocate memory just by declaring a size.
const eagerAlloc = 16 << 20

// FrameReader reads frames and messages from a stream through a large
// buffer. Small frames are parsed straight from the buffer; long frames are
// read directly into their destination. Frame bodies it returns are owned
// by the caller and never reused: small bodies are carved from shared
// chunks (capacity-limited so appending to one never touches another),
// large ones get their own allocation.
//
// Errors are sticky: after the first error every call returns it. A clean
// end of stream between messages is io.EOF; an end inside a frame or a
// multipart message matches io.ErrUnexpectedEOF.
// A FrameReader is not safe for concurrent use.
type FrameReader struct {
	br    *bufio.Reader
	max   int64 // message size limit on wire frames; < 0: none
	codec FrameCodec
	// plainMax is the message size limit with a codec, applied to the
	// decoded frames; max then allows for the codec's framing.
	plainMax int64
	ar       arena
	parts    [][]byte // frames of the message being read
	msgSize  uint64   // bytes in parts
	hdr      [8]byte
	err      error
}

// NewFrameReader returns a FrameReader over r with a read buffer of size
// bytes (DefaultBufferSize when size <= 0). maxMessageSize bounds one
// message: 0 means DefaultMaxMessageSize, a negative value means no limit.
func NewFrameReader(r io.Reader, size int, maxMessageSize int64) *FrameReader {
	if size <= 0 {
		size = DefaultBufferSize
	}
	return newFrameReader(bufio.NewReaderSize(r, size), maxMessageSize)
}

func newFrameReader(br *bufio.Reader, maxMessageSize int64) *FrameReader {
	if maxMessageSize == 0 {
		maxMessageSize = DefaultMaxMessageSize
	}
	return &FrameReader{br: br, max: maxMessageSize}
}

// Buffered returns the number of bytes read from the stream but not yet
// parsed.
func (r *FrameReader) Buffered() int { return r.br.Buffered() }

// ReadFrame reads one frame. The LONG flag is kept as it was on the wire,
// so AppendFrame re-encodes the frame byte for byte. The size limit applies
// to the frame alone. ReadFrame ignores any message in progress; do not
// mix it with ReadMessage.
func (r *FrameReader) ReadFrame() (Frame, error) {
	if r.err != nil {
		return Frame{}, r.err
	}
	flags, body, err := r.readFrame(0, true)
	if err != nil {
		r.err = err
		return Frame{}, err
	}
	return Frame{Flags: flags, Body: body}, nil
}

// ReadMessage reads frames until it has a whole message or a command.
// It returns either the frames of a data message (msg) or the body of a
// command frame (cmd: name length, name, data); a command that arrives
// between the frames of a message is returned first and the message is
// continued by the next call. The size limit applies to the sum of the
// frames of a message.
func (r *FrameReader) ReadMessage() (msg [][]byte, cmd []byte, err error) {
	if r.err != nil {
		return nil, nil, r.err
	}
	for {
		flags, body, err := r.readFrame(r.msgSize, len(r.parts) == 0)
		if err != nil {
			r.err = err
			return nil, nil, err
		}
		if r.codec != nil {
			if flags, body, err = r.decode(flags, body); err != nil {
				r.err = err
				return nil, nil, err
			}
			if size := r.msgSize + uint64(len(body)); r.plainMax >= 0 && flags&FlagCommand == 0 && size > uint64(r.plainMax) {
				err = &TooLargeError{Size: size, Limit: r.plainMax}
				r.err = err
				return nil, nil, err
			}
		}
		if flags&FlagCommand != 0 {
			return nil, body, nil
		}
		if flags&FlagMore == 0 && len(r.parts) == 0 {
			return r.ar.single(body), nil, nil // the common one-frame message
		}
		r.parts = append(r.parts, body)
		r.msgSize += uint64(len(body))
		if flags&FlagMore == 0 {
			msg = r.ar.frames(r.parts, r.msgSize)
			clear(r.parts)
			r.parts = r.parts[:0]
			r.msgSize = 0
			return msg, nil, nil
		}
	}
}

// codecSlack is how much larger than the message size limit the wire
// frames may be with a codec: its own framing (CURVE: 33 bytes a frame).
const codecSlack = 64

// setCodec makes r decode every frame with codec from now on; the size
// limit then applies to the decoded frames.
func (r *FrameReader) setCodec(codec FrameCodec) {
	r.codec = codec
	r.plainMax = r.max
	if r.max >= 0 {
		r.max += codecSlack
	}
}

func (r *FrameReader) decode(flags Flags, body []byte) (Flags, []byte, error) {
	f, b, err := r.codec.Decode(flags&^FlagLong, body)
	if err != nil {
		return 0, nil, fmt.Errorf("zmtp: decode frame: %w", err)
	}
	if err := checkFlags(f); err != nil {
		return 0, nil, err
	}
	return f, b, nil
}

// readFrame reads one frame; sofar is the size of the message so far and
// atStart tells whether a clean EOF is possible here.
func (r *FrameReader) readFrame(sofar uint64, atStart bool) (Flags, []byte, error) {
	// Fast path: a whole frame in the buffer, parsed in place.
	if nb := r.br.Buffered(); nb >= 2 {
		win, _ := r.br.Peek(nb)
		flags := Flags(win[0])
		n, hl := uint64(win[1]), 2
		if flags&FlagLong != 0 {
			n, hl = ^uint64(0), 9
			if nb >= hl {
				n = binary.BigEndian.Uint64(win[1:9])
			}
		}
		if nb >= hl && n <= uint64(nb-hl) && flags&flagReserved == 0 && flags&(FlagCommand|FlagMore) != FlagCommand|FlagMore {
			if r.max >= 0 && sofar+n > uint64(r.max) {
				return 0, nil, &TooLargeError{Size: sofar + n, Limit: r.max}
			}
			body := r.ar.alloc(int(n))
			copy(body, win[hl:])
			_, _ = r.br.Discard(hl + int(n))
			return flags, body, nil
		}
	}
	return r.readFrameSlow(sofar, atStart)
}

func (r *FrameReader) readFrameSlow(sofar uint64, atStart bool) (Flags, []byte, error) {
	b, err := r.br.ReadByte()
	if err != nil {
		if err == io.EOF && !atStart {
			err = ErrTruncated
		}
		return 0, nil, err
	}
	flags := Flags(b)
	if err := checkFlags(flags); err != nil {
		return 0, nil, err
	}
	var size uint64
	if flags&FlagLong != 0 {
		if _, err := io.ReadFull(r.br, r.hdr[:8]); err != nil {
			return 0, nil, truncated(err)
		}
		size = binary.BigEndian.Uint64(r.hdr[:8])
	} else {
		b, err := r.br.ReadByte()
		if err != nil {
			return 0, nil, truncated(err)
		}
		size = uint64(b)
	}
	if err := checkSize(size, sofar, r.max); err != nil {
		return 0, nil, err
	}
	if size > eagerAlloc {
		body, err := r.readGrowing(int(size))
		return flags, body, err
	}
	body := r.ar.alloc(int(size))
	if _, err := io.ReadFull(r.br, body); err != nil {
		return 0, nil, truncated(err)
	}
	return flags, body, nil
}

// readGrowing reads a body of n bytes into a buffer that grows as the
// bytes arrive.
func (r *FrameReader) readGrowing(n int) ([]byte, error) {
	body := make([]byte, 0, eagerAlloc)
	for len(body) < n {
		if len(body) == cap(body) {
			body = slices.Grow(body, min(n-len(body), len(body)))
		}
		chunk := body[len(body):min(cap(body), n)]
		m, err := io.ReadFull(r.br, chunk)
		body = body[:len(body)+m]
		if err != nil {
			return nil, truncated(err)
		}
	}
	return body, nil
}

// truncated maps an end of stream inside a frame to ErrTruncated.
func truncated(err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return ErrTruncated
	}
	return err
}

// Arena sizes: bodies up to arenaMaxObj bytes are carved from chunks of
// arenaChunk bytes; frame lists of up to arenaMaxFrames entries, for
// messages of at most arenaMaxHdrRef bytes, from chunks of arenaHdrChunk
// slice headers. A retained small frame keeps its chunk alive, which is
// the price of one allocation per chunk instead of one per message. A
// chunk of slice headers keeps alive every body it points to, so messages
// with large bodies get lists of their own: otherwise one chunk could pin
// hundreds of megabytes.
const (
	arenaChunk     = 32 << 10
	arenaMaxObj    = 1 << 10
	arenaHdrChunk  = 256
	arenaMaxFrames = 16
	arenaMaxHdrRef = 4 << 10
)

// emptyBody is returned for zero-length frames: non-nil, capacity 0.
var emptyBody = make([]byte, 0)

// arena hands out caller-owned memory carved from larger chunks. It never
// reuses memory it has handed out.
type arena struct {
	buf  []byte
	hdrs [][]byte
	pool *bufPool // large bodies; nil: plain allocation
}

func (a *arena) alloc(n int) []byte {
	if n == 0 {
		return emptyBody
	}
	if n > arenaMaxObj {
		return a.pool.get(n)
	}
	if n > len(a.buf) {
		a.buf = make([]byte, arenaChunk)
	}
	b := a.buf[:n:n]
	a.buf = a.buf[n:]
	return b
}

// single returns a caller-owned one-frame list.
func (a *arena) single(b []byte) [][]byte {
	if len(b) > arenaMaxObj {
		return [][]byte{b}
	}
	if len(a.hdrs) == 0 {
		a.hdrs = make([][]byte, arenaHdrChunk)
	}
	out := a.hdrs[:1:1]
	a.hdrs = a.hdrs[1:]
	out[0] = b
	return out
}

// frames returns a caller-owned copy of parts; size is their total
// length.
func (a *arena) frames(parts [][]byte, size uint64) [][]byte {
	n := len(parts)
	if n > arenaMaxFrames || size > arenaMaxHdrRef {
		return slices.Clone(parts)
	}
	if n > len(a.hdrs) {
		a.hdrs = make([][]byte, arenaHdrChunk)
	}
	out := a.hdrs[:n:n]
	a.hdrs = a.hdrs[n:]
	copy(out, parts)
	return out
}

// messageBuffered reports whether ReadMessage can return without reading
// from the stream: the buffer holds the rest of a message, a command, or
// bytes that fail to parse. With a codec the MORE flag is hidden inside
// the frames, so it answers false.
func (r *FrameReader) messageBuffered() bool {
	if r.err != nil {
		return true
	}
	if r.codec != nil {
		return false
	}
	win, _ := r.br.Peek(r.br.Buffered())
	for {
		if len(win) < 2 {
			return false
		}
		flags := Flags(win[0])
		if checkFlags(flags) != nil {
			return true
		}
		size, hl := uint64(win[1]), 2
		if flags&FlagLong != 0 {
			if len(win) < 9 {
				return false
			}
			size, hl = binary.BigEndian.Uint64(win[1:9]), 9
		}
		if size > uint64(len(win)-hl) {
			return false
		}
		win = win[hl+int(size):]
		if flags&FlagCommand != 0 {
			// Recv handles commands (PING, PONG) itself and then reads
			// on: only a data message that follows counts.
			continue
		}
		if flags&FlagMore == 0 {
			return true
		}
	}
}
