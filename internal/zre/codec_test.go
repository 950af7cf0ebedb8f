package zre

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// codecCase is one typed value and its exact frame 0 bytes.
type codecCase struct {
	name string
	msg  Message
	hex  string
}

// codecCases pins typed values to exact bytes. The hex strings come from
// the byte maps of the golden vectors (../shared/vectors/README.md), which C
// Zyre produced, plus a few edge cases built by hand.
func codecCases() []codecCase {
	return []codecCase{
		{"codec/hello", &Hello{
			Sequence: 1,
			Endpoint: "tcp://127.0.0.1:49152",
			Groups:   []string{"CHAT", "GLOBAL"},
			Status:   2,
			Name:     "alpha",
			Headers:  []Header{{"X-HELLO", "World"}, {"X-TYPE", "ref"}},
		}, "aaa101020001157463703a2f2f3132372e302e302e313a343931353200000002000000044348415400000006474c4f42414c0205616c7068610000000207582d48454c4c4f00000005576f726c6406582d5459504500000003726566"},
		{"codec/hello_minimal", &Hello{Sequence: 1, Endpoint: "tcp://127.0.0.1:5670"},
			"aaa101020001147463703a2f2f3132372e302e302e313a3536373000000000000000000000"},
		{"live/beta_to_alpha_01_HELLO", &Hello{Sequence: 1, Endpoint: "tcp://127.0.0.1:38893", Name: "beta"},
			"aaa101020001157463703a2f2f3132372e302e302e313a33383839330000000000046265746100000000"},
		{"hello_empty_values", &Hello{Sequence: 0x0102, Groups: []string{""}, Status: 255, Headers: []Header{{"", ""}}},
			"aaa10102" + "0102" + "00" + "00000001" + "00000000" + "ff" + "00" + "00000001" + "00" + "00000000"},
		{"codec/whisper", &Whisper{Sequence: 2}, "aaa102020002"},
		{"codec/whisper_empty_frame", &Whisper{Sequence: 3}, "aaa102020003"},
		{"codec/shout", &Shout{Sequence: 4, Group: "CHAT"}, "aaa1030200040443484154"},
		{"codec/shout_2frames", &Shout{Sequence: 5, Group: "GLOBAL"}, "aaa10302000506474c4f42414c"},
		{"shout_empty_group", &Shout{Sequence: 5}, "aaa10302000500"},
		{"codec/join", &Join{Sequence: 6, Group: "CHAT", Status: 3}, "aaa104020006044348415403"},
		{"live/alpha_to_beta_04_JOIN", &Join{Sequence: 4, Group: "VOTE", Status: 3}, "aaa10402000404564f544503"},
		{"codec/leave", &Leave{Sequence: 7, Group: "CHAT", Status: 4}, "aaa105020007044348415404"},
		{"codec/ping", &Ping{Sequence: 8}, "aaa106020008"},
		{"codec/ping_seq65535", &Ping{Sequence: 65535}, "aaa10602ffff"},
		{"codec/ping_ok", &PingOK{Sequence: 9}, "aaa107020009"},
		{"codec/elect", &Elect{Sequence: 10, Group: "CHAT", Challenger: "112233445566778899AABBCCDDEEFF00"},
			"aaa10802000a0443484154203131323233333434353536363737383839394141424243434444454546463030"},
		{"live/alpha_to_beta_05_ELECT", &Elect{Sequence: 5, Group: "VOTE", Challenger: "4EDFE427B2C44582BECE66BA7A7C7B39"},
			"aaa10802000504564f5445203445444645343237423243343435383242454345363642413741374337423339"},
		{"codec/leader", &Leader{Sequence: 11, Group: "CHAT", LeaderID: "112233445566778899AABBCCDDEEFF00"},
			"aaa10902000b0443484154203131323233333434353536363737383839394141424243434444454546463030"},
		{"live/beta_to_alpha_07_LEADER", &Leader{Sequence: 7, Group: "VOTE", LeaderID: "258FA6BD6E8842DC93F461DEC301ECA4"},
			"aaa10902000704564f5445203235384641364244364538383432444339334634363144454333303145434134"},
		{"codec/goodbye", &Goodbye{Sequence: 12}, "aaa10a02000c"},
		{"long_strings", &Hello{
			Sequence: 2,
			Endpoint: strings.Repeat("e", 255),
			Groups:   []string{strings.Repeat("g", 300)},
			Name:     strings.Repeat("n", 255),
			Headers:  []Header{{strings.Repeat("k", 255), strings.Repeat("v", 70000)}},
		}, "aaa101020002" + "ff" + strings.Repeat("65", 255) + "00000001" + "0000012c" + strings.Repeat("67", 300) +
			"00" + "ff" + strings.Repeat("6e", 255) + "00000001" + "ff" + strings.Repeat("6b", 255) + "00011170" + strings.Repeat("76", 70000)},
	}
}

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatalf("bad hex in test table: %v", err)
	}
	return b
}

func TestAppendExactBytes(t *testing.T) {
	for _, tc := range codecCases() {
		t.Run(tc.name, func(t *testing.T) {
			want := mustHex(t, tc.hex)
			if got := tc.msg.Len(); got != len(want) {
				t.Errorf("Len() = %d, want %d", got, len(want))
			}
			got, err := tc.msg.Append(nil)
			if err != nil {
				t.Fatalf("Append: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Append mismatch\n got %x\nwant %x", got, want)
			}
			// Appending after existing bytes keeps them.
			prefix := []byte("prefix")
			got, err = tc.msg.Append(prefix)
			if err != nil || !bytes.Equal(got[:6], []byte("prefix")) || !bytes.Equal(got[6:], want) {
				t.Fatalf("Append(prefix) = %x, %v", got, err)
			}
		})
	}
}

func TestParseExactBytes(t *testing.T) {
	for _, tc := range codecCases() {
		t.Run(tc.name, func(t *testing.T) {
			frame := mustHex(t, tc.hex)
			m, err := Parse(frame)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(m, tc.msg) {
				t.Fatalf("Parse = %#v\nwant %#v", m, tc.msg)
			}
			if m.Command() != tc.msg.Command() || m.Seq() != tc.msg.Seq() {
				t.Fatalf("command/seq = %v/%d", m.Command(), m.Seq())
			}
			c, seq, err := PeekHeader(frame)
			if err != nil || c != tc.msg.Command() || seq != tc.msg.Seq() {
				t.Fatalf("PeekHeader = %v, %d, %v", c, seq, err)
			}
			// The parsed strings must not alias the input buffer.
			for i := range frame {
				frame[i] = 0
			}
			if !reflect.DeepEqual(m, tc.msg) {
				t.Fatalf("parsed message changed when the input buffer was overwritten: %#v", m)
			}
		})
	}
}

// TestParseErrorsOnEOFs cuts every table entry at every length: each
// prefix must fail with an error that matches ErrTruncated and
// io.ErrUnexpectedEOF (and never panic).
func TestParseErrorsOnEOFs(t *testing.T) {
	for _, tc := range codecCases() {
		t.Run(tc.name, func(t *testing.T) {
			frame := mustHex(t, tc.hex)
			for n := range len(frame) {
				m, err := Parse(frame[:n])
				if err == nil {
					t.Fatalf("Parse(frame[:%d]) = %#v, want error", n, m)
				}
				if m != nil {
					t.Fatalf("Parse(frame[:%d]) returned a message with the error", n)
				}
				if !errors.Is(err, ErrTruncated) || !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("Parse(frame[:%d]) = %v, want ErrTruncated and io.ErrUnexpectedEOF", n, err)
				}
				var e *Error
				if n >= HeaderSize {
					if !errors.As(err, &e) || e.Command != tc.msg.Command() || e.Sequence != tc.msg.Seq() {
						t.Fatalf("Parse(frame[:%d]) = %#v, want *Error{%v, %d}", n, err, tc.msg.Command(), tc.msg.Seq())
					}
				} else if errors.As(err, &e) {
					t.Fatalf("Parse(frame[:%d]) = *Error before the header is readable", n)
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	huge := "aaa101020001" + "00" + "ffffffff"                                   // HELLO with 2^32-1 groups
	hugeHeaders := "aaa101020001" + "00" + "00000000" + "00" + "00" + "ffffffff" // HELLO with 2^32-1 headers
	tests := []struct {
		name   string
		hex    string
		want   error
		cmd    Command // when *Error is expected
		seq    uint16
		header bool // an *Error is expected
	}{
		{"empty", "", ErrTruncated, 0, 0, false},
		{"five bytes", "aaa1060200", ErrTruncated, 0, 0, false},
		{"bad signature", "aaa006020001", ErrBadSignature, 0, 0, false},
		{"zgossip signature", "aaa001020001", ErrBadSignature, 0, 0, false},
		{"swapped signature", "a1aa06020001", ErrBadSignature, 0, 0, false},
		{"short with bad signature", "0000", ErrTruncated, 0, 0, false},
		{"version 1", "aaa106010007", ErrBadVersion, CmdPing, 7, true},
		{"version 3", "aaa1060301f4", ErrBadVersion, CmdPing, 500, true},
		{"version 0 hello", "aaa101000001", ErrBadVersion, CmdHello, 1, true},
		{"id 0", "aaa100020009", ErrUnknownCommand, 0, 9, true},
		{"id 11", "aaa10b02abcd", ErrUnknownCommand, 11, 0xabcd, true},
		{"id 255", "aaa1ff020001", ErrUnknownCommand, 255, 1, true},
		{"huge group count", huge, ErrTooManyItems, CmdHello, 1, true},
		{"huge header count", hugeHeaders, ErrTooManyItems, CmdHello, 1, true},
		{"group count exceeds bytes", "aaa101020001" + "00" + "00000002" + "00000000" + "0000", ErrTooManyItems, CmdHello, 1, true},
		{"header count exceeds bytes", "aaa101020001" + "00" + "00000000" + "00" + "00" + "00000002" + "0000000000" + "0000", ErrTooManyItems, CmdHello, 1, true},
		{"longstr length beyond frame", "aaa101020001" + "00" + "00000001" + "ffffffff", ErrTruncated, CmdHello, 1, true},
		{"trailing byte ping", "aaa10602000800", ErrTrailingBytes, CmdPing, 8, true},
		{"trailing byte whisper", "aaa10202000800", ErrTrailingBytes, CmdWhisper, 8, true},
		{"trailing byte join", "aaa10402000604434841540300", ErrTrailingBytes, CmdJoin, 6, true},
		{"trailing bytes hello", "aaa101020001" + "00" + "00000000" + "00" + "00" + "00000000" + "deadbeef", ErrTrailingBytes, CmdHello, 1, true},
		{"trailing byte goodbye", "aaa10a02000cff", ErrTrailingBytes, CmdGoodbye, 12, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := mustHex(t, tt.hex)
			m, err := Parse(frame)
			if m != nil || err == nil {
				t.Fatalf("Parse = %#v, %v; want error", m, err)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse error = %v, want %v", err, tt.want)
			}
			e, ok := errors.AsType[*Error](err)
			if ok != tt.header {
				t.Fatalf("error %#v: *Error = %v, want %v", err, ok, tt.header)
			}
			if ok && (e.Command != tt.cmd || e.Sequence != tt.seq) {
				t.Fatalf("*Error = {%v, %d}, want {%v, %d}", e.Command, e.Sequence, tt.cmd, tt.seq)
			}
			if err.Error() == "" {
				t.Fatal("empty error text")
			}
		})
	}
}

// TestPeekHeader checks the header-only reader, including that it reports
// command and sequence alongside ErrBadVersion and ErrUnknownCommand.
func TestPeekHeader(t *testing.T) {
	tests := []struct {
		hex  string
		cmd  Command
		seq  uint16
		want error
	}{
		{"aaa101020001", CmdHello, 1, nil},
		{"aaa10a02ffff" + "ffff", CmdGoodbye, 65535, nil}, // body is not read
		{"aaa10b020102", 11, 0x0102, ErrUnknownCommand},
		{"aaa101030102", CmdHello, 0x0102, ErrBadVersion},
		{"aaa1010201", 0, 0, ErrTruncated},
		{"bbb101020001", 0, 0, ErrBadSignature},
	}
	for _, tt := range tests {
		c, seq, err := PeekHeader(mustHex(t, tt.hex))
		if c != tt.cmd || seq != tt.seq || !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("PeekHeader(%s) = %v, %d, %v; want %v, %d, %v", tt.hex, c, seq, err, tt.cmd, tt.seq, tt.want)
		}
	}
	if _, _, err := PeekHeader(nil); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("PeekHeader(nil) = %v, want io.ErrUnexpectedEOF", err)
	}
}

// TestParseHugeCountDoesNotAllocate feeds counts of 2^32-1 and checks that
// the parser rejects them before allocating anything sized by the count.
func TestParseHugeCountDoesNotAllocate(t *testing.T) {
	frames := [][]byte{
		mustHex(t, "aaa101020001"+"00"+"ffffffff"+strings.Repeat("00", 64)),
		mustHex(t, "aaa101020001"+"00"+"00000000"+"00"+"00"+"ffffffff"+strings.Repeat("00", 64)),
		mustHex(t, "aaa101020001"+"00"+"40000000"+strings.Repeat("00", 64)),
	}
	for _, frame := range frames {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		const runs = 100
		for range runs {
			if _, err := Parse(frame); !errors.Is(err, ErrTooManyItems) {
				t.Fatalf("Parse(%x) = %v, want ErrTooManyItems", frame, err)
			}
		}
		runtime.ReadMemStats(&after)
		if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 1024 {
			t.Errorf("Parse(%x) allocated %d bytes per call, want a small constant", frame[:11], per)
		}
	}
	// Also bounded relative to the input: a count that exactly fits the
	// bytes left is accepted and allocates in proportion to the frame only.
	frame := mustHex(t, "aaa101020001"+"00"+"00000003"+strings.Repeat("00000000", 3)+"00"+"00"+"00000000")
	m, err := Parse(frame)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.(*Hello).Groups; !reflect.DeepEqual(got, []string{"", "", ""}) {
		t.Fatalf("groups = %q", got)
	}
}

func TestAppendStringTooLong(t *testing.T) {
	long := strings.Repeat("x", 256)
	tests := []Message{
		&Shout{Sequence: 1, Group: long},
		&Join{Sequence: 1, Group: long},
		&Leave{Sequence: 1, Group: long},
		&Elect{Sequence: 1, Group: long, Challenger: "A"},
		&Elect{Sequence: 1, Group: "G", Challenger: long},
		&Leader{Sequence: 1, Group: long, LeaderID: "A"},
		&Leader{Sequence: 1, Group: "G", LeaderID: long},
		&Hello{Sequence: 1, Endpoint: long},
		&Hello{Sequence: 1, Name: long},
		&Hello{Sequence: 1, Headers: []Header{{"ok", "v"}, {long, "v"}}},
	}
	for _, m := range tests {
		buf := []byte("keep")
		out, err := m.Append(buf)
		if !errors.Is(err, ErrStringTooLong) {
			t.Errorf("%T Append err = %v, want ErrStringTooLong", m, err)
			continue
		}
		if string(out) != "keep" {
			t.Errorf("%T Append on error returned %q, want the input unchanged", m, out)
		}
		if !strings.Contains(err.Error(), "256") {
			t.Errorf("%T error %q does not say the length", m, err)
		}
	}
	// Long strings (HELLO groups, header values) may exceed 255.
	if _, err := (&Hello{Groups: []string{long}, Headers: []Header{{"k", long}}}).Append(nil); err != nil {
		t.Errorf("long group and header value: %v", err)
	}
}

func TestParseFrames(t *testing.T) {
	whisper := mustHex(t, "aaa102020002")
	shout := mustHex(t, "aaa1030200040443484154")
	ping := mustHex(t, "aaa106020008")
	c1, c2 := []byte("Hello"), []byte{0, 1, 2, 0xff}

	frames := [][]byte{whisper, c1, c2}
	m, err := ParseFrames(frames)
	if err != nil {
		t.Fatal(err)
	}
	w := m.(*Whisper)
	if w.Sequence != 2 || len(w.Content) != 2 || &w.Content[0][0] != &c1[0] || &w.Content[1][0] != &c2[0] {
		t.Fatalf("whisper = %#v; content must alias the input frames", w)
	}
	if !reflect.DeepEqual(ContentOf(m), [][]byte{c1, c2}) {
		t.Fatalf("ContentOf = %q", ContentOf(m))
	}

	m, err = ParseFrames([][]byte{shout, {}})
	if err != nil {
		t.Fatal(err)
	}
	if s := m.(*Shout); s.Group != "CHAT" || len(s.Content) != 1 || len(s.Content[0]) != 0 {
		t.Fatalf("shout = %#v", s)
	}

	m, err = ParseFrames([][]byte{whisper})
	if err != nil || m.(*Whisper).Content != nil {
		t.Fatalf("whisper without content = %#v, %v", m, err)
	}

	m, err = ParseFrames([][]byte{ping})
	if err != nil || !reflect.DeepEqual(m, &Ping{Sequence: 8}) {
		t.Fatalf("ping = %#v, %v", m, err)
	}

	m, err = ParseFrames([][]byte{ping, []byte("x")})
	e, ok := errors.AsType[*Error](err)
	if m != nil || !ok || !errors.Is(err, ErrNoContent) || e.Command != CmdPing || e.Sequence != 8 {
		t.Fatalf("ping with content = %#v, %v", m, err)
	}

	for _, in := range [][][]byte{nil, {}} {
		if m, err := ParseFrames(in); m != nil || !errors.Is(err, ErrTruncated) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("ParseFrames(%v) = %#v, %v; want ErrTruncated", in, m, err)
		}
	}

	if _, err := ParseFrames([][]byte{mustHex(t, "aaa106030008"), c1}); !errors.Is(err, ErrBadVersion) {
		t.Fatalf("bad version in frame 0: %v", err)
	}
}

func TestLenMatchesAppend(t *testing.T) {
	msgs := []Message{
		&Hello{}, &Whisper{Content: [][]byte{[]byte("not in frame 0")}}, &Shout{Group: "g", Content: [][]byte{{1}}},
		&Join{}, &Leave{}, &Ping{}, &PingOK{}, &Elect{}, &Leader{}, &Goodbye{},
	}
	for _, tc := range codecCases() {
		msgs = append(msgs, tc.msg)
	}
	for _, m := range msgs {
		b, err := m.Append(nil)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		if len(b) != m.Len() {
			t.Errorf("%T: len(Append(nil)) = %d, Len() = %d", m, len(b), m.Len())
		}
		back, err := Parse(b)
		if err != nil {
			t.Fatalf("%T: reparse: %v", m, err)
		}
		if back.Command() != m.Command() {
			t.Errorf("%T: reparsed as %v", m, back.Command())
		}
	}
}

func TestAppendDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 1<<17)
	for _, tc := range codecCases() {
		allocs := testing.AllocsPerRun(100, func() {
			var err error
			buf, err = tc.msg.Append(buf[:0])
			if err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: Append into a buffer with room made %v allocations, want 0", tc.name, allocs)
		}
	}
	// Without room it allocates once, however many fields there are.
	m := codecCases()[0].msg
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := m.Append(nil); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 1 {
		t.Errorf("Append(nil) of HELLO made %v allocations, want 1", allocs)
	}
}

// TestParseAllocations keeps parsing lean: the message struct, one copy of
// the frame for all its strings, and the group and header slices.
func TestParseAllocations(t *testing.T) {
	want := map[string]float64{
		"codec/hello":  4, // struct + string copy + groups + headers
		"codec/ping":   1,
		"codec/join":   2,
		"codec/elect":  2,
		"codec/shout":  2,
		"codec/leader": 2,
	}
	for _, tc := range codecCases() {
		w, ok := want[tc.name]
		if !ok {
			continue
		}
		frame := mustHex(t, tc.hex)
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := Parse(frame); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > w {
			t.Errorf("%s: Parse made %v allocations, want at most %v", tc.name, allocs, w)
		}
	}
}

func TestParserRecyclesWhisperAndShout(t *testing.T) {
	var p Parser
	w, _ := (&Whisper{Sequence: 7}).Append(nil)
	s, _ := (&Shout{Sequence: 8, Group: "G"}).Append(nil)
	content := []byte("x")
	frames := [][]byte{w, content}
	// Warm up, then parsing the traffic commands allocates nothing.
	p.ParseFrames(frames)
	p.Reset()
	allocs := testing.AllocsPerRun(100, func() {
		for range 20 {
			if m, err := p.ParseFrames(frames); err != nil || m.Seq() != 7 {
				t.Fatal(m, err)
			}
		}
		p.Reset()
	})
	if allocs != 0 {
		t.Errorf("WHISPER: %v allocations per round, want 0", allocs)
	}
	m, err := p.ParseFrames([][]byte{s, content})
	if sh, ok := m.(*Shout); err != nil || !ok || sh.Group != "G" || sh.Seq() != 8 || len(sh.Content) != 1 {
		t.Fatalf("SHOUT = %#v, %v", m, err)
	}
	p.Reset()
	if sh := m.(*Shout); sh.Group != "" || sh.Content != nil {
		t.Error("Reset kept the recycled message's references")
	}
}

// TestParserAllocations: once warmed up, a Parser parses WHISPER and
// SHOUT without allocating, group names included.
func TestParserAllocations(t *testing.T) {
	shout, err := (&Shout{Sequence: 7, Group: "GLOBAL"}).Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	whisper, err := (&Whisper{Sequence: 8}).Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("content")
	var p Parser
	for name, f0 := range map[string][]byte{"shout": shout, "whisper": whisper} {
		frames := [][]byte{f0, content}
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := p.ParseFrames(frames); err != nil {
				t.Fatal(err)
			}
			p.Reset()
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per message, want 0", name, allocs)
		}
	}
	m, err := p.ParseFrames([][]byte{shout, content})
	if err != nil || m.(*Shout).Group != "GLOBAL" || m.(*Shout).Sequence != 7 {
		t.Fatalf("parsed %+v, %v", m, err)
	}
}
