package stores

import (
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/ragway/ragway/retrieval"
)

// CollectionRule sends the collections it matches to a store other than
// the default one. Rules are tried in order; the first match wins.
type CollectionRule struct {
	// Tenant is a glob (path.Match) over tenant names; empty matches all.
	Tenant string `yaml:"tenant"`
	// Collection is a glob over collection names (vector store ids).
	Collection string `yaml:"collection"`
	// Store is the kind that holds the matched collections.
	Store string `yaml:"store"`
}

func (r CollectionRule) matches(tenant, collection string) bool {
	if r.Tenant != "" {
		if ok, _ := path.Match(r.Tenant, tenant); !ok {
			return false
		}
	}
	ok, _ := path.Match(r.Collection, collection)
	return ok
}

func (r CollectionRule) validate(i int) []error {
	var errs []error
	where := fmt.Sprintf("retrieval.collections[%d]", i)
	if r.Collection == "" {
		errs = append(errs, fmt.Errorf("%s.collection: required (a name or a glob)", where))
	}
	for _, g := range []string{r.Tenant, r.Collection} {
		if _, err := path.Match(g, ""); err != nil {
			errs = append(errs, fmt.Errorf("%s: bad glob %q", where, g))
		}
	}
	if !known(r.Store) {
		errs = append(errs, fmt.Errorf("%s.store: unknown store %q (want one of %v)", where, r.Store, Kinds))
	}
	return errs
}

// Router is a retrieval.Store that keeps each collection in the store its
// rules choose, so moving a collection is a config change: copy it with
// `ragway collections migrate`, then add a rule.
type Router struct {
	def    string
	rules  []CollectionRule
	stores map[string]Store
}

var _ Store = (*Router)(nil)

// KindFor names the store that holds the collection.
func (r *Router) KindFor(tenant, collection string) string {
	for _, rule := range r.rules {
		if rule.matches(tenant, collection) {
			return rule.Store
		}
	}
	return r.def
}

func (r *Router) route(tenant, collection string) Store {
	return r.stores[r.KindFor(tenant, collection)]
}

// ReplaceFile writes to the collection's store.
func (r *Router) ReplaceFile(ctx context.Context, tenant, collection, fileID string, chunks []retrieval.Chunk) error {
	return r.route(tenant, collection).ReplaceFile(ctx, tenant, collection, fileID, chunks)
}

// DeleteCollection deletes from the collection's store.
func (r *Router) DeleteCollection(ctx context.Context, tenant, collection string) error {
	return r.route(tenant, collection).DeleteCollection(ctx, tenant, collection)
}

// Search searches the collection's store.
func (r *Router) Search(ctx context.Context, q retrieval.Query) ([]retrieval.Result, error) {
	return r.route(q.Tenant, q.Collection).Search(ctx, q)
}

// Collections lists, from every store, the collections routed to it: a
// copy left behind in another store by a migration is not listed.
func (r *Router) Collections(ctx context.Context) ([]retrieval.CollectionRef, error) {
	var out []retrieval.CollectionRef
	for kind, s := range r.stores {
		refs, err := s.Collections(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kind, err)
		}
		for _, ref := range refs {
			if r.KindFor(ref.Tenant, ref.Collection) == kind {
				out = append(out, ref)
			}
		}
	}
	retrieval.SortCollections(out)
	return out, nil
}

// Files lists the collection's files in its store.
func (r *Router) Files(ctx context.Context, tenant, collection string) ([]retrieval.FileInfo, error) {
	return r.route(tenant, collection).Files(ctx, tenant, collection)
}

// FileChunks reads a file's chunks from the collection's store.
func (r *Router) FileChunks(ctx context.Context, tenant, collection, fileID string) ([]retrieval.Chunk, error) {
	return r.route(tenant, collection).FileChunks(ctx, tenant, collection, fileID)
}

// Close closes every store.
func (r *Router) Close() error {
	var errs []error
	for kind, s := range r.stores {
		if err := s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", kind, err))
		}
	}
	return errors.Join(errs...)
}
