//go:build !linux

package bench

// dropPageCache does nothing where the page cache cannot be advised.
func dropPageCache(string) error { return nil }
