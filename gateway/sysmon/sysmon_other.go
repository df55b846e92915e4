//go:build !linux

package sysmon

import "fmt"

// Lower returns ErrUnsupported for any priority but Normal.
func Lower(p string) (int, error) {
	if !Valid(p) {
		return 0, fmt.Errorf("sysmon: unknown priority %q (want %s, %s or %s)", p, Normal, Low, Idle)
	}
	if p == Normal {
		return 0, nil
	}
	return 0, ErrUnsupported
}
