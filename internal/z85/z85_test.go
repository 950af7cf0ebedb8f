package z85

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVectors(t *testing.T) {
	tests := []struct {
		name string
		bin  string // hex
		text string
	}{
		// RFC 32, "Test Case".
		{"rfc32 hello", "864fd26fb559f75b", "HelloWorld"},
		// RFC 32's 32-byte test data: the libzmq test server's secret key.
		{"server secret", "8e0bdd697628b91d8f245587ee95c5b04d48963f79259877b49cd9063aead3b7", "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"},
		// The libzmq test server's public key (zmq_curve(7)).
		{"server public", "54fcba24e93249969316fb617c872bb0c1d1ff14800427c594cbfacf1bc2d652", "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"},
		{"empty", "", ""},
		{"zero", "00000000", "00000"},
		{"max", "ffffffff", "%nSc0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin := mustHex(t, tt.bin)
			got, err := Encode(bin)
			if err != nil || got != tt.text {
				t.Fatalf("Encode = %q, %v; want %q", got, err, tt.text)
			}
			dec, err := Decode(tt.text)
			if err != nil || !bytes.Equal(dec, bin) {
				t.Fatalf("Decode = %x, %v; want %x", dec, err, bin)
			}
			if EncodedLen(len(bin)) != len(tt.text) || DecodedLen(len(tt.text)) != len(bin) {
				t.Fatal("EncodedLen/DecodedLen disagree")
			}
		})
	}
}

func TestEncodeBadLength(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 31, 33} {
		if _, err := Encode(make([]byte, n)); !errors.Is(err, ErrLength) {
			t.Errorf("Encode(%d bytes) err = %v, want ErrLength", n, err)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		in     string
		length bool
		at     int64
	}{
		{in: "Hell", length: true},
		{in: "HelloWorl", length: true},
		{in: "HelloW rld", at: 6},    // space is not in the alphabet
		{in: "Hello\"orld", at: 5},   // nor are quotes
		{in: "\\ello", at: 0},        // nor backslash
		{in: "HelloWorl\xff", at: 9}, // nor high bytes
		{in: "#####", at: 0},         // 85^5-1 overflows 32 bits
		{in: "00000%nSc1", at: 5},    // 2^32 exactly
	}
	for _, tt := range tests {
		_, err := Decode(tt.in)
		if tt.length {
			if !errors.Is(err, ErrLength) {
				t.Errorf("Decode(%q) err = %v, want ErrLength", tt.in, err)
			}
			continue
		}
		var ce CorruptInputError
		if !errors.As(err, &ce) || int64(ce) != tt.at {
			t.Errorf("Decode(%q) err = %v, want CorruptInputError(%d)", tt.in, err, tt.at)
		}
	}
}

func TestAppendDecodeKeepsDstOnError(t *testing.T) {
	dst := []byte("ab")
	out, err := AppendDecode(dst, "HelloWor d")
	if err == nil || string(out) != "ab" {
		t.Fatalf("AppendDecode = %q, %v", out, err)
	}
}

func TestRoundTripAllGroups(t *testing.T) {
	// Every byte value in every position of a group.
	for pos := range 4 {
		for v := range 256 {
			b := []byte{0x12, 0x34, 0x56, 0x78}
			b[pos] = byte(v)
			s, err := Encode(b)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(s)
			if err != nil || !bytes.Equal(got, b) {
				t.Fatalf("round trip of %x: %x, %v", b, got, err)
			}
		}
	}
}

// FuzzDecode checks that whatever decodes re-encodes to the same text, and
// that binary input survives a round trip.
func FuzzDecode(f *testing.F) {
	f.Add("HelloWorld")
	f.Add("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7")
	f.Add("#####")
	f.Add("%nSc0")
	f.Add("abc")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := Decode(s)
		if err == nil {
			back, err := Encode(b)
			if err != nil || back != s {
				t.Fatalf("Decode(%q) = %x re-encodes to %q, %v", s, b, back, err)
			}
		}
		// Treat the input as binary too.
		raw := []byte(s)
		raw = raw[:len(raw)/4*4]
		enc, err := Encode(raw)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := Decode(enc)
		if err != nil || !bytes.Equal(dec, raw) {
			t.Fatalf("round trip of %x: %x, %v", raw, dec, err)
		}
	})
}
