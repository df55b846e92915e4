//go:build !unix

package embedded

import "os"

// lockDir does not lock where flock is missing: one process per store dir
// is then the operator's duty.
func lockDir(dir string) (*os.File, error) {
	return nil, os.MkdirAll(dir, 0o750)
}
