//go:build !linux

package sysmon

// Lower returns ErrUnsupported for any priority but Normal.
func Lower(p string) (int, error) {
	if err := check(p); err != nil {
		return 0, err
	}
	if p == Normal {
		return 0, nil
	}
	return 0, ErrUnsupported
}
