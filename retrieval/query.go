package retrieval

import "fmt"

// MaxK bounds Query.K in every store.
const MaxK = 1000

// Check validates q for a store that takes vectors of at most maxDims
// values, and returns its mode (ModeHybrid when unset).
func (q Query) Check(maxDims int) (Mode, error) {
	if q.K < 1 || q.K > MaxK {
		return "", fmt.Errorf("%w: k must be 1..%d", ErrInvalidQuery, MaxK)
	}
	mode := q.Mode
	if mode == "" {
		mode = ModeHybrid
	}
	switch mode {
	case ModeHybrid, ModeVector, ModeLexical:
	default:
		return "", fmt.Errorf("%w: unknown mode %q", ErrInvalidQuery, q.Mode)
	}
	if mode == ModeVector && len(q.Vector) == 0 {
		return "", fmt.Errorf("%w: vector search needs a vector", ErrInvalidQuery)
	}
	if len(q.Vector) > maxDims {
		return "", fmt.Errorf("%w: vector too large", ErrInvalidQuery)
	}
	if q.Filter != nil {
		if err := q.Filter.Validate(); err != nil {
			return "", err
		}
	}
	return mode, nil
}
