//go:build nomilvus

package stores

import (
	"context"
	"errors"
)

// errNoMilvus is what a build without the Milvus client says of a config
// that uses it. The client links about 700 packages whose initialisers
// cost some 30 MB of resident memory, so lean builds leave it out.
var errNoMilvus = errors.New("retrieval.milvus: this ragway was built with -tags nomilvus; use a build without it")

func (m MilvusConfig) validate() []error { return []error{errNoMilvus} }

func openMilvus(context.Context, MilvusConfig) (Store, error) { return nil, errNoMilvus }
