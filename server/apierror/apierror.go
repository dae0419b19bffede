// Package apierror builds the gRPC errors epermit's services return: the code
// that fits, a short message for people, and standard google.rpc details
// (BadRequest field violations, ResourceInfo, PreconditionFailure) that
// clients read back with status.Convert(err).Details().
//
// Handlers return these errors directly; causes that callers must not see
// (store failures) are logged and answered with Internal, or Unavailable
// when the store cannot be reached (Failure).
package apierror

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/yrd-epermit/epermit/store"
)

// Violations collects field violations of one request; the zero value is
// ready to use.
type Violations struct {
	list []*errdetails.BadRequest_FieldViolation
}

// Add records that field (a dotted path such as "holder.citizen_id") broke a
// rule: reason is UPPER_SNAKE_CASE, description a sentence for people.
func (v *Violations) Add(field, reason, description string) {
	v.list = append(v.list, &errdetails.BadRequest_FieldViolation{
		Field: field, Reason: reason, Description: description,
	})
}

// Empty reports whether no violation was recorded.
func (v *Violations) Empty() bool { return len(v.list) == 0 }

// Fields returns the violations recorded, in order, for answers that list
// them otherwise than as an error (one row of a batch).
func (v *Violations) Fields() []*errdetails.BadRequest_FieldViolation { return v.list }

// Err returns nil when there are no violations, else an InvalidArgument
// error with message msg and a BadRequest detail listing them all.
func (v *Violations) Err(msg string) error {
	if v.Empty() {
		return nil
	}
	return withDetails(codes.InvalidArgument, msg, &errdetails.BadRequest{FieldViolations: v.list})
}

// ErrUnder is Err with every field named under prefix ("application" makes
// "holder.name" "application.holder.name"), for checks of a message that a
// request holds as one of its fields.
func (v *Violations) ErrUnder(prefix, msg string) error {
	for _, fv := range v.list {
		fv.Field = prefix + "." + fv.Field
	}
	return v.Err(msg)
}

// InvalidField is a shortcut for a request with a single bad field.
func InvalidField(field, reason, description string) error {
	var v Violations
	v.Add(field, reason, description)
	return v.Err(fmt.Sprintf("invalid %s: %s", field, description))
}

// NotFound says that the resource of this type and name does not exist.
func NotFound(resourceType, name string) error {
	return withDetails(codes.NotFound, fmt.Sprintf("%s %s not found", resourceType, name),
		&errdetails.ResourceInfo{ResourceType: resourceType, ResourceName: name})
}

// AlreadyExists says that the request would create a duplicate of the named
// resource; msg explains it.
func AlreadyExists(resourceType, name, msg string) error {
	return withDetails(codes.AlreadyExists, msg,
		&errdetails.ResourceInfo{ResourceType: resourceType, ResourceName: name, Description: msg})
}

// FailedPrecondition says that the resource is not in a state that allows
// the request; kind is an UPPER_SNAKE_CASE violation type (e.g.
// "PERMIT_CANCELLED"), subject what it concerns, msg the sentence for people.
func FailedPrecondition(kind, subject, msg string) error {
	return withDetails(codes.FailedPrecondition, msg, &errdetails.PreconditionFailure{
		Violations: []*errdetails.PreconditionFailure_Violation{{Type: kind, Subject: subject, Description: msg}},
	})
}

// Aborted says that a concurrent change won; the caller should re-read and
// retry.
func Aborted(msg string) error {
	return status.Error(codes.Aborted, msg)
}

// Ended returns the error callers see when err says that the call's context
// ended (Canceled, DeadlineExceeded), or nil for any other err.
func Ended(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	return nil
}

// Internal hides a cause the caller must not see behind a fixed message.
func Internal() error {
	return status.Error(codes.Internal, "internal error; the node's log has the details")
}

// Failure answers a failure whose cause the caller must not see (the
// handler logs it): UNAVAILABLE with a retry hint when the store could
// not be reached (store.ErrUnavailable), so clients retry, else Internal.
func Failure(err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		return withDetails(codes.Unavailable, "the node's store cannot be reached; retry shortly (a change retried under the same request id is made once)",
			&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Second)})
	}
	return Internal()
}

func withDetails(c codes.Code, msg string, details ...protoadapt.MessageV1) error {
	st, err := status.New(c, msg).WithDetails(details...)
	if err != nil {
		return status.Error(c, msg)
	}
	return st.Err()
}

// PermissionDenied says that the caller may not make this request.
func PermissionDenied(msg string) error {
	return status.Error(codes.PermissionDenied, msg)
}

// Unavailable says that something the request needs cannot be reached
// now; the caller may retry later.
func Unavailable(msg string) error {
	return status.Error(codes.Unavailable, msg)
}
