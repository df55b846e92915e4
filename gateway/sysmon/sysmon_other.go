//go:build !linux

package sysmon

// lower returns ErrUnsupported: Low and Idle need Linux.
func lower(string) (Applied, error) { return Applied{}, ErrUnsupported }
