package engine

// Z85 (ZeroMQ RFC 32) for the X-PUBLICKEY HELLO header of CURVE mode: 4
// bytes become 5 characters of a base-85 alphabet, most significant first.
// Only what the engine needs: whole 4-byte groups (a 32-byte key is 40
// characters).

const z85Alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"

// z85Encode encodes b, whose length must be a multiple of 4.
func z85Encode(b []byte) string {
	out := make([]byte, 0, len(b)/4*5)
	for i := 0; i+4 <= len(b); i += 4 {
		v := uint32(b[i])<<24 | uint32(b[i+1])<<16 | uint32(b[i+2])<<8 | uint32(b[i+3])
		var chunk [5]byte
		for j := 4; j >= 0; j-- {
			chunk[j] = z85Alphabet[v%85]
			v /= 85
		}
		out = append(out, chunk[:]...)
	}
	return string(out)
}

// z85Decode decodes s; it returns nil when s is not valid Z85 (length not
// a multiple of 5, a character outside the alphabet, a group over 2^32-1).
func z85Decode(s string) []byte {
	if len(s)%5 != 0 {
		return nil
	}
	out := make([]byte, 0, len(s)/5*4)
	for i := 0; i < len(s); i += 5 {
		var v uint64
		for j := range 5 {
			d := z85Digit(s[i+j])
			if d < 0 {
				return nil
			}
			v = v*85 + uint64(d)
		}
		if v > 0xFFFFFFFF {
			return nil
		}
		out = append(out, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return out
}

func z85Digit(c byte) int {
	for i := range len(z85Alphabet) {
		if z85Alphabet[i] == c {
			return i
		}
	}
	return -1
}
