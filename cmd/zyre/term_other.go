//go:build !linux && !darwin

package main

import (
	"errors"
	"os"
)

// isTerminal reports whether f looks like a terminal (a character device).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// makeRaw is not supported here: chat reads whole lines instead.
func makeRaw(f *os.File) (restore func(), err error) {
	return nil, errors.New("raw terminal mode not supported on this platform")
}
