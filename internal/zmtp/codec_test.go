package zmtp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gozyre/zyre/internal/vectors"
)

// unhex turns a hex string with optional spaces into bytes.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGreetingVectors(t *testing.T) {
	set := vectors.Load(t)
	for _, tc := range []struct {
		file      string
		mechanism string
		padding   uint64
	}{
		{"zmtp/dealer_greeting.bin", "NULL", 0x12},
		{"zmtp/router_greeting.bin", "NULL", 0x01},
		{"curve/client_greeting.bin", "CURVE", 0x12},
		{"curve/server_greeting.bin", "CURVE", 0x01},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b := set.Read(t, tc.file)
			g, n, err := ParseGreeting(b)
			if err != nil {
				t.Fatal(err)
			}
			if n != GreetingSize {
				t.Fatalf("consumed %d", n)
			}
			want := Greeting{Padding: tc.padding, Major: 3, Minor: 1, Mechanism: tc.mechanism}
			if g != want {
				t.Fatalf("got %+v, want %+v", g, want)
			}
			if !g.SupportsHeartbeat() {
				t.Error("3.1 peer should support heartbeats")
			}
			enc, err := g.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, b) {
				t.Fatalf("re-encoded\n%x\nwant\n%x", enc, b)
			}
		})
	}
}

func TestGreetingEncode(t *testing.T) {
	g := Greeting{Padding: 1, Major: 3, Minor: 1, Mechanism: "NULL"}
	got, err := g.Append([]byte{0xAA})
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte{0xAA}, unhex(t, "ff00000000000000017f0301"+"4e554c4c"+strings.Repeat("00", 16)+"00"+strings.Repeat("00", 31))...)
	if !bytes.Equal(got, want) {
		t.Fatalf("got  %x\nwant %x", got, want)
	}
	for _, mech := range []string{"", "ABCDEFGHIJKLMNOPQRSTU", "NU\x00LL", "A B"} {
		g := Greeting{Major: 3, Minor: 1, Mechanism: mech}
		if _, err := g.Append(nil); !errors.Is(err, ErrBadGreeting) {
			t.Errorf("mechanism %q: err %v, want ErrBadGreeting", mech, err)
		}
	}
}

func mustGreeting(t testing.TB, g Greeting) []byte {
	t.Helper()
	b, err := g.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseGreetingErrors(t *testing.T) {
	good := mustGreeting(t, Greeting{Major: 3, Minor: 1, Mechanism: "NULL"})
	mod := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"http", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n" + strings.Repeat("x", 64)), ErrBadSignature},
		{"zmtp1", mod(func(b []byte) { b[9] = 0x00 }), ErrBadSignature},
		{"first byte only", []byte{0x01}, ErrBadSignature},
		{"major 2", mod(func(b []byte) { b[10] = 2 }), ErrVersion},
		{"major 2 short", mod(func(b []byte) { b[10] = 2 })[:11], ErrVersion},
		{"major 1", mod(func(b []byte) { b[10] = 1 }), ErrVersion},
		{"mechanism not NUL padded", mod(func(b []byte) { b[12+10] = 'X' }), ErrBadGreeting},
		{"mechanism empty", mod(func(b []byte) { copy(b[12:], "\x00\x00\x00\x00") }), ErrBadGreeting},
		{"mechanism control char", mod(func(b []byte) { b[12] = 0x01 }), ErrBadGreeting},
		{"truncated 63", good[:63], io.ErrUnexpectedEOF},
		{"empty", nil, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseGreeting(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseGreetingLenient(t *testing.T) {
	good := mustGreeting(t, Greeting{Major: 3, Minor: 1, Mechanism: "NULL"})
	// Any padding, minor 0, higher versions, filler junk, as-server 7.
	b := bytes.Clone(good)
	copy(b[1:9], "\xde\xad\xbe\xef\x01\x02\x03\x04")
	b[11] = 0
	b[40] = 0x55
	g, _, err := ParseGreeting(b)
	if err != nil {
		t.Fatal(err)
	}
	if g.Padding != 0xdeadbeef01020304 || g.Minor != 0 || g.SupportsHeartbeat() {
		t.Fatalf("got %+v", g)
	}
	b[10], b[11], b[32] = 4, 0, 7
	g, _, err = ParseGreeting(b)
	if err != nil {
		t.Fatal(err)
	}
	if g.Major != 4 || !g.AsServer || !g.SupportsHeartbeat() {
		t.Fatalf("got %+v", g)
	}
}

func TestGreetingTruncation(t *testing.T) {
	good := mustGreeting(t, Greeting{Padding: 0x12, Major: 3, Minor: 1, Mechanism: "CURVE", AsServer: true})
	for i := range len(good) {
		if _, _, err := ParseGreeting(good[:i]); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("prefix %d: err %v", i, err)
		}
	}
}

func TestFrameEncoding(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags Flags
		size  int
		hdr   string
	}{
		{"empty", 0, 0, "00 00"},
		{"one", 0, 1, "00 01"},
		{"more", FlagMore, 3, "01 03"},
		{"short max", 0, 255, "00 ff"},
		{"long min", 0, 256, "02 0000000000000100"},
		{"long more", FlagMore, 256, "03 0000000000000100"},
		{"command", FlagCommand, 6, "04 06"},
		{"long command", FlagCommand, 300, "06 000000000000012c"},
		{"forced long", FlagLong, 5, "02 0000000000000005"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := bytes.Repeat([]byte{0x5A}, tc.size)
			enc := AppendFrame(nil, tc.flags, body)
			want := append(unhex(t, tc.hdr), body...)
			if !bytes.Equal(enc, want) {
				t.Fatalf("got %x\nwant %x", enc[:min(len(enc), 12)], want[:min(len(want), 12)])
			}
			if got := FrameHeaderLen(tc.flags, tc.size); got != len(want)-tc.size {
				t.Fatalf("FrameHeaderLen %d", got)
			}
			f, n, err := ParseFrame(enc, -1)
			if err != nil || n != len(enc) || !bytes.Equal(f.Body, body) {
				t.Fatalf("ParseFrame: %v n=%d", err, n)
			}
			if re := AppendFrame(nil, f.Flags, f.Body); !bytes.Equal(re, enc) {
				t.Fatal("parsed frame does not re-encode identically")
			}
			// The FrameWriter chooses the size form itself.
			var buf bytes.Buffer
			w := NewFrameWriter(&buf, 0)
			if err := w.WriteFrame(tc.flags, body); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			canon := AppendFrame(nil, tc.flags&^FlagLong, body)
			if !bytes.Equal(buf.Bytes(), canon) {
				t.Fatalf("FrameWriter wrote %x", buf.Bytes()[:min(buf.Len(), 12)])
			}
			r := NewFrameReader(bytes.NewReader(enc), 0, -1)
			rf, err := r.ReadFrame()
			if err != nil || rf.Flags != f.Flags || !bytes.Equal(rf.Body, body) {
				t.Fatalf("ReadFrame: %v %+v", err, rf.Flags)
			}
			if _, err := r.ReadFrame(); err != io.EOF {
				t.Fatalf("after last frame: %v, want io.EOF", err)
			}
		})
	}
}

func TestParseFrameErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		max  int64
		want error
	}{
		{"reserved bit 3", "08 00", -1, ErrBadFrame},
		{"reserved bit 7", "80 00", -1, ErrBadFrame},
		{"command with more", "05 01 00", -1, ErrBadFrame},
		{"too large short", "00 05 0102030405", 4, ErrTooLarge},
		{"too large long", "02 0000000000100000", 1 << 10, ErrTooLarge},
		{"2^63", "02 8000000000000000", -1, ErrTooLarge},
		{"2^64-1", "02 ffffffffffffffff", DefaultMaxMessageSize, ErrTooLarge},
		{"short body", "00 05 0102", -1, io.ErrUnexpectedEOF},
		{"short size", "02 0000", -1, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := unhex(t, tc.in)
			_, _, err := ParseFrame(in, tc.max)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseFrame: %v, want %v", err, tc.want)
			}
			r := NewFrameReader(bytes.NewReader(in), 0, tc.max)
			_, _, err = r.ReadMessage()
			if !errors.Is(err, tc.want) {
				t.Fatalf("ReadMessage: %v, want %v", err, tc.want)
			}
			if _, _, err2 := r.ReadMessage(); err2 != err {
				t.Fatalf("error not sticky: %v then %v", err, err2)
			}
			var tl *TooLargeError
			if errors.As(err, &tl) && tl.Limit != tc.max {
				t.Fatalf("TooLargeError limit %d", tl.Limit)
			}
		})
	}
}

// encodeMessages encodes messages (and commands, as single-element
// entries whose frame starts with a command marker) as a byte stream.
func encodeStream(t testing.TB, msgs [][][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewFrameWriter(&buf, 64)
	for _, m := range msgs {
		if err := w.WriteMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sampleMessages() [][][]byte {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<12) // 64 KiB
	return [][][]byte{
		{[]byte("hello")},
		{{}, {}},
		{bytes.Repeat([]byte{1}, 255), bytes.Repeat([]byte{2}, 256), []byte("tail")},
		{big},
		{[]byte("a"), big[:20000], []byte("b")},
	}
}

func TestFrameReaderMessages(t *testing.T) {
	msgs := sampleMessages()
	stream := encodeStream(t, msgs)
	// Commands between messages and between the frames of a message.
	ping := AppendFrame(nil, FlagCommand, []byte("\x04PING\x00\x0aok"))
	var mixed []byte
	mixed = append(mixed, ping...)
	mixed = append(mixed, AppendFrame(nil, FlagMore, []byte("x"))...)
	mixed = append(mixed, ping...)
	mixed = append(mixed, AppendFrame(nil, 0, []byte("y"))...)
	for name, rd := range map[string]func([]byte) io.Reader{
		"whole":    func(b []byte) io.Reader { return bytes.NewReader(b) },
		"one byte": func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		"half":     func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) },
		"data err": func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) },
	} {
		t.Run(name, func(t *testing.T) {
			r := NewFrameReader(rd(stream), 1024, 0)
			for i, want := range msgs {
				got, cmd, err := r.ReadMessage()
				if err != nil || cmd != nil {
					t.Fatalf("message %d: %v cmd=%x", i, err, cmd)
				}
				if len(got) != len(want) {
					t.Fatalf("message %d: %d frames, want %d", i, len(got), len(want))
				}
				for j := range want {
					if !bytes.Equal(got[j], want[j]) {
						t.Fatalf("message %d frame %d differs", i, j)
					}
					if got[j] == nil {
						t.Fatalf("message %d frame %d is nil", i, j)
					}
				}
			}
			if _, _, err := r.ReadMessage(); err != io.EOF {
				t.Fatalf("end: %v", err)
			}

			r = NewFrameReader(rd(mixed), 1024, 0)
			var seq []string
			for {
				msg, cmd, err := r.ReadMessage()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if cmd != nil {
					seq = append(seq, "cmd")
				} else {
					seq = append(seq, string(bytes.Join(msg, []byte("|"))))
				}
			}
			if got := strings.Join(seq, ","); got != "cmd,cmd,x|y" {
				t.Fatalf("sequence %s", got)
			}
		})
	}
}

func TestFrameReaderOwnership(t *testing.T) {
	// Frames handed out must not alias each other or the read buffer,
	// and appending to one must not clobber another.
	var msgs [][][]byte
	for i := range 200 {
		msgs = append(msgs, [][]byte{bytes.Repeat([]byte{byte(i)}, i%40), []byte{byte(i)}})
	}
	stream := encodeStream(t, msgs)
	r := NewFrameReader(bytes.NewReader(stream), 128, 0)
	var got [][][]byte
	for {
		m, _, err := r.ReadMessage()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		m[0] = append(m[0], 0xEE, 0xEE) // must reallocate, not overwrite a neighbour
		got = append(got, m)
	}
	for i, m := range got {
		want := append(bytes.Repeat([]byte{byte(i)}, i%40), 0xEE, 0xEE)
		if !bytes.Equal(m[0], want) || !bytes.Equal(m[1], []byte{byte(i)}) {
			t.Fatalf("message %d corrupted: %x %x", i, m[0], m[1])
		}
	}
}

func TestFrameReaderLimit(t *testing.T) {
	// Multipart sum over the limit.
	stream := encodeStream(t, [][][]byte{{make([]byte, 60), make([]byte, 60)}})
	r := NewFrameReader(bytes.NewReader(stream), 0, 100)
	if _, _, err := r.ReadMessage(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("multipart over limit: %v", err)
	}
	// Exactly at the limit is fine; the count resets per message.
	stream = encodeStream(t, [][][]byte{{make([]byte, 50), make([]byte, 50)}, {make([]byte, 100)}})
	r = NewFrameReader(bytes.NewReader(stream), 0, 100)
	for range 2 {
		if _, _, err := r.ReadMessage(); err != nil {
			t.Fatal(err)
		}
	}
	// The declared size is checked before any body byte arrives.
	r = NewFrameReader(bytes.NewReader(unhex(t, "02 0000000020000000")), 0, 1<<20)
	if _, err := r.ReadFrame(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("declared size: %v", err)
	}
	// Unlimited: a huge declared size with no body is a truncation, and
	// nothing near that size is allocated up front.
	r = NewFrameReader(bytes.NewReader(unhex(t, "02 0000010000000000 00")), 0, -1)
	if _, err := r.ReadFrame(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("unlimited huge frame: %v", err)
	}
	// A body bigger than the eager allocation limit still arrives intact.
	body := bytes.Repeat([]byte("xyz"), (eagerAlloc+1000)/3)
	r = NewFrameReader(bytes.NewReader(AppendFrame(nil, 0, body)), 0, -1)
	f, err := r.ReadFrame()
	if err != nil || !bytes.Equal(f.Body, body) {
		t.Fatalf("growing read: %v", err)
	}
}

// TestTruncation checks that every proper prefix of valid encoded input
// fails with an error matching io.ErrUnexpectedEOF and never panics.
func TestTruncation(t *testing.T) {
	// Build a stream and remember the message boundaries, where a clean
	// io.EOF is the right answer.
	var stream []byte
	boundaries := map[int]bool{0: true}
	for _, m := range sampleMessages()[:3] {
		stream = append(stream, encodeStream(t, [][][]byte{m})...)
		boundaries[len(stream)] = true
	}
	stream = append(stream, AppendFrame(nil, FlagCommand, []byte("\x04PING\x00\x01"))...)
	boundaries[len(stream)] = true
	stream = append(stream, AppendFrame(nil, FlagMore, []byte("m1"))...)
	stream = append(stream, AppendFrame(nil, FlagLong, make([]byte, 300))...)
	boundaries[len(stream)] = true
	for i := range len(stream) {
		r := NewFrameReader(bytes.NewReader(stream[:i]), 16, 0)
		var err error
		for err == nil {
			_, _, err = r.ReadMessage()
		}
		if boundaries[i] {
			if err != io.EOF {
				t.Fatalf("prefix %d (boundary): %v, want io.EOF", i, err)
			}
			continue
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("prefix %d: %v", i, err)
		}
	}
	for i := 1; i < len(stream); i++ {
		var err error
		b := stream[:i]
		for err == nil && len(b) > 0 {
			var n int
			_, n, err = ParseFrame(b, -1)
			b = b[n:]
		}
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("ParseFrame prefix %d: %v", i, err)
		}
	}
}

func TestCommands(t *testing.T) {
	body, err := AppendCommand(nil, "READY", []byte{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, []byte("\x05READY\x01\x02")) {
		t.Fatalf("%q", body)
	}
	cmd, err := ParseCommand(body)
	if err != nil || cmd.Name != "READY" || !bytes.Equal(cmd.Data, []byte{1, 2}) || !cmd.Is(CommandReady) {
		t.Fatalf("%+v %v", cmd, err)
	}
	for i := range len(body) - 2 {
		if _, err := ParseCommand(body[:i]); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("prefix %d: %v", i, err)
		}
	}
	if _, err := ParseCommand([]byte{0, 'x'}); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("empty name: %v", err)
	}
	if _, err := AppendCommand(nil, "", nil); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("empty name: %v", err)
	}
	if _, err := AppendCommand(nil, strings.Repeat("x", 256), nil); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("long name: %v", err)
	}

	ttl, ctx, err := parsePing(appendPing(nil, 300, []byte("0123456789abcdefXYZ")))
	if err != nil || ttl != 300 || string(ctx) != "0123456789abcdef" {
		t.Fatalf("ping: %d %q %v", ttl, ctx, err)
	}
	if _, _, err := parsePing([]byte{1}); !errors.Is(err, ErrBadCommand) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short ping: %v", err)
	}
	if pe := parseErrorData(appendErrorData(nil, "bad thing")); pe.Reason != "bad thing" {
		t.Fatalf("error: %q", pe.Reason)
	}
	if pe := parseErrorData([]byte{200, 'a', 'b'}); pe.Reason != "ab" {
		t.Fatalf("short error: %q", pe.Reason)
	}
	if pe := parseErrorData(nil); pe.Reason != "" || !errors.Is(pe, ErrPeer) {
		t.Fatalf("empty error: %+v", pe)
	}
}

func TestReadyVectors(t *testing.T) {
	set := vectors.Load(t)
	for _, tc := range []struct {
		file     string
		typ      string
		identity string
	}{
		{"zmtp/dealer_ready.bin", "DEALER", "014edfe427b2c44582bece66ba7a7c7b39"},
		{"zmtp/router_ready.bin", "ROUTER", ""},
		{"zmtp/staged/listener_sent_ready.bin", "ROUTER", ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b := set.Read(t, tc.file)
			f, n, err := ParseFrame(b, 0)
			if err != nil || n != len(b) || !f.IsCommand() {
				t.Fatalf("frame: %v n=%d flags=%v", err, n, f.Flags)
			}
			cmd, err := ParseCommand(f.Body)
			if err != nil || !cmd.Is(CommandReady) {
				t.Fatalf("command: %v %q", err, cmd.Name)
			}
			md, err := ParseMetadata(cmd.Data)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := md.Get("socket-type") // case-insensitive
			id, ok := md.Get("IDENTITY")
			if string(st) != tc.typ || !ok || hex.EncodeToString(id) != tc.identity {
				t.Fatalf("Socket-Type %q Identity %x (ok %v)", st, id, ok)
			}
			// Re-encode the metadata, the command and the frame.
			data, err := AppendMetadata(nil, md)
			if err != nil || len(data) != md.Len() {
				t.Fatal(err)
			}
			body, _ := AppendCommand(nil, cmd.Name, data)
			if re := AppendFrame(nil, f.Flags, body); !bytes.Equal(re, b) {
				t.Fatalf("re-encoded %x\nwant %x", re, b)
			}
			// What Conn sends for the same socket type and identity.
			cfg := Config{SocketType: SocketType(tc.typ), Identity: id}
			data, _ = AppendMetadata(nil, cfg.localMetadata())
			body, _ = AppendCommand(nil, CommandReady, data)
			if ours := AppendFrame(nil, FlagCommand, body); !bytes.Equal(ours, b) {
				t.Fatalf("our READY %x\nwant      %x", ours, b)
			}
		})
	}
}

func TestMetadata(t *testing.T) {
	md := Metadata{
		{Name: "Socket-Type", Value: []byte("DEALER")},
		{Name: "Identity", Value: nil},
		{Name: "X-Big", Value: bytes.Repeat([]byte{7}, 300)},
		{Name: "x-big", Value: []byte("second, shadowed")},
	}
	b, err := AppendMetadata(nil, md)
	if err != nil || len(b) != md.Len() {
		t.Fatal(err)
	}
	got, err := ParseMetadata(b)
	if err != nil || len(got) != 4 {
		t.Fatal(err)
	}
	if v, _ := got.Get("X-BIG"); len(v) != 300 {
		t.Fatalf("Get: first match wins, got %d bytes", len(v))
	}
	if _, ok := got.Get("Missing"); ok {
		t.Fatal("found a missing property")
	}
	for i := 1; i < len(b); i++ {
		_, err := ParseMetadata(b[:i])
		// A prefix may end exactly at a property boundary.
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("prefix %d: %v", i, err)
		}
	}
	for _, tc := range []struct {
		name string
		in   string
	}{
		{"empty name", "00 00000000"},
		{"name past end", "05 4142"},
		{"value length past end", "01 41 000000ff 00"},
		{"value length 2^32-1", "01 41 ffffffff"},
		{"missing length", "01 41 0000"},
	} {
		if _, err := ParseMetadata(unhex(t, tc.in)); !errors.Is(err, ErrBadMetadata) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, err := AppendMetadata(nil, Metadata{{Name: ""}}); !errors.Is(err, ErrBadMetadata) {
		t.Errorf("encode empty name: %v", err)
	}
	if _, err := AppendMetadata(nil, Metadata{{Name: strings.Repeat("n", 256)}}); !errors.Is(err, ErrBadMetadata) {
		t.Errorf("encode long name: %v", err)
	}
}

func TestFrameWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewFrameWriter(&buf, 32)
	if err := w.WriteMessage(nil); !errors.Is(err, ErrEmptyMessage) {
		t.Fatal(err)
	}
	// Small frames are buffered until Flush.
	if err := w.WriteMessage([][]byte{[]byte("ab"), []byte("cd")}); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 || w.Buffered() != 8 {
		t.Fatalf("buffered %d, written %d", w.Buffered(), buf.Len())
	}
	// A frame that does not fit pushes the buffer out first.
	if err := w.WriteFrame(0, make([]byte, 30)); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 8 {
		t.Fatalf("written %d", buf.Len())
	}
	if err := w.WriteCommand("PING", []byte{0, 0}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteCommand("", nil); !errors.Is(err, ErrBadCommand) {
		t.Fatal(err)
	}
	big := make([]byte, largeWrite+5)
	if err := w.WriteFrame(FlagMore, big); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame(0, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	var want []byte
	want = AppendFrame(want, FlagMore, []byte("ab"))
	want = AppendFrame(want, 0, []byte("cd"))
	want = AppendFrame(want, 0, make([]byte, 30))
	want = AppendFrame(want, FlagCommand, []byte("\x04PING\x00\x00"))
	want = AppendFrame(want, FlagMore, big)
	want = AppendFrame(want, 0, nil)
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatal("stream differs")
	}
	// Errors are sticky.
	w = NewFrameWriter(errWriter{}, 16)
	_ = w.WriteFrame(0, make([]byte, 20))
	if err := w.Flush(); err == nil || w.WriteFrame(0, nil) == nil {
		t.Fatal("write error not sticky")
	}
}

// A long frame reaches the writer in pieces of at most writeChunk, and
// Written counts every byte, so a slow link shows progress.
func TestFrameWriterPieces(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  int
		codec bool
	}{
		{"buffered", 100, false},
		{"direct", largeWrite, false},
		{"one piece", writeChunk, false},
		{"two pieces", writeChunk + 1, false},
		{"four pieces", 3*writeChunk + 7, false},
		{"codec small", 100, true},
		{"codec four pieces", 3*writeChunk + 7, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rw recordingWriter
			w := NewFrameWriter(&rw, 0)
			if tc.codec {
				w.codec = &toyCodec{}
			}
			body := bytes.Repeat([]byte("0123456789"), tc.size/10+1)[:tc.size]
			if err := w.WriteMessage([][]byte{[]byte("head"), body}); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if got := uint64(rw.buf.Len()); w.Written() != got {
				t.Errorf("Written %d, the writer took %d", w.Written(), got)
			}
			for i, n := range rw.calls {
				if n > writeChunk {
					t.Errorf("write %d of %d bytes, more than %d", i, n, writeChunk)
				}
			}
			r := NewFrameReader(&rw.buf, 0, -1)
			if tc.codec {
				r.setCodec(&toyCodec{})
			}
			msg, _, err := r.ReadMessage()
			if err != nil || len(msg) != 2 || string(msg[0]) != "head" || !bytes.Equal(msg[1], body) {
				t.Fatalf("read back: %d frames, err %v", len(msg), err)
			}
		})
	}
}

// recordingWriter keeps what it is given and the size of each call.
type recordingWriter struct {
	buf   bytes.Buffer
	calls []int
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.calls = append(w.calls, len(p))
	return w.buf.Write(p)
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("boom") }

// TestNoRetention: messages the caller dropped must not be kept alive by
// the reader (a shared chunk of frame lists once pinned every large body
// it pointed to).
func TestNoRetention(t *testing.T) {
	for _, multi := range []bool{false, true} {
		var stream []byte
		if multi {
			stream = encodeStream(t, [][][]byte{{[]byte("h"), make([]byte, 1<<20)}})
		} else {
			stream = AppendFrame(nil, 0, make([]byte, 1<<20))
		}
		r := NewFrameReader(&loopReader{b: stream}, 0, 0)
		for range 200 {
			if _, _, err := r.ReadMessage(); err != nil {
				t.Fatal(err)
			}
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > 64<<20 {
			t.Fatalf("multi=%v: %d MiB still allocated after reading and dropping 200 MiB", multi, ms.HeapAlloc>>20)
		}
		runtime.KeepAlive(r)
	}
}
