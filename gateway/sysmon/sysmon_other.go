//go:build !linux

package sysmon

import "runtime"

// Lower returns ErrUnsupported for any priority but Normal (and Auto when
// it resolves to Normal).
func Lower(p string) (Applied, error) {
	p, err := resolve(p, runtime.NumCPU())
	if err != nil {
		return Applied{}, err
	}
	if p == Normal {
		return Applied{Priority: Normal}, nil
	}
	return Applied{}, ErrUnsupported
}
