package client

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// codeWords names each gRPC code in lower-case words.
var codeWords = map[codes.Code]string{
	codes.OK:                 "ok",
	codes.Canceled:           "canceled",
	codes.Unknown:            "unknown error",
	codes.InvalidArgument:    "invalid argument",
	codes.DeadlineExceeded:   "deadline exceeded",
	codes.NotFound:           "not found",
	codes.AlreadyExists:      "already exists",
	codes.PermissionDenied:   "permission denied",
	codes.ResourceExhausted:  "resource exhausted",
	codes.FailedPrecondition: "failed precondition",
	codes.Aborted:            "aborted",
	codes.OutOfRange:         "out of range",
	codes.Unimplemented:      "unimplemented",
	codes.Internal:           "internal error",
	codes.Unavailable:        "unavailable",
	codes.DataLoss:           "data loss",
	codes.Unauthenticated:    "unauthenticated",
}

// Describe renders err in one line for people. For a gRPC status it gives
// the code in words, the message, and the standard details the status
// carries, each separated by "; ":
//
//   - BadRequest: each field violation as "field: REASON (description)"
//   - PreconditionFailure: each violation as "subject: TYPE (description)"
//   - ResourceInfo: "resource TYPE NAME", with its owner and description
//   - ErrorInfo: "reason REASON from DOMAIN", with its metadata as key=value
//   - RetryInfo: "retry after DELAY", the delay rounded up to a tenth of a
//     second (to a millisecond below one second)
//
// A description that repeats the message is left out. Text that wraps the
// status (fmt.Errorf("...: %w", err)) is kept around it. Other errors are
// rendered with their Error method; nil is rendered as "".
func Describe(err error) string {
	if err == nil {
		return ""
	}
	var se interface {
		error
		GRPCStatus() *status.Status
	}
	if !errors.As(err, &se) {
		return err.Error()
	}
	described := describeStatus(se.GRPCStatus())
	if outer := err.Error(); strings.Contains(outer, se.Error()) {
		return strings.Replace(outer, se.Error(), described, 1)
	}
	return described
}

// describeStatus renders a status: code words, message and details.
func describeStatus(st *status.Status) string {
	head, ok := codeWords[st.Code()]
	if !ok {
		head = fmt.Sprintf("code %d", uint32(st.Code()))
	}
	if st.Message() != "" {
		head += ": " + st.Message()
	}
	parts := []string{head}
	for _, d := range st.Details() {
		parts = append(parts, describeDetail(d, st.Message())...)
	}
	return strings.Join(parts, "; ")
}

// describeDetail renders one status detail as zero or more parts; msg is the
// status message, which descriptions are not to repeat.
func describeDetail(d any, msg string) []string {
	var parts []string
	switch d := d.(type) {
	case *errdetails.BadRequest:
		for _, v := range d.GetFieldViolations() {
			parts = append(parts, violation(v.GetField(), v.GetReason(), v.GetDescription(), msg))
		}
	case *errdetails.PreconditionFailure:
		for _, v := range d.GetViolations() {
			parts = append(parts, violation(v.GetSubject(), v.GetType(), v.GetDescription(), msg))
		}
	case *errdetails.ResourceInfo:
		s := strings.TrimSpace("resource " + d.GetResourceType() + " " + d.GetResourceName())
		if d.GetOwner() != "" {
			s += " owned by " + d.GetOwner()
		}
		parts = append(parts, s+parenthesised(d.GetDescription(), msg))
	case *errdetails.ErrorInfo:
		s := "reason " + d.GetReason()
		if d.GetDomain() != "" {
			s += " from " + d.GetDomain()
		}
		md := d.GetMetadata()
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(md)) {
			kv = append(kv, k+"="+md[k])
		}
		parts = append(parts, s+parenthesised(strings.Join(kv, ", "), msg))
	case *errdetails.RetryInfo:
		if d.GetRetryDelay() != nil {
			parts = append(parts, "retry after "+roundUp(d.GetRetryDelay().AsDuration()).String())
		}
	}
	return parts
}

// roundUp rounds d up to a tenth of a second, or below one second to a
// millisecond, so that a retry hint reads "2.4s" rather than "2.345678s".
func roundUp(d time.Duration) time.Duration {
	unit := 100 * time.Millisecond
	if d < time.Second {
		unit = time.Millisecond
	}
	if r := d % unit; r > 0 {
		d += unit - r
	}
	return max(d, 0)
}

// violation renders "subject: KIND (description)", leaving out what is
// empty and a description equal to msg.
func violation(subject, kind, description, msg string) string {
	s := kind + parenthesised(description, msg)
	if kind == "" && description != msg {
		s = description
	}
	switch {
	case subject == "":
		return s
	case s == "":
		return subject
	}
	return subject + ": " + s
}

// parenthesised returns " (s)", or "" when s is empty or equal to msg.
func parenthesised(s, msg string) string {
	if s == "" || s == msg {
		return ""
	}
	return " (" + s + ")"
}
