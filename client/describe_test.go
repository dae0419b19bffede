package client

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
)

// withDetails builds a status error carrying details, failing the test if
// they cannot be attached.
func withDetails(t *testing.T, c codes.Code, msg string, details ...protoadapt.MessageV1) error {
	t.Helper()
	st, err := status.New(c, msg).WithDetails(details...)
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		name string
		err  func(t *testing.T) error
		want string
	}{
		{
			name: "nil",
			err:  func(*testing.T) error { return nil },
			want: "",
		},
		{
			name: "plain error",
			err:  func(*testing.T) error { return errors.New("open key.pem: no such file or directory") },
			want: "open key.pem: no such file or directory",
		},
		{
			name: "status without details",
			err: func(*testing.T) error {
				return status.Error(codes.Aborted, "permit 330604-4F7K2M9QXW3B7 changed; read it again")
			},
			want: "aborted: permit 330604-4F7K2M9QXW3B7 changed; read it again",
		},
		{
			name: "status without message",
			err:  func(*testing.T) error { return status.Error(codes.DeadlineExceeded, "") },
			want: "deadline exceeded",
		},
		{
			name: "code outside the catalogue",
			err:  func(*testing.T) error { return status.Error(codes.Code(42), "odd") },
			want: "code 42: odd",
		},
		{
			name: "bad request with one violation",
			err: func(t *testing.T) error {
				return withDetails(t, codes.InvalidArgument, "invalid permit request", &errdetails.BadRequest{
					FieldViolations: []*errdetails.BadRequest_FieldViolation{
						{Field: "holder.citizen_id", Reason: "CHECK_DIGIT_MISMATCH", Description: "check character should be X, got 3"},
					},
				})
			},
			want: "invalid argument: invalid permit request; holder.citizen_id: CHECK_DIGIT_MISMATCH (check character should be X, got 3)",
		},
		{
			name: "bad request with several violations",
			err: func(t *testing.T) error {
				return withDetails(t, codes.InvalidArgument, "invalid permit request", &errdetails.BadRequest{
					FieldViolations: []*errdetails.BadRequest_FieldViolation{
						{Field: "holder.name", Reason: "REQUIRED", Description: "must not be empty"},
						{Field: "residence_start_date", Reason: "DATE_FORMAT"},
						{Field: "request_id", Description: "must be 1 to 64 characters"},
					},
				})
			},
			want: "invalid argument: invalid permit request; holder.name: REQUIRED (must not be empty); residence_start_date: DATE_FORMAT; request_id: must be 1 to 64 characters",
		},
		{
			name: "description repeating the message",
			err: func(t *testing.T) error {
				return withDetails(t, codes.InvalidArgument, "invalid permit_id: must be a permit id", &errdetails.BadRequest{
					FieldViolations: []*errdetails.BadRequest_FieldViolation{
						{Field: "permit_id", Reason: "FORMAT", Description: "invalid permit_id: must be a permit id"},
					},
				})
			},
			want: "invalid argument: invalid permit_id: must be a permit id; permit_id: FORMAT",
		},
		{
			name: "resource info",
			err: func(t *testing.T) error {
				return withDetails(t, codes.NotFound, "permit 330604-4F7K2M9QXW3B7 not found",
					&errdetails.ResourceInfo{ResourceType: "permit", ResourceName: "330604-4F7K2M9QXW3B7"})
			},
			want: "not found: permit 330604-4F7K2M9QXW3B7 not found; resource permit 330604-4F7K2M9QXW3B7",
		},
		{
			name: "resource info with owner and description",
			err: func(t *testing.T) error {
				return withDetails(t, codes.AlreadyExists, "citizen already holds a permit",
					&errdetails.ResourceInfo{ResourceType: "permit", ResourceName: "330604-4F7K2M9QXW3B7", Owner: "330604", Description: "issued 2026-01-05"})
			},
			want: "already exists: citizen already holds a permit; resource permit 330604-4F7K2M9QXW3B7 owned by 330604 (issued 2026-01-05)",
		},
		{
			name: "precondition failure",
			err: func(t *testing.T) error {
				return withDetails(t, codes.FailedPrecondition, "permit is cancelled", &errdetails.PreconditionFailure{
					Violations: []*errdetails.PreconditionFailure_Violation{
						{Type: "PERMIT_CANCELLED", Subject: "330604-4F7K2M9QXW3B7", Description: "permit is cancelled"},
					},
				})
			},
			want: "failed precondition: permit is cancelled; 330604-4F7K2M9QXW3B7: PERMIT_CANCELLED",
		},
		{
			name: "error info and retry info",
			err: func(t *testing.T) error {
				return withDetails(t, codes.Unavailable, "store is busy",
					&errdetails.ErrorInfo{Reason: "STORE_BUSY", Domain: "epermit.yrd", Metadata: map[string]string{"node": "330604", "backend": "bolt"}},
					&errdetails.RetryInfo{RetryDelay: durationpb.New(1500 * time.Millisecond)})
			},
			want: "unavailable: store is busy; reason STORE_BUSY from epermit.yrd (backend=bolt, node=330604); retry after 1.5s",
		},
		{
			name: "rate limited",
			err: func(t *testing.T) error {
				return withDetails(t, codes.ResourceExhausted, "too many changes by clerk.wang",
					&errdetails.RetryInfo{RetryDelay: durationpb.New(2345678 * time.Microsecond)})
			},
			want: "resource exhausted: too many changes by clerk.wang; retry after 2.4s",
		},
		{
			name: "rate limited for less than a second",
			err: func(t *testing.T) error {
				return withDetails(t, codes.ResourceExhausted, "slow down",
					&errdetails.RetryInfo{RetryDelay: durationpb.New(250500 * time.Microsecond)})
			},
			want: "resource exhausted: slow down; retry after 251ms",
		},
		{
			name: "wrapped status",
			err: func(t *testing.T) error {
				return fmt.Errorf("permitd at 127.0.0.1:7700: %w", status.Error(codes.Unavailable, "connection refused"))
			},
			want: "permitd at 127.0.0.1:7700: unavailable: connection refused",
		},
		{
			name: "status wrapped at both ends",
			err: func(t *testing.T) error {
				return fmt.Errorf("endorse: %w (retry with --request-id R1)", status.Error(codes.DeadlineExceeded, "context deadline exceeded"))
			},
			want: "endorse: deadline exceeded: context deadline exceeded (retry with --request-id R1)",
		},
		{
			name: "context error from the grpc client",
			err:  func(*testing.T) error { return status.FromContextError(context.Canceled).Err() },
			want: "canceled: context canceled",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Describe(tt.err(t)); got != tt.want {
				t.Errorf("Describe() =\n  %s\nwant\n  %s", got, tt.want)
			}
		})
	}
}
