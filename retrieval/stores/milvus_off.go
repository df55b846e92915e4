//go:build !milvus

package stores

import (
	"context"
	"errors"
)

// errNoMilvus is what a build without the Milvus client says of a config
// that uses it. The client links about 700 packages (etcd among them)
// whose initialisers cost some 18 MB of resident memory in every process,
// used or not, so only builds tagged milvus carry it.
var errNoMilvus = errors.New("retrieval.milvus: this ragway was built without the Milvus client; build it with make build TAGS=milvus (go build -tags milvus)")

func (m MilvusConfig) validate() []error { return []error{errNoMilvus} }

func openMilvus(context.Context, MilvusConfig) (Store, error) { return nil, errNoMilvus }
