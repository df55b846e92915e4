package migrate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// checkpoint is the progress of one copy: every source file with an id up
// to Done (in sorted order) is in the destination.
type checkpoint struct {
	Version    int    `json:"version"`
	From       string `json:"from"`
	To         string `json:"to"`
	Tenant     string `json:"tenant"`
	Collection string `json:"collection"`
	Done       string `json:"done"`
}

// maxCheckpoint bounds the file read back.
const maxCheckpoint = 1 << 20

// loadCheckpoint reads the checkpoint at path; a missing file is a fresh
// start (want itself). A checkpoint of another copy is an error, not
// silently ignored.
func loadCheckpoint(path string, want *checkpoint) (*checkpoint, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return want, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	got, err := parseCheckpoint(b)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint %s: %w", path, err)
	}
	if got.From != want.From || got.To != want.To || got.Tenant != want.Tenant || got.Collection != want.Collection {
		return nil, fmt.Errorf("checkpoint %s is for %s/%s from %q to %q, not this copy", path, got.Tenant, got.Collection, got.From, got.To)
	}
	return got, nil
}

func parseCheckpoint(b []byte) (*checkpoint, error) {
	if len(b) > maxCheckpoint {
		return nil, errors.New("checkpoint too large")
	}
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, fmt.Errorf("bad checkpoint: %w", err)
	}
	if cp.Version != 1 {
		return nil, fmt.Errorf("bad checkpoint: version %d", cp.Version)
	}
	return &cp, nil
}

// save writes the checkpoint atomically: a crash leaves the old one or
// the new one.
func (c *checkpoint) save(path string) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".checkpoint-*")
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("save checkpoint: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save checkpoint: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return nil
}
