package gossip

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/gozyre/zyre/internal/zre"
)

type codecCase struct {
	name string
	msg  Message
	hex  string // exact encoding
}

func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func hexOf(s string) string { return hex.EncodeToString([]byte(s)) }

// codecCases are typed values and their exact wire bytes. The two node
// tuples are the PUBLISH frames of the live capture (gossip/raw_*.bin).
func codecCases() []codecCase {
	long := strings.Repeat("k", 255)
	return []codecCase{
		{"hello", &Hello{}, "aaa00101"},
		{"ping", &Ping{}, "aaa00301"},
		{"pong", &Pong{}, "aaa00401"},
		{"invalid", &Invalid{}, "aaa00501"},
		{"publish", &Publish{Key: "k", Value: "v", TTL: 30000}, "aaa00201 01 6b 00000001 76 00007530"},
		{"publish_empty_key", &Publish{Key: "", Value: "v", TTL: 1}, "aaa00201 00 00000001 76 00000001"},
		{"withdrawal", Withdrawal("258FA6BD6E8842DC93F461DEC301ECA4"),
			"aaa00201 20" + hexOf("258FA6BD6E8842DC93F461DEC301ECA4") + "00000000 00000000"},
		{"publish_ttl_max", &Publish{Key: "a", Value: "b", TTL: 0xFFFFFFFF}, "aaa00201 01 61 00000001 62 ffffffff"},
		{"publish_key_255", &Publish{Key: long, Value: "tcp://10.0.0.1:49152", TTL: 0},
			"aaa00201 ff" + hexOf(long) + "00000014" + hexOf("tcp://10.0.0.1:49152") + "00000000"},
		{"publish_value_binary", &Publish{Key: "k\x00", Value: "\x00\xff|", TTL: 7}, "aaa00201 02 6b00 00000003 00ff7c 00000007"},
		{"capture_beta", &Publish{Key: "258FA6BD6E8842DC93F461DEC301ECA4", Value: "tcp://127.0.0.1:38893"},
			"aaa00201 20" + hexOf("258FA6BD6E8842DC93F461DEC301ECA4") + "00000015" + hexOf("tcp://127.0.0.1:38893") + "00000000"},
		{"capture_alpha", &Publish{Key: "4EDFE427B2C44582BECE66BA7A7C7B39", Value: "tcp://127.0.0.1:33305"},
			"aaa00201 20" + hexOf("4EDFE427B2C44582BECE66BA7A7C7B39") + "00000015" + hexOf("tcp://127.0.0.1:33305") + "00000000"},
		{"curve_value", &Publish{Key: "4EDFE427B2C44582BECE66BA7A7C7B39", Value: "tcp://10.1.2.3:49152|rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", TTL: 30000},
			"aaa00201 20" + hexOf("4EDFE427B2C44582BECE66BA7A7C7B39") + "0000003d" + hexOf("tcp://10.1.2.3:49152|rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7") + "00007530"},
	}
}

func TestCodecTable(t *testing.T) {
	for _, tc := range codecCases() {
		t.Run(tc.name, func(t *testing.T) {
			want := h(tc.hex)
			got, err := tc.msg.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Append\n got %x\nwant %x", got, want)
			}
			if tc.msg.Len() != len(want) {
				t.Fatalf("Len() = %d, encoding has %d bytes", tc.msg.Len(), len(want))
			}
			// Append extends a buffer without touching its prefix.
			pre := []byte("prefix")
			got2, err := tc.msg.Append(pre)
			if err != nil || !bytes.Equal(got2[:6], []byte("prefix")) || !bytes.Equal(got2[6:], want) {
				t.Fatalf("Append(prefix) = %x, %v", got2, err)
			}
			m, err := Parse(want)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(m, tc.msg) {
				t.Fatalf("Parse = %#v, want %#v", m, tc.msg)
			}
			if m.Command() != tc.msg.Command() {
				t.Fatalf("Command() = %v", m.Command())
			}
			if m2, err := ParseFrames([][]byte{want}); err != nil || !reflect.DeepEqual(m2, tc.msg) {
				t.Fatalf("ParseFrames = %#v, %v", m2, err)
			}
		})
	}
}

// Every strict prefix of a valid encoding fails with ErrTruncated (which
// also matches io.ErrUnexpectedEOF) and never panics.
func TestParseEveryPrefixTruncated(t *testing.T) {
	for _, tc := range codecCases() {
		b := h(tc.hex)
		for i := range len(b) {
			m, err := Parse(b[:i])
			if m != nil || !errors.Is(err, ErrTruncated) || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%s: Parse(first %d of %d bytes) = %v, %v; want ErrTruncated", tc.name, i, len(b), m, err)
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		hex  string
		want error
	}{
		{"bad first byte", "ab", ErrBadSignature},
		{"bad first byte long", "aba00101", ErrBadSignature},
		{"zre signature", "aaa1010100", ErrBadSignature},
		{"id 0", "aaa00001", ErrUnknownCommand},
		{"id 6 (no UNPUBLISH on the wire)", "aaa00601", ErrUnknownCommand},
		{"id 255", "aaa0ff", ErrUnknownCommand},
		{"version 0", "aaa00100", ErrBadVersion},
		{"version 2", "aaa00202", ErrBadVersion},
		{"hello trailing", "aaa0010100", ErrTrailingBytes},
		{"invalid trailing", "aaa00501ff", ErrTrailingBytes},
		{"publish trailing", "aaa00201 016b 00000001 76 00000000 00", ErrTrailingBytes},
		{"publish huge value length", "aaa00201 016b ffffffff 76 00000000", ErrTruncated},
		{"publish key past end", "aaa00201 ff6b", ErrTruncated},
		{"publish no ttl", "aaa00201 016b 00000001 76", ErrTruncated},
		{"empty", "", ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse(h(tc.hex))
			if m != nil || !errors.Is(err, tc.want) {
				t.Fatalf("Parse(%s) = %v, %v; want %v", tc.hex, m, err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "gossip: ") {
				t.Fatalf("error text %q lacks the gossip: prefix", err)
			}
		})
	}
}

func TestParseFramesCount(t *testing.T) {
	hello := h("aaa00101")
	for _, frames := range [][][]byte{nil, {}, {hello, hello}, {{0x01, 0x02}, hello}} {
		if m, err := ParseFrames(frames); m != nil || !errors.Is(err, ErrFrameCount) {
			t.Fatalf("ParseFrames(%d frames) = %v, %v", len(frames), m, err)
		}
	}
}

func TestAppendErrors(t *testing.T) {
	p := &Publish{Key: strings.Repeat("x", 256), Value: "v"}
	buf := []byte("keep")
	got, err := p.Append(buf)
	if !errors.Is(err, ErrKeyTooLong) || string(got) != "keep" {
		t.Fatalf("Append(256-byte key) = %q, %v", got, err)
	}
}

func TestParseDoesNotAlias(t *testing.T) {
	b := h(codecCases()[10].hex)
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	want := *m.(*Publish)
	for i := range b {
		b[i] = 0
	}
	if *m.(*Publish) != want {
		t.Fatalf("parsed message changed with its input: %#v", m)
	}
}

func TestAppendDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 1024)
	for _, tc := range codecCases() {
		n := testing.AllocsPerRun(100, func() {
			var err error
			buf, err = tc.msg.Append(buf[:0])
			if err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Errorf("%s: Append allocates %.0f times", tc.name, n)
		}
	}
}

func TestCommandString(t *testing.T) {
	for c, want := range map[Command]string{CmdHello: "HELLO", CmdPublish: "PUBLISH", CmdPing: "PING", CmdPong: "PONG", CmdInvalid: "INVALID", 6: "UNKNOWN(6)"} {
		if c.String() != want {
			t.Errorf("%d.String() = %q, want %q", c, c.String(), want)
		}
	}
}

func TestPublishHelpers(t *testing.T) {
	p := &Publish{Key: "k", Value: "v", TTL: 1500}
	if p.IsWithdrawal() || p.TTLDuration().Milliseconds() != 1500 {
		t.Fatalf("%#v: IsWithdrawal %v, TTLDuration %v", p, p.IsWithdrawal(), p.TTLDuration())
	}
	if w := Withdrawal("k"); !w.IsWithdrawal() || w.TTL != 0 || w.Key != "k" {
		t.Fatalf("Withdrawal = %#v", w)
	}
}

func TestNodeTuple(t *testing.T) {
	id, err := zre.ParseUUID("258FA6BD6E8842DC93F461DEC301ECA4")
	if err != nil {
		t.Fatal(err)
	}
	const key32 = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
	for _, tc := range []struct {
		endpoint, key, value string
	}{
		{"tcp://127.0.0.1:38893", "", "tcp://127.0.0.1:38893"},
		{"tcp://10.1.2.3:49152", key32, "tcp://10.1.2.3:49152|" + key32},
	} {
		k, v := NodeTuple(id, tc.endpoint, tc.key)
		if k != "258FA6BD6E8842DC93F461DEC301ECA4" || v != tc.value {
			t.Fatalf("NodeTuple = %q, %q", k, v)
		}
		gid, ep, pk, err := ParseNodeTuple(k, v)
		if err != nil || gid != id || ep != tc.endpoint || pk != tc.key {
			t.Fatalf("ParseNodeTuple(%q, %q) = %v %q %q %v", k, v, gid, ep, pk, err)
		}
	}
	for _, bad := range [][2]string{
		{"nothex", "tcp://x:1"},
		{"258FA6BD6E8842DC93F461DEC301ECA4", ""},
		{"258FA6BD6E8842DC93F461DEC301ECA4", "|key"},
	} {
		if _, _, _, err := ParseNodeTuple(bad[0], bad[1]); !errors.Is(err, ErrBadTuple) {
			t.Fatalf("ParseNodeTuple(%q, %q) err = %v", bad[0], bad[1], err)
		}
	}
}

func TestValidateTuple(t *testing.T) {
	for _, tc := range []struct {
		key, value string
		want       error
	}{
		{"k", "v", nil},
		{strings.Repeat("k", 255), "v", nil},
		{strings.Repeat("k", 256), "v", ErrKeyTooLong},
		{"", "v", ErrBadTuple},
		{"k", "", ErrEmptyValue},
	} {
		if err := ValidateTuple(tc.key, tc.value); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("ValidateTuple(%d-byte key, %q) = %v, want %v", len(tc.key), tc.value, err, tc.want)
		}
	}
}
