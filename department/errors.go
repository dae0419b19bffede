package department

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrOpen is returned, wrapped, by a [Breaker] whose circuit is open: the
// department was not called. The wrapping error carries the gRPC code
// UNAVAILABLE, so [Retryable] treats it like a department that is down.
var ErrOpen = errors.New("circuit breaker open")

// openError is the error a Breaker returns instead of calling.
type openError struct{ department string }

func (e *openError) Error() string {
	return fmt.Sprintf("department %s: %v after repeated failures; not called until the cool-down ends", e.department, ErrOpen)
}

// Is makes errors.Is(err, ErrOpen) hold.
func (e *openError) Is(target error) bool { return target == ErrOpen }

// GRPCStatus gives the error the code UNAVAILABLE.
func (e *openError) GRPCStatus() *status.Status { return status.New(codes.Unavailable, e.Error()) }

// Code returns the gRPC code of err: the code of a gRPC status it is or
// wraps, DEADLINE_EXCEEDED or CANCELLED for context errors, OK for nil, and
// UNKNOWN otherwise.
func Code(err error) codes.Code {
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	}
	return codes.Unknown
}

// Retryable reports whether a call that ended with err may be tried again
// with the same request id: the department may not have received it, may
// not have answered, or asked to be called later. These are UNAVAILABLE
// (including an open [Breaker]), DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED,
// ABORTED, INTERNAL, and CANCELLED (the caller gave up, e.g. a node
// stopping). Every other error is a final answer: retrying would get the
// same one.
func Retryable(err error) bool {
	switch Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted,
		codes.Aborted, codes.Internal, codes.Canceled:
		return true
	}
	return false
}

// breakerFailure reports whether err says the department is unreachable or
// not answering in time, what a Breaker counts: UNAVAILABLE (connection
// errors included) and DEADLINE_EXCEEDED. Answers, business refusals among
// them, show that it works.
func breakerFailure(err error) bool {
	switch Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}

// breakerExcluded reports whether err tells nothing about the department:
// the caller cancelled the call.
func breakerExcluded(err error) bool { return Code(err) == codes.Canceled }
