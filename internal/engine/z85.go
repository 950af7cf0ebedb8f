package engine

import "github.com/gozyre/zyre/internal/z85"

// z85Encode gives the Z85 text of a CURVE key for the X-PUBLICKEY header.
func z85Encode(b []byte) string {
	s, _ := z85.Encode(b) // keys are 32 bytes: always a multiple of 4
	return s
}

// z85Decode decodes an X-PUBLICKEY value; nil when it is not valid Z85.
func z85Decode(s string) []byte {
	b, err := z85.Decode(s)
	if err != nil {
		return nil
	}
	return b
}
