// Package stores turns the keys config into a keys.Store.
package stores

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/ragway/ragway/policies/keys"
	"github.com/ragway/ragway/policies/keys/postgres"
	"github.com/ragway/ragway/policies/keys/sqlite"
)

// Open opens the store cfg names (cfg already defaulted and validated);
// a relative embedded path is taken under dataDir.
func Open(ctx context.Context, cfg keys.Config, dataDir string) (keys.Store, error) {
	switch cfg.Store {
	case keys.StoreEmbedded:
		path := cfg.Path
		if !filepath.IsAbs(path) {
			path = filepath.Join(dataDir, path)
		}
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, err
		}
		return s, nil
	case keys.StorePostgres:
		s, err := postgres.Open(ctx, cfg.Postgres.DSN, postgres.Options{MaxConns: cfg.Postgres.MaxConns})
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("open key store: unknown store %q", cfg.Store)
}
