package zyre

import (
	"errors"
	"fmt"
)

// Errors a caller can act on; compare with errors.Is.
var (
	ErrClosed       = errors.New("zyre: node closed")
	ErrNotStarted   = errors.New("zyre: node not started")
	ErrStarted      = errors.New("zyre: node already started")
	ErrUnknownPeer  = errors.New("zyre: unknown peer")
	ErrInvalidGroup = errors.New("zyre: group name must be 1 to 255 bytes")
	ErrBackpressure = errors.New("zyre: peer outbox full")
	ErrNoInterface  = errors.New("zyre: network interface not found or unusable")
)

// ConfigError reports an invalid Config field.
type ConfigError struct {
	Field string // the Config field name, e.g. "ExpiredTimeout"
	Err   error
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("zyre: invalid Config.%s: %v", e.Field, e.Err)
}

// Unwrap returns the underlying reason.
func (e *ConfigError) Unwrap() error { return e.Err }

func checkGroup(g string) error {
	if len(g) == 0 || len(g) > 255 {
		return ErrInvalidGroup
	}
	return nil
}
