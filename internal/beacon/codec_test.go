package beacon

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/gozyre/zyre/internal/vectors"
	"github.com/gozyre/zyre/internal/zre"
)

var (
	testID  = zre.UUID{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00}
	testKey = [32]byte{
		0x4e, 0xa7, 0x57, 0xec, 0x55, 0x74, 0x63, 0xfb, 0x92, 0x61, 0x7e, 0xcb, 0xec, 0x10, 0xa6, 0x9b,
		0xbd, 0x1f, 0x55, 0x16, 0x49, 0x15, 0xdc, 0x89, 0x8e, 0xa4, 0xf8, 0x8e, 0x51, 0xb0, 0x1d, 0x41,
	}
)

// beaconCases pins typed beacons to exact bytes.
func beaconCases() []struct {
	name string
	b    Beacon
	hex  string
} {
	return []struct {
		name string
		b    Beacon
		hex  string
	}{
		{"v1", Beacon{Version: 1, ID: testID, Port: 49152}, "5a524501" + "112233445566778899aabbccddeeff00" + "c000"},
		{"v1 stop", Beacon{Version: 1, ID: testID, Port: 0}, "5a524501" + "112233445566778899aabbccddeeff00" + "0000"},
		{"v1 port 65535", Beacon{Version: 1, Port: 65535}, "5a524501" + strings.Repeat("00", 16) + "ffff"},
		{"v3", Beacon{Version: 3, ID: testID, Port: 49991, PublicKey: testKey},
			"5a524503" + "112233445566778899aabbccddeeff00" + "c347" + hex.EncodeToString(testKey[:])},
		{"v3 stop", Beacon{Version: 3, ID: testID, PublicKey: testKey},
			"5a524503" + "112233445566778899aabbccddeeff00" + "0000" + hex.EncodeToString(testKey[:])},
	}
}

func TestBeaconExactBytes(t *testing.T) {
	for _, tc := range beaconCases() {
		t.Run(tc.name, func(t *testing.T) {
			want, err := hex.DecodeString(tc.hex)
			if err != nil {
				t.Fatal(err)
			}
			if tc.b.Len() != len(want) {
				t.Errorf("Len() = %d, want %d", tc.b.Len(), len(want))
			}
			got := tc.b.Append(nil)
			if !bytes.Equal(got, want) {
				t.Fatalf("Append\n got %x\nwant %x", got, want)
			}
			if got := tc.b.Append([]byte("x")); !bytes.Equal(got, append([]byte("x"), want...)) {
				t.Fatalf("Append after a prefix = %x", got)
			}
			back, err := Parse(want)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if back != tc.b {
				t.Fatalf("Parse = %+v, want %+v", back, tc.b)
			}
		})
	}
}

// TestBeaconV1IgnoresKey: a version 1 beacon never carries the key, even
// when the field is set.
func TestBeaconV1IgnoresKey(t *testing.T) {
	b := Beacon{Version: 1, ID: testID, Port: 1, PublicKey: testKey}
	if got := b.Append(nil); len(got) != SizeV1 || b.Len() != SizeV1 {
		t.Fatalf("v1 with key encodes %d bytes, Len %d", len(got), b.Len())
	}
}

func TestBeaconVectors(t *testing.T) {
	set := vectors.Load(t)
	msgs := set.Select([]string{"beacon/"}, "BEACON-V1", "BEACON-V3")
	if len(msgs) != 4 {
		t.Fatalf("found %d beacon vectors, want 4", len(msgs))
	}
	sawStop := false
	for _, vm := range msgs {
		t.Run(vm.ID, func(t *testing.T) {
			var f struct {
				UUID    string  `json:"uuid"`
				Port    *uint16 `json:"port"`
				Version uint8   `json:"version"`
				Key     string  `json:"curve_public_key_hex"`
			}
			if err := vm.DecodeFields(&f); err != nil {
				t.Fatal(err)
			}
			frames := set.Frames(t, vm)
			if len(frames) != 1 {
				t.Fatalf("%d files, want 1", len(frames))
			}
			p := frames[0]
			b, err := Parse(p)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			id, err := zre.ParseUUID(f.UUID)
			if err != nil {
				t.Fatal(err)
			}
			if f.Port == nil {
				t.Fatal("vector without port")
			}
			want := Beacon{Version: f.Version, ID: id, Port: *f.Port}
			if f.Version == V3 {
				key, err := hex.DecodeString(f.Key)
				if err != nil || len(key) != 32 {
					t.Fatalf("curve_public_key_hex %q", f.Key)
				}
				copy(want.PublicKey[:], key)
			} else if f.Key != "" {
				t.Fatal("v1 vector with a key")
			}
			if b != want {
				t.Fatalf("Parse = %+v, want %+v", b, want)
			}
			if b.Port == 0 {
				sawStop = true
			}
			if b.Len() != len(p) {
				t.Errorf("Len() = %d, datagram is %d bytes", b.Len(), len(p))
			}
			if got := b.Append(nil); !bytes.Equal(got, p) {
				t.Fatalf("re-encoded\n got %x\nwant %x", got, p)
			}
		})
	}
	if !sawStop {
		t.Error("no port-0 beacon among the vectors")
	}
}

func TestBeaconMalformed(t *testing.T) {
	v1 := (&Beacon{Version: 1, ID: testID, Port: 5670}).Append(nil)
	v3 := (&Beacon{Version: 3, ID: testID, Port: 5670, PublicKey: testKey}).Append(nil)
	tests := []struct {
		name string
		p    []byte
		want error
	}{
		{"empty", nil, ErrBadSize},
		{"Z", []byte("Z"), ErrBadSize},
		{"ZR", []byte("ZR"), ErrBadSize},
		{"ZRE", []byte("ZRE"), ErrBadSize},
		{"ZRE v1 header only", []byte("ZRE\x01"), ErrBadSize},
		{"lower-case prefix", append([]byte("zre"), v1[3:]...), ErrBadPrefix},
		{"wrong prefix short", []byte("X"), ErrBadPrefix},
		{"zgossip-like", []byte{0xAA, 0xA0, 0x01, 0x01}, ErrBadPrefix},
		{"version 0", withByte(v1, 3, 0), ErrBadVersion},
		{"version 2", withByte(v1, 3, 2), ErrBadVersion},
		{"version 2 with 54 bytes", withByte(v3, 3, 2), ErrBadVersion},
		{"version 255", withByte(v1, 3, 255), ErrBadVersion},
		{"v1 with 54 bytes", withByte(v3, 3, 1), ErrBadSize},
		{"v3 with 22 bytes", withByte(v1, 3, 3), ErrBadSize},
		{"v1 plus one byte", append(bytes.Clone(v1), 0), ErrBadSize},
		{"v1 minus one byte", v1[:21], ErrBadSize},
		{"v3 plus one byte", append(bytes.Clone(v3), 0), ErrBadSize},
		{"v3 minus one byte", v3[:53], ErrBadSize},
		{"UDP_FRAME_MAX", append(bytes.Clone(v1), make([]byte, 255-22)...), ErrBadSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Parse(tt.p)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse(%x) = %+v, %v; want %v", tt.p, b, err, tt.want)
			}
			if b != (Beacon{}) {
				t.Fatalf("Parse returned %+v with the error", b)
			}
			if !strings.HasPrefix(err.Error(), "beacon: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
}

// TestBeaconEveryLength parses every length 0..60 of garbage, of a valid
// prefix with garbage, and of truncated or padded real beacons: only
// exactly 22 bytes of v1 and 54 bytes of v3 may parse.
func TestBeaconEveryLength(t *testing.T) {
	garbage := make([]byte, 60)
	for i := range garbage {
		garbage[i] = byte(i*37 + 11)
	}
	v1 := (&Beacon{Version: 1, ID: testID, Port: 1}).Append(nil)
	v3 := (&Beacon{Version: 3, ID: testID, Port: 1, PublicKey: testKey}).Append(nil)
	pad := func(p []byte) []byte { return append(bytes.Clone(p), garbage...)[:60] }
	for _, base := range [][]byte{garbage, pad([]byte("ZRE")), pad(v1), pad(v3), pad([]byte("ZRE\x02"))} {
		for n := 0; n <= 60; n++ {
			p := base[:n]
			b, err := Parse(p)
			okV1 := n == SizeV1 && bytes.HasPrefix(p, []byte("ZRE\x01"))
			okV3 := n == SizeV3 && bytes.HasPrefix(p, []byte("ZRE\x03"))
			if (err == nil) != (okV1 || okV3) {
				t.Fatalf("Parse(%x) = %+v, %v", p, b, err)
			}
			if err == nil {
				if got := b.Append(nil); !bytes.Equal(got, p) {
					t.Fatalf("re-encode of %x = %x", p, got)
				}
				continue
			}
			if !errors.Is(err, ErrBadSize) && !errors.Is(err, ErrBadPrefix) && !errors.Is(err, ErrBadVersion) {
				t.Fatalf("Parse(%x): unclassified error %v", p, err)
			}
		}
	}
}

func TestBeaconAllocations(t *testing.T) {
	b := Beacon{Version: 3, ID: testID, Port: 1, PublicKey: testKey}
	buf := make([]byte, 0, SizeV3)
	p := b.Append(nil)
	allocs := testing.AllocsPerRun(100, func() {
		buf = b.Append(buf[:0])
		if _, err := Parse(p); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Append into a buffer with room + Parse made %v allocations, want 0", allocs)
	}
}

func withByte(p []byte, i int, v byte) []byte {
	q := bytes.Clone(p)
	q[i] = v
	return q
}
