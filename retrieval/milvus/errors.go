package milvus

import (
	"context"
	"errors"
	"fmt"

	"github.com/milvus-io/milvus/pkg/v2/util/merr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ragway/ragway/retrieval"
)

// wrap maps a client error to the retrieval sentinels: failures to reach
// or use the server (transport errors, timeouts of our own deadline, the
// server busy or not ready) are retrieval.ErrUnavailable, requests the
// server refuses as invalid are retrieval.ErrInvalidQuery. The caller's
// own cancellation passes through as its context error.
func wrap(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, retrieval.ErrInvalidQuery) || errors.Is(err, retrieval.ErrUnavailable) || errors.Is(err, retrieval.ErrNotFound) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w: request timed out: %w", retrieval.ErrUnavailable, err)
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.OK && st.Code() != codes.Unknown {
		switch st.Code() {
		case codes.InvalidArgument, codes.OutOfRange, codes.FailedPrecondition:
			return fmt.Errorf("%w: %w", retrieval.ErrInvalidQuery, err)
		case codes.Unauthenticated, codes.PermissionDenied:
			return fmt.Errorf("milvus refused the credentials: %w", err)
		}
		return fmt.Errorf("%w: %w", retrieval.ErrUnavailable, err)
	}
	switch {
	case errors.Is(err, merr.ErrServiceNotReady), errors.Is(err, merr.ErrServiceUnavailable),
		errors.Is(err, merr.ErrServiceRateLimit), errors.Is(err, merr.ErrServiceMemoryLimitExceeded),
		errors.Is(err, merr.ErrServiceQuotaExceeded), errors.Is(err, merr.ErrServiceTimeTickLongDelay),
		errors.Is(err, merr.ErrServiceResourceInsufficient), errors.Is(err, merr.ErrCollectionNotFullyLoaded),
		errors.Is(err, merr.ErrCollectionOnRecovering), merr.IsRetryableErr(err):
		return fmt.Errorf("%w: %w", retrieval.ErrUnavailable, err)
	case errors.Is(err, merr.ErrParameterInvalid), errors.Is(err, merr.ErrParameterMissing),
		errors.Is(err, merr.ErrParameterTooLarge), merr.GetErrorType(err) == merr.InputError:
		return fmt.Errorf("%w: %w", retrieval.ErrInvalidQuery, err)
	}
	if merr.Code(err) != unexpectedCode {
		return err // the server answered: its error stands as it is
	}
	// Anything else failed on the way: the transport, the connection.
	return fmt.Errorf("%w: %w", retrieval.ErrUnavailable, err)
}

// unexpectedCode is the code merr gives errors that did not come from
// the server.
var unexpectedCode = merr.Code(errors.New("not from the server"))

// notFound reports a collection that does not exist (dropped, or never
// written).
func notFound(err error) bool {
	return errors.Is(err, merr.ErrCollectionNotFound)
}
