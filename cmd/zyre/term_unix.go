//go:build linux || darwin

package main

import (
	"os"
	"syscall"
	"unsafe"
)

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	var t syscall.Termios
	return ioctlTermios(f.Fd(), ioctlGetTermios, &t) == nil
}

// makeRaw puts the terminal f into raw mode for the line editor: no echo,
// no line buffering, no signals from the keyboard (Ctrl-C arrives as a
// byte), no CR-to-NL translation; output processing stays on, so "\n"
// still starts a new line. It returns a function that restores the state.
func makeRaw(f *os.File) (restore func(), err error) {
	fd := f.Fd()
	var old syscall.Termios
	if err := ioctlTermios(fd, ioctlGetTermios, &old); err != nil {
		return nil, err
	}
	raw := old
	raw.Iflag &^= syscall.BRKINT | syscall.ICRNL | syscall.INLCR | syscall.ISTRIP | syscall.IXON
	raw.Lflag &^= syscall.ECHO | syscall.ECHONL | syscall.ICANON | syscall.ISIG | syscall.IEXTEN
	raw.Cflag |= syscall.CS8
	raw.Cc[syscall.VMIN] = 1
	raw.Cc[syscall.VTIME] = 0
	if err := ioctlTermios(fd, ioctlSetTermios, &raw); err != nil {
		return nil, err
	}
	return func() { ioctlTermios(fd, ioctlSetTermios, &old) }, nil
}

func ioctlTermios(fd uintptr, req uintptr, t *syscall.Termios) error {
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(unsafe.Pointer(t)))
	if errno != 0 {
		return errno
	}
	return nil
}
