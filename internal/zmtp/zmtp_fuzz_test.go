package zmtp

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gozyre/zyre/internal/vectors"
)

// vectorSeeds returns the named golden vector files that exist, without
// failing when the vectors folder is missing (fuzzing must work without).
func vectorSeeds(names ...string) [][]byte {
	dir := vectors.Dir()
	if dir == "" {
		return nil
	}
	var out [][]byte
	for _, n := range names {
		if b, err := os.ReadFile(filepath.Join(dir, n)); err == nil {
			out = append(out, b)
		}
	}
	return out
}

func FuzzGreeting(f *testing.F) {
	for _, g := range []Greeting{
		{Padding: 1, Major: 3, Minor: 1, Mechanism: "NULL"},
		{Padding: 0x12, Major: 3, Minor: 0, Mechanism: "CURVE", AsServer: true},
		{Major: 4, Minor: 9, Mechanism: "PLAIN"},
	} {
		b, err := g.Append(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, b := range vectorSeeds("zmtp/dealer_greeting.bin", "zmtp/router_greeting.bin",
		"curve/client_greeting.bin", "curve/server_greeting.bin", "zmtp/staged/listener_sent_greeting.bin") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		g, n, err := ParseGreeting(in)
		if err != nil {
			if n != 0 {
				t.Fatalf("consumed %d on error", n)
			}
			if len(in) < GreetingSize && !errors.Is(err, io.ErrUnexpectedEOF) &&
				!errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrVersion) {
				t.Fatalf("short input: unexpected error %v", err)
			}
			return
		}
		if n != GreetingSize {
			t.Fatalf("consumed %d", n)
		}
		enc, err := g.Append(nil)
		if err != nil {
			t.Fatalf("parsed greeting does not encode: %v", err)
		}
		// Re-encoding gives the canonical form of the input: filler
		// zeroed and as-server normalised to 0 or 1.
		want := bytes.Clone(in[:GreetingSize])
		clear(want[offFiller:])
		if want[offAsServer] != 0 {
			want[offAsServer] = 1
		}
		if !bytes.Equal(enc, want) {
			t.Fatalf("re-encoded\n%x\nwant\n%x", enc, want)
		}
		g2, _, err := ParseGreeting(enc)
		if err != nil || g2 != g {
			t.Fatalf("re-parse %+v %v", g2, err)
		}
	})
}

// splitReader returns the first split bytes of its input in one Read and
// the rest in reads of at most chunk bytes, to exercise resumption across
// short reads.
type splitReader struct {
	b     []byte
	split int
	chunk int
}

func (r *splitReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := len(r.b)
	if r.split > 0 {
		n = min(n, r.split)
		r.split = 0
	} else if r.chunk > 0 {
		n = min(n, r.chunk)
	}
	n = copy(p, r.b[:n])
	r.b = r.b[n:]
	return n, nil
}

func FuzzFrameReader(f *testing.F) {
	f.Add(encodeStream(f, sampleMessages()[:3]), uint16(3), uint8(7), int32(0))
	f.Add(append(AppendFrame(nil, FlagCommand, []byte("\x04PING\x00\x01ab")), AppendFrame(nil, FlagLong, []byte("x"))...), uint16(1), uint8(1), int32(0))
	f.Add(unhex(f, "02 8000000000000000"), uint16(2), uint8(0), int32(-1))
	f.Add(unhex(f, "01 03 616263 00 00"), uint16(4), uint8(2), int32(5))
	for _, b := range vectorSeeds("zmtp/dealer_ready.bin", "zmtp/router_ready.bin", "zmtp/staged/stage3_after_our_ready.bin",
		"curve/HELLO.bin", "curve/WELCOME.bin", "curve/INITIATE.bin", "curve/READY.bin", "curve/MESSAGE_first.bin") {
		f.Add(b, uint16(len(b)/2), uint8(3), int32(0))
	}
	if st := vectorSeeds("zmtp/staged/dealer_stream_full.bin"); len(st) == 1 {
		f.Add(st[0][GreetingSize:], uint16(5), uint8(9), int32(0))
	}
	f.Fuzz(func(t *testing.T, in []byte, split uint16, chunk uint8, max int32) {
		// Frame by frame: everything parsed re-encodes to the input
		// prefix it came from, with any read pattern.
		r := NewFrameReader(&splitReader{b: in, split: int(split), chunk: int(chunk)}, 16, int64(max))
		var re []byte
		var ferr error
		for {
			fr, err := r.ReadFrame()
			if err != nil {
				ferr = err
				break
			}
			re = AppendFrame(re, fr.Flags, fr.Body)
		}
		if !bytes.HasPrefix(in, re) {
			t.Fatalf("frames re-encode to %x, not a prefix of %x", re, in)
		}
		if ferr == io.EOF && len(re) != len(in) {
			t.Fatalf("clean EOF after %d of %d bytes", len(re), len(in))
		}
		if ferr != io.EOF && !errors.Is(ferr, io.ErrUnexpectedEOF) && !errors.Is(ferr, ErrBadFrame) && !errors.Is(ferr, ErrTooLarge) {
			t.Fatalf("unexpected error %v", ferr)
		}
		// The slice parser agrees with the stream reader.
		var pre []byte
		for b := in; ; {
			fr, n, err := ParseFrame(b, int64(max))
			if err != nil {
				break
			}
			pre = AppendFrame(pre, fr.Flags, fr.Body)
			b = b[n:]
		}
		if !bytes.Equal(pre, re) {
			t.Fatalf("ParseFrame parsed %d bytes, FrameReader %d", len(pre), len(re))
		}

		// Message by message, with a different read pattern: the same
		// data frames and commands come out, in the same order within
		// each kind (a command inside a message is returned before the
		// message it interrupts).
		var data, cmds []byte
		for b := re; len(b) > 0; {
			fr, n, _ := ParseFrame(b, -1)
			if fr.IsCommand() {
				cmds = AppendFrame(cmds, FlagCommand, fr.Body)
			} else {
				data = AppendFrame(data, fr.Flags&^FlagLong, fr.Body)
			}
			b = b[n:]
		}
		r = NewFrameReader(&splitReader{b: in, split: int(chunk), chunk: int(split % 97)}, 32, int64(max))
		var data2, cmds2 []byte
		for {
			msg, cmd, err := r.ReadMessage()
			if err != nil {
				break
			}
			if cmd != nil {
				cmds2 = AppendFrame(cmds2, FlagCommand, cmd)
				continue
			}
			for i, fr := range msg {
				flags := FlagMore
				if i == len(msg)-1 {
					flags = 0
				}
				data2 = AppendFrame(data2, flags, fr)
			}
		}
		if !bytes.HasPrefix(data, data2) || !bytes.HasPrefix(cmds, cmds2) {
			t.Fatalf("messages re-encode to %x + commands %x; frames to %x + %x", data2, cmds2, data, cmds)
		}
	})
}

func FuzzMetadata(f *testing.F) {
	for _, md := range []Metadata{
		nil,
		{{Name: "Socket-Type", Value: []byte("DEALER")}, {Name: "Identity", Value: testIdentity()}},
		{{Name: "Socket-Type", Value: []byte("ROUTER")}, {Name: "Identity"}},
		{{Name: "X-Big", Value: bytes.Repeat([]byte{9}, 300)}},
	} {
		b, err := AppendMetadata(nil, md)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, b := range vectorSeeds("zmtp/dealer_ready.bin", "zmtp/router_ready.bin") {
		// The READY frame's data: skip flags, size and "\x05READY".
		if len(b) > 8 {
			f.Add(b[8:])
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		md, err := ParseMetadata(in)
		if err != nil {
			if !errors.Is(err, ErrBadMetadata) {
				t.Fatalf("error %v does not match ErrBadMetadata", err)
			}
			return
		}
		enc, err := AppendMetadata(nil, md)
		if err != nil {
			t.Fatalf("parsed metadata does not encode: %v", err)
		}
		if !bytes.Equal(enc, in) || md.Len() != len(in) {
			t.Fatalf("re-encoded %x, want %x", enc, in)
		}
		for _, p := range md {
			if _, ok := md.Get(p.Name); !ok {
				t.Fatalf("Get(%q) found nothing", p.Name)
			}
		}
		// As a READY command, through a frame.
		body, err := AppendCommand(nil, CommandReady, in)
		if err != nil {
			t.Fatal(err)
		}
		fr, _, err := ParseFrame(AppendFrame(nil, FlagCommand, body), -1)
		if err != nil {
			t.Fatal(err)
		}
		cmd, err := ParseCommand(fr.Body)
		if err != nil || !cmd.Is(CommandReady) || !bytes.Equal(cmd.Data, in) {
			t.Fatalf("command round trip: %v", err)
		}
	})
}
