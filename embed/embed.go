// Package embed owns text embedding: the Embedder port that turns texts into
// vectors, the Info that names the model behind the vectors, and the errors
// embedders and their callers share.
//
// Vectors from different models, or from different versions of one model,
// live in different spaces and must never be compared. Every index records the
// Info of the embedder that built it; adding to or querying an index with a
// different one is refused with ErrModelMismatch.
package embed

import (
	"context"
	"errors"
	"fmt"
)

// Embedder turns texts into vectors.
type Embedder interface {
	// Embed returns one vector of Info().Dimensions values per text, in
	// order.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	// Info names the model that produces the vectors.
	Info() Info
}

// Info identifies the vector space an Embedder produces.
type Info struct {
	Model      string `json:"model" yaml:"model"`
	Version    string `json:"version" yaml:"version"`
	Dimensions int    `json:"dimensions" yaml:"dimensions"`
}

// String returns "model@version/dimensions".
func (i Info) String() string {
	return fmt.Sprintf("%s@%s/%d", i.Model, i.Version, i.Dimensions)
}

// Compatible reports whether vectors described by i and o may be compared:
// same model, version and dimensions.
func (i Info) Compatible(o Info) bool { return i == o }

// ErrModelMismatch means vectors from one embedding model or version met an
// index built with another. MismatchError carries the details.
var ErrModelMismatch = errors.New("embedding model mismatch")

// MismatchError reports the two embedders that were mixed.
type MismatchError struct {
	// Index is the Info recorded by the index.
	Index Info
	// Got is the Info of the embedder that was used.
	Got Info
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("embedding model mismatch: index built with %s, got %s", e.Index, e.Got)
}

// Unwrap makes errors.Is(err, ErrModelMismatch) true.
func (e *MismatchError) Unwrap() error { return ErrModelMismatch }

// CheckCompatible returns a *MismatchError when got cannot be used with an
// index built with index.
func CheckCompatible(index, got Info) error {
	if index.Compatible(got) {
		return nil
	}
	return &MismatchError{Index: index, Got: got}
}
