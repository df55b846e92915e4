package weaviate

import (
	"context"
	"net/http"
)

// HoldSlot takes one concurrency slot until the returned func is called.
func (s *Store) HoldSlot() func() {
	s.slots <- struct{}{}
	return func() { <-s.slots }
}

// DropAll deletes every class of the store's prefix.
func (s *Store) DropAll(ctx context.Context) error {
	classes, err := s.restClasses(ctx)
	if err != nil {
		return err
	}
	for _, c := range classes {
		if isClassName(s.opts.ClassPrefix, c.Class) {
			if err := s.do(ctx, http.MethodDelete, classPath(c.Class), nil, nil); err != nil {
				return err
			}
		}
	}
	return nil
}
