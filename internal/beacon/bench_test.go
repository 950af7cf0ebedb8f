package beacon

import "testing"

func BenchmarkAppend(b *testing.B) {
	bc := Beacon{Version: V1, ID: testID, Port: 49152}
	buf := make([]byte, 0, SizeV3)
	b.ReportAllocs()
	for b.Loop() {
		buf = bc.Append(buf[:0])
	}
}

func BenchmarkParse(b *testing.B) {
	p := (&Beacon{Version: V3, ID: testID, Port: 49152, PublicKey: testKey}).Append(nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(p); err != nil {
			b.Fatal(err)
		}
	}
}
