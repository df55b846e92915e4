// Package loaders turns uploaded bytes into ingest.Documents: it detects the
// format from content (the file name is only a hint), validates the file
// against Limits and parses it under a timeout and a memory bound. Every
// rejected file is an *ingest.DocumentError with a message fit for a file's
// last_error.
package loaders

import (
	"fmt"
	"time"
)

// Limits bound what one file may cost. Zero fields take the defaults of
// DefaultLimits.
type Limits struct {
	// MaxFileBytes is the largest file accepted.
	MaxFileBytes int64
	// MaxTextBytes is the most text extracted from one file.
	MaxTextBytes int64
	// Timeout bounds the parse of one file.
	Timeout time.Duration
	// MaxUncompressedBytes bounds the bytes inflated from an archive (DOCX).
	MaxUncompressedBytes int64
	// MaxCompressionRatio is the largest uncompressed/compressed ratio of
	// an archive entry; beyond it the file is treated as a decompression
	// bomb.
	MaxCompressionRatio int64
	// MaxArchiveEntries bounds the entries of an archive.
	MaxArchiveEntries int
	// MaxPages bounds the pages read from a PDF.
	MaxPages int
	// MaxDepth bounds the nesting of JSON values.
	MaxDepth int
	// RowsPerSection is how many CSV rows go into one section.
	RowsPerSection int
}

// Default limits.
const (
	DefaultMaxFileBytes         = 64 << 20
	DefaultMaxTextBytes         = 32 << 20
	DefaultTimeout              = 60 * time.Second
	DefaultMaxUncompressedBytes = 256 << 20
	DefaultMaxCompressionRatio  = 200
	DefaultMaxArchiveEntries    = 10000
	DefaultMaxPages             = 10000
	DefaultMaxDepth             = 64
	DefaultRowsPerSection       = 50
)

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{}.withDefaults()
}

func (l Limits) withDefaults() Limits {
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = DefaultMaxFileBytes
	}
	if l.MaxTextBytes <= 0 {
		l.MaxTextBytes = DefaultMaxTextBytes
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.MaxUncompressedBytes <= 0 {
		l.MaxUncompressedBytes = DefaultMaxUncompressedBytes
	}
	if l.MaxCompressionRatio <= 0 {
		l.MaxCompressionRatio = DefaultMaxCompressionRatio
	}
	if l.MaxArchiveEntries <= 0 {
		l.MaxArchiveEntries = DefaultMaxArchiveEntries
	}
	if l.MaxPages <= 0 {
		l.MaxPages = DefaultMaxPages
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.RowsPerSection <= 0 {
		l.RowsPerSection = DefaultRowsPerSection
	}
	return l
}

// Validate reports limits that cannot work.
func (l Limits) Validate() error {
	if l.MaxFileBytes < 0 || l.MaxTextBytes < 0 || l.MaxUncompressedBytes < 0 || l.Timeout < 0 {
		return fmt.Errorf("loader limits must not be negative")
	}
	return nil
}

// humanBytes renders a byte count for a message.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}
