package zre

import (
	"bytes"
	"encoding/hex"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/gozyre/zyre/internal/vectors"
)

// zreTypes are the manifest type names of ZRE commands.
var zreTypes = []string{"HELLO", "WHISPER", "SHOUT", "JOIN", "LEAVE", "PING", "PING-OK", "ELECT", "LEADER", "GOODBYE"}

// vectorFields is the union of the "fields" objects of codec/ and live/
// messages in vectors.json. Pointers tell a missing field from a zero one.
type vectorFields struct {
	Sequence           *uint16            `json:"sequence"`
	Version            *uint8             `json:"version"`
	Type               string             `json:"type"` // live/ only
	Endpoint           *string            `json:"endpoint"`
	Groups             []string           `json:"groups"`
	Status             *uint8             `json:"status"`
	Name               *string            `json:"name"`
	Headers            map[string]string  `json:"headers"`               // codec/ only
	HeadersWireOrder   [][2]string        `json:"headers_wire_order"`    // codec/
	HeadersInWireOrder [][2]string        `json:"headers_in_wire_order"` // live/
	Group              *string            `json:"group"`
	ChallengerID       *string            `json:"challenger_id"`
	LeaderID           *string            `json:"leader_id"`
	Content            []vectorContentRef `json:"content"`     // codec/
	ContentHex         []string           `json:"content_hex"` // live/
	ContentSizes       []int              `json:"content_sizes"`
}

type vectorContentRef struct {
	UTF8 *string `json:"utf8"`
	Hex  *string `json:"hex"`
}

func TestGoldenVectors(t *testing.T) {
	set := vectors.Load(t)
	msgs := set.Select([]string{"codec/", "live/"}, zreTypes...)
	seen := map[string]bool{}
	for _, vm := range msgs {
		seen[vm.Type] = true
		t.Run(vm.ID, func(t *testing.T) {
			checkVector(t, set, vm)
		})
	}
	for _, typ := range zreTypes {
		if !seen[typ] {
			t.Errorf("no golden vector of type %s", typ)
		}
	}
	if len(msgs) < 30 {
		t.Errorf("only %d ZRE vectors found, expected the 33 of the manifest", len(msgs))
	}
}

func checkVector(t *testing.T, set *vectors.Set, vm *vectors.Message) {
	var f vectorFields
	if err := vm.DecodeFields(&f); err != nil {
		t.Fatal(err)
	}
	frames := set.Frames(t, vm)
	for i, fr := range frames {
		if i < len(vm.Frames) && len(fr) != vm.Frames[i] {
			t.Fatalf("frame %d is %d bytes, manifest says %d", i, len(fr), vm.Frames[i])
		}
	}
	// Keep a private copy to prove that nothing below writes into frames.
	orig := make([][]byte, len(frames))
	for i, fr := range frames {
		orig[i] = bytes.Clone(fr)
	}

	m, err := ParseFrames(frames)
	if err != nil {
		t.Fatalf("ParseFrames: %v", err)
	}
	if m.Command().String() != vm.Type {
		t.Fatalf("parsed a %v, manifest says %s", m.Command(), vm.Type)
	}
	if f.Type != "" && f.Type != vm.Type {
		t.Fatalf("fields.type %q != type %q", f.Type, vm.Type)
	}
	if f.Version == nil || *f.Version != Version || frames[0][3] != Version {
		t.Fatalf("version field %v, wire %d", f.Version, frames[0][3])
	}
	if f.Sequence == nil || m.Seq() != *f.Sequence {
		t.Fatalf("sequence = %d, fields say %v", m.Seq(), f.Sequence)
	}

	switch m := m.(type) {
	case *Hello:
		eqPtr(t, "endpoint", m.Endpoint, f.Endpoint)
		eqPtr(t, "status", m.Status, f.Status)
		eqPtr(t, "name", m.Name, f.Name)
		if !slices.Equal(m.Groups, f.Groups) {
			t.Errorf("groups = %q, want %q", m.Groups, f.Groups)
		}
		wire := f.HeadersWireOrder
		if wire == nil {
			wire = f.HeadersInWireOrder
		}
		got := map[string]string{}
		var gotWire [][2]string
		for _, h := range m.Headers {
			got[h.Key] = h.Value
			gotWire = append(gotWire, [2]string{h.Key, h.Value})
		}
		want := f.Headers
		if want == nil {
			want = map[string]string{}
			for _, kv := range wire {
				want[kv[0]] = kv[1]
			}
		}
		if !maps.Equal(got, want) {
			t.Errorf("headers = %v, want %v", got, want)
		}
		if len(wire) > 0 && !reflect.DeepEqual(gotWire, wire) {
			t.Errorf("headers in wire order = %q, want %q", gotWire, wire)
		}
	case *Shout:
		eqPtr(t, "group", m.Group, f.Group)
	case *Join:
		eqPtr(t, "group", m.Group, f.Group)
		eqPtr(t, "status", m.Status, f.Status)
	case *Leave:
		eqPtr(t, "group", m.Group, f.Group)
		eqPtr(t, "status", m.Status, f.Status)
	case *Elect:
		eqPtr(t, "group", m.Group, f.Group)
		eqPtr(t, "challenger_id", m.Challenger, f.ChallengerID)
		if _, err := ParseUUID(m.Challenger); err != nil {
			t.Errorf("challenger_id %q is not a UUID string", m.Challenger)
		}
	case *Leader:
		eqPtr(t, "group", m.Group, f.Group)
		eqPtr(t, "leader_id", m.LeaderID, f.LeaderID)
		if _, err := ParseUUID(m.LeaderID); err != nil {
			t.Errorf("leader_id %q is not a UUID string", m.LeaderID)
		}
	case *Whisper, *Ping, *PingOK, *Goodbye:
		// header only
	default:
		t.Fatalf("unexpected type %T", m)
	}

	// Content: kept apart from frame 0, equal to the files f1..fn and to
	// the documented values.
	content := ContentOf(m)
	if !reflect.DeepEqual(content, nilIfEmpty(frames[1:])) {
		t.Errorf("content = %x, want frames 1..n %x", content, frames[1:])
	}
	if len(content) > 0 && &content[0] != &frames[1] {
		t.Error("content frames were copied, want frames[1:] itself")
	}
	var want [][]byte
	for _, c := range f.Content {
		switch {
		case c.UTF8 != nil:
			want = append(want, []byte(*c.UTF8))
		case c.Hex != nil:
			want = append(want, mustHex(t, *c.Hex))
		default:
			t.Fatal("content entry with neither utf8 nor hex")
		}
	}
	for _, h := range f.ContentHex {
		want = append(want, mustHex(t, h))
	}
	if len(content) != len(want) {
		t.Fatalf("%d content frames, fields document %d", len(content), len(want))
	}
	for i := range want {
		if !bytes.Equal(content[i], want[i]) {
			t.Errorf("content[%d] = %x, want %x", i, content[i], want[i])
		}
		if i < len(f.ContentSizes) && len(content[i]) != f.ContentSizes[i] {
			t.Errorf("content[%d] is %d bytes, content_sizes says %d", i, len(content[i]), f.ContentSizes[i])
		}
	}

	// Re-encode frame 0.
	if m.Len() != len(frames[0]) {
		t.Errorf("Len() = %d, frame 0 is %d bytes", m.Len(), len(frames[0]))
	}
	enc, err := m.Append(nil)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if !bytes.Equal(enc, frames[0]) {
		t.Fatalf("re-encoded frame 0\n got %x\nwant %x", enc, frames[0])
	}
	if !reflect.DeepEqual(frames, orig) {
		t.Fatal("parsing or encoding modified the input frames")
	}

	// Routing id: 0x01 + the sender's raw UUID.
	if vm.Sender == "" {
		t.Fatal("manifest entry without sender_uuid")
	}
	sender, err := ParseUUID(vm.Sender)
	if err != nil {
		t.Fatalf("sender_uuid %q: %v", vm.Sender, err)
	}
	if vm.RoutingID != "" {
		rid := set.Read(t, vm.RoutingID)
		if wantRid := append([]byte{0x01}, sender[:]...); !bytes.Equal(rid, wantRid) {
			t.Errorf("routing id %x, want %x", rid, wantRid)
		}
	}
}

func eqPtr[T comparable](t *testing.T, name string, got T, want *T) {
	t.Helper()
	if want == nil {
		t.Errorf("field %s missing from the manifest", name)
		return
	}
	if got != *want {
		t.Errorf("%s = %v, want %v", name, got, *want)
	}
}

func nilIfEmpty(b [][]byte) [][]byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// TestGoldenCodecTableMatchesVectors ties the hex table of codecCases to
// the files: an entry named after a vector must hold that vector's bytes.
func TestGoldenCodecTableMatchesVectors(t *testing.T) {
	set := vectors.Load(t)
	n := 0
	for _, tc := range codecCases() {
		vm, ok := set.Messages[tc.name]
		if !ok {
			continue
		}
		n++
		if f0 := set.Read(t, vm.Files[0]); hex.EncodeToString(f0) != tc.hex {
			t.Errorf("%s: table hex %s, file %x", tc.name, tc.hex, f0)
		}
	}
	if n == 0 {
		t.Fatal("no table entry is named after a vector")
	}
}
