package zre

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestUUIDString(t *testing.T) {
	u := UUID{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00}
	if got, want := u.String(), "112233445566778899AABBCCDDEEFF00"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	if got := (UUID{}).String(); got != strings.Repeat("0", 32) {
		t.Fatalf("zero UUID = %q", got)
	}
}

func TestParseUUID(t *testing.T) {
	want := UUID{0x25, 0x8f, 0xa6, 0xbd, 0x6e, 0x88, 0x42, 0xdc, 0x93, 0xf4, 0x61, 0xde, 0xc3, 0x01, 0xec, 0xa4}
	for _, s := range []string{
		"258FA6BD6E8842DC93F461DEC301ECA4",
		"258fa6bd6e8842dc93f461dec301eca4",
		"258FA6BD-6E88-42DC-93F4-61DEC301ECA4",
	} {
		u, err := ParseUUID(s)
		if err != nil || u != want {
			t.Errorf("ParseUUID(%q) = %v, %v", s, u, err)
		}
		if u.String() != "258FA6BD6E8842DC93F461DEC301ECA4" {
			t.Errorf("round trip of %q = %q", s, u.String())
		}
	}
	for _, s := range []string{
		"",
		"258FA6BD6E8842DC93F461DEC301ECA",   // 31 digits
		"258FA6BD6E8842DC93F461DEC301ECA4F", // 33 digits
		"258FA6BD6E8842DC93F461DEC301ECAG",  // not hex
		"0x8FA6BD6E8842DC93F461DEC301ECA4",  // 32 chars, not hex
	} {
		if _, err := ParseUUID(s); !errors.Is(err, ErrBadUUID) {
			t.Errorf("ParseUUID(%q) error = %v, want ErrBadUUID", s, err)
		}
	}
}

func TestCommandString(t *testing.T) {
	want := map[Command]string{
		CmdHello: "HELLO", CmdWhisper: "WHISPER", CmdShout: "SHOUT", CmdJoin: "JOIN", CmdLeave: "LEAVE",
		CmdPing: "PING", CmdPingOK: "PING-OK", CmdElect: "ELECT", CmdLeader: "LEADER", CmdGoodbye: "GOODBYE",
		0: "UNKNOWN(0)", 11: "UNKNOWN(11)", 255: "UNKNOWN(255)",
	}
	for c, s := range want {
		if c.String() != s {
			t.Errorf("Command(%d).String() = %q, want %q", c, c.String(), s)
		}
	}
}

func TestErrorText(t *testing.T) {
	e := &Error{Command: CmdJoin, Sequence: 7, Err: ErrTrailingBytes}
	if got, want := e.Error(), "zre: trailing bytes after message (JOIN seq 7)"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, ErrTrailingBytes) || errors.Is(e, ErrTruncated) {
		t.Fatal("Unwrap does not expose exactly the sentinel")
	}
	e = &Error{Command: CmdHello, Sequence: 0, Err: errTruncated}
	if !errors.Is(e, ErrTruncated) || !errors.Is(e, io.ErrUnexpectedEOF) {
		t.Fatal("truncation error does not match both sentinels")
	}
}

// TestErrorTextFiveDigitSequence is a regression test: Error() used to
// panic (index out of range) for sequence numbers of five digits.
func TestErrorTextFiveDigitSequence(t *testing.T) {
	for seq, want := range map[uint16]string{
		0:     "zre: unknown command id (UNKNOWN(11) seq 0)",
		9999:  "zre: unknown command id (UNKNOWN(11) seq 9999)",
		10000: "zre: unknown command id (UNKNOWN(11) seq 10000)",
		65535: "zre: unknown command id (UNKNOWN(11) seq 65535)",
	} {
		e := &Error{Command: 11, Sequence: seq, Err: ErrUnknownCommand}
		if got := e.Error(); got != want {
			t.Errorf("Error() = %q, want %q", got, want)
		}
	}
}

func TestSeqAndSetSeq(t *testing.T) {
	msgs := []Message{&Hello{}, &Whisper{}, &Shout{}, &Join{}, &Leave{}, &Ping{}, &PingOK{}, &Elect{}, &Leader{}, &Goodbye{}}
	for i, m := range msgs {
		if m.Command() != Command(i+1) {
			t.Errorf("%T.Command() = %v, want %d", m, m.Command(), i+1)
		}
		m.SetSeq(0xBEEF)
		if m.Seq() != 0xBEEF {
			t.Errorf("%T: Seq after SetSeq = %d", m, m.Seq())
		}
		b, err := m.Append(nil)
		if err != nil || b[4] != 0xBE || b[5] != 0xEF {
			t.Errorf("%T: sequence not on the wire: %x, %v", m, b, err)
		}
	}
}

func TestContentOf(t *testing.T) {
	c := [][]byte{[]byte("a"), nil}
	if got := ContentOf(&Whisper{Content: c}); len(got) != 2 || &got[0][0] != &c[0][0] {
		t.Errorf("ContentOf(Whisper) = %q", got)
	}
	if got := ContentOf(&Shout{Content: c}); len(got) != 2 {
		t.Errorf("ContentOf(Shout) = %q", got)
	}
	if got := ContentOf(&Ping{}); got != nil {
		t.Errorf("ContentOf(Ping) = %q, want nil", got)
	}
}
