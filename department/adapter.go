package department

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	departmentv1 "github.com/yrd-epermit/epermit/proto/epermit/department/v1"
)

// Adapter hands service requests to one department and asks where they
// stand. Implementations honour ctx's deadline and never retry by
// themselves; their errors are gRPC statuses that [Retryable] classifies.
type Adapter interface {
	// Submit delivers one request; the answer is the department's decision
	// so far. Calling it again with the same request id is safe and gets
	// the same decision.
	Submit(ctx context.Context, req *departmentv1.SubmitRequestRequest) (*departmentv1.SubmitRequestResponse, error)
	// Status returns the department's current decision on a request it
	// received, or a NOT_FOUND error.
	Status(ctx context.Context, requestID string) (*departmentv1.GetRequestStatusResponse, error)
}

// GRPCAdapter is the Adapter of a department system that serves
// DepartmentService over gRPC. Close it when done.
type GRPCAdapter struct {
	target string
	conn   *grpc.ClientConn
	client departmentv1.DepartmentServiceClient
}

// Ensure GRPCAdapter is an Adapter.
var _ Adapter = (*GRPCAdapter)(nil)

// DialOption configures Dial.
type DialOption func(*dialOptions)

type dialOptions struct {
	tls  *tls.Config
	grpc []grpc.DialOption
}

// WithTLS calls the department over TLS with cfg; for mutual TLS, cfg
// holds the node's client certificate (pki.ClientConfig builds one).
// Without it the connection is plaintext, which Dial allows to loopback
// targets only.
func WithTLS(cfg *tls.Config) DialOption {
	return func(o *dialOptions) { o.tls = cfg }
}

// WithGRPCOptions adds gRPC dial options, such as interceptors or
// per-call credentials.
func WithGRPCOptions(opts ...grpc.DialOption) DialOption {
	return func(o *dialOptions) { o.grpc = append(o.grpc, opts...) }
}

// Dial returns an adapter for the department system at target
// ("host:port", or any gRPC target). It does not connect yet: the first
// call does, and a department that cannot be reached fails that call with
// UNAVAILABLE. Dial fails when the target is empty or malformed, or when it
// is not a loopback address and no TLS configuration is given.
func Dial(target string, opts ...DialOption) (*GRPCAdapter, error) {
	if target == "" {
		return nil, errNoTarget
	}
	var o dialOptions
	for _, opt := range opts {
		opt(&o)
	}
	creds := insecure.NewCredentials()
	if o.tls != nil {
		creds = credentials.NewTLS(o.tls)
	} else if !Loopback(target) {
		return nil, fmt.Errorf("department %s: plaintext is for loopback addresses only; give a TLS configuration", target)
	}
	conn, err := grpc.NewClient(target, append([]grpc.DialOption{grpc.WithTransportCredentials(creds)}, o.grpc...)...)
	if err != nil {
		return nil, fmt.Errorf("department %s: %w", target, err)
	}
	return &GRPCAdapter{target: target, conn: conn, client: departmentv1.NewDepartmentServiceClient(conn)}, nil
}

// Target returns the target the adapter was dialled with.
func (a *GRPCAdapter) Target() string { return a.target }

// Submit calls DepartmentService/SubmitRequest.
func (a *GRPCAdapter) Submit(ctx context.Context, req *departmentv1.SubmitRequestRequest) (*departmentv1.SubmitRequestResponse, error) {
	return a.client.SubmitRequest(ctx, req)
}

// Status calls DepartmentService/GetRequestStatus.
func (a *GRPCAdapter) Status(ctx context.Context, requestID string) (*departmentv1.GetRequestStatusResponse, error) {
	return a.client.GetRequestStatus(ctx, &departmentv1.GetRequestStatusRequest{RequestId: requestID})
}

// Close closes the connection; calls in flight fail with CANCELLED.
func (a *GRPCAdapter) Close() error { return a.conn.Close() }

// Loopback reports whether target ("host:port", optionally after a dns:///
// or passthrough:/// scheme) names this machine: localhost or a loopback IP
// address, the only places plaintext may go.
func Loopback(target string) bool {
	for _, scheme := range []string{"dns:///", "passthrough:///"} {
		target = strings.TrimPrefix(target, scheme)
	}
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// errNoTarget is returned by Dial for an empty target.
var errNoTarget = errors.New("department: no target to dial")
