package department_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/yrd-epermit/epermit/department"
	"github.com/yrd-epermit/epermit/pki"
	"github.com/yrd-epermit/epermit/server/devdepartment/sim"

	departmentv1 "github.com/yrd-epermit/epermit/proto/epermit/department/v1"
)

// startSim serves a simulator with cfg on a free loopback port, with the
// server options given, and returns its address and the simulator.
func startSim(t *testing.T, cfg sim.Config, opts ...grpc.ServerOption) (string, *sim.Simulator) {
	t.Helper()
	if cfg.Department == "" {
		cfg.Department = "education"
	}
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	s.Register(srv)
	go srv.Serve(lis)
	t.Cleanup(func() { srv.Stop(); s.Close() })
	return lis.Addr().String(), s
}

// dial dials addr in plaintext and closes the adapter at the end of the
// test.
func dial(t *testing.T, addr string, opts ...department.DialOption) *department.GRPCAdapter {
	t.Helper()
	a, err := department.Dial(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// request is a service request with id.
func request(id string) *departmentv1.SubmitRequestRequest {
	return &departmentv1.SubmitRequestRequest{RequestId: id, NodeDivision: "330604", Service: "school_enrolment",
		Purpose: "primary school enrolment", Fields: map[string]string{"holder.name": "测试者甲", "child.birth_date": "2019-05-02"}}
}

// stats reads the simulator's stats over gRPC.
func stats(t *testing.T, addr string) *departmentv1.GetStatsResponse {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st, err := departmentv1.NewSimulatorServiceClient(conn).GetStats(context.Background(), &departmentv1.GetStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestGRPCAdapter(t *testing.T) {
	addr, _ := startSim(t, sim.Config{Mode: sim.ModeReject})
	a := dial(t, addr)
	if a.Target() != addr {
		t.Errorf("Target() = %q", a.Target())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	first, err := a.Submit(ctx, request("r-1"))
	if err != nil {
		t.Fatal(err)
	}
	if first.Decision != departmentv1.Decision_DECISION_REJECTED || first.Reason == "" || first.Reference == "" {
		t.Fatalf("answered %v", first)
	}
	again, err := a.Submit(ctx, request("r-1"))
	if err != nil || again.Reference != first.Reference || again.Decision != first.Decision {
		t.Fatalf("retry answered %v, %v; first %v", again, err, first)
	}
	st, err := a.Status(ctx, "r-1")
	if err != nil || st.Decision != first.Decision || st.Reason != first.Reason {
		t.Fatalf("status %v, %v", st, err)
	}
	_, err = a.Status(ctx, "unknown")
	if status.Code(err) != codes.NotFound || department.Retryable(err) {
		t.Fatalf("status of an unknown request: %v", err)
	}
	_, err = a.Submit(ctx, &departmentv1.SubmitRequestRequest{Service: "school_enrolment"})
	if status.Code(err) != codes.InvalidArgument || department.Retryable(err) {
		t.Fatalf("submit without id: %v", err)
	}
	if got := stats(t, addr); got.Submits["r-1"] != 2 || got.Distinct != 1 {
		t.Fatalf("stats %v", got)
	}
}

// TestGRPCAdapterTimeout: the caller's deadline bounds the call.
func TestGRPCAdapterTimeout(t *testing.T) {
	addr, _ := startSim(t, sim.Config{Latency: 10 * time.Second})
	a := dial(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := a.Submit(ctx, request("r-1"))
	if status.Code(err) != codes.DeadlineExceeded || !department.Retryable(err) {
		t.Fatalf("slow department: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("returned after %v", d)
	}
}

// TestGRPCAdapterUnreachable: a department that does not listen fails the
// call with UNAVAILABLE, which is retryable.
func TestGRPCAdapterUnreachable(t *testing.T) {
	a := dial(t, closedPort(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := a.Submit(ctx, request("r-1"))
	if status.Code(err) != codes.Unavailable || !department.Retryable(err) {
		t.Fatalf("unreachable department: %v", err)
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

// TestDialMutualTLS: a department serving mutual TLS is reached with the
// node's client certificate, and not without one.
func TestDialMutualTLS(t *testing.T) {
	dir := t.TempDir()
	if err := pki.WriteDevPKI(dir, "330604", []string{"127.0.0.1"}, []pki.Client{{Account: "node-330604"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	serverTLS, err := pki.ServerConfig(p("node.pem"), p("node.key"), p("ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := startSim(t, sim.Config{Mode: sim.ModeComplete}, grpc.Creds(credentials.NewTLS(serverTLS)))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	withCert, err := pki.ClientConfig(p("ca.pem"), p("node-330604.pem"), p("node-330604.key"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := dial(t, addr, department.WithTLS(withCert)).Submit(ctx, request("r-1"))
	if err != nil || r.Decision != departmentv1.Decision_DECISION_COMPLETED {
		t.Fatalf("with a client certificate: %v, %v", r, err)
	}
	withoutCert, err := pki.ClientConfig(p("ca.pem"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dial(t, addr, department.WithTLS(withoutCert)).Submit(ctx, request("r-2")); err == nil {
		t.Fatal("a call without a client certificate succeeded")
	}
	if _, err := dial(t, addr).Submit(ctx, request("r-3")); status.Code(err) != codes.Unavailable {
		t.Fatalf("a plaintext call to a TLS department: %v", err)
	}
}

// TestDialWithGRPCOptions: extra dial options apply to every call.
func TestDialWithGRPCOptions(t *testing.T) {
	addr, _ := startSim(t, sim.Config{})
	var methods []string
	record := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		methods = append(methods, method)
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	a := dial(t, addr, department.WithGRPCOptions(grpc.WithUnaryInterceptor(record)))
	if _, err := a.Submit(context.Background(), request("r-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Status(context.Background(), "r-1"); err != nil {
		t.Fatal(err)
	}
	want := []string{departmentv1.DepartmentService_SubmitRequest_FullMethodName, departmentv1.DepartmentService_GetRequestStatus_FullMethodName}
	if fmt.Sprint(methods) != fmt.Sprint(want) {
		t.Fatalf("calls %v, want %v", methods, want)
	}
}

func TestDialRefusesPlaintextBeyondLoopback(t *testing.T) {
	for _, target := range []string{"", "10.1.2.3:7800", "dept.example:443", "127.0.0.1"} {
		if a, err := department.Dial(target); err == nil {
			a.Close()
			t.Errorf("Dial(%q) in plaintext succeeded", target)
		}
	}
	for _, target := range []string{"127.0.0.1:7800", "localhost:7800", "[::1]:7800", "dns:///127.0.0.1:7800"} {
		a, err := department.Dial(target)
		if err != nil {
			t.Errorf("Dial(%q): %v", target, err)
			continue
		}
		a.Close()
	}
}

func TestLoopback(t *testing.T) {
	for target, want := range map[string]bool{
		"127.0.0.1:1": true, "127.8.9.10:1": true, "[::1]:1": true, "localhost:1": true, "LocalHost:1": true,
		"passthrough:///127.0.0.1:1": true, "dns:///localhost:1": true,
		"0.0.0.0:1": false, "10.0.0.1:1": false, "example.com:1": false, "127.0.0.1": false, "": false, ":7800": false,
	} {
		if got := department.Loopback(target); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", target, got, want)
		}
	}
}

func TestRetryable(t *testing.T) {
	for _, tt := range []struct {
		err  error
		code codes.Code
		want bool
	}{
		{nil, codes.OK, false},
		{status.Error(codes.Unavailable, "down"), codes.Unavailable, true},
		{status.Error(codes.DeadlineExceeded, "slow"), codes.DeadlineExceeded, true},
		{status.Error(codes.ResourceExhausted, "busy"), codes.ResourceExhausted, true},
		{status.Error(codes.Aborted, "conflict"), codes.Aborted, true},
		{status.Error(codes.Internal, "bug"), codes.Internal, true},
		{status.Error(codes.Canceled, "gave up"), codes.Canceled, true},
		{context.DeadlineExceeded, codes.DeadlineExceeded, true},
		{fmt.Errorf("calling: %w", context.Canceled), codes.Canceled, true},
		{fmt.Errorf("department x: %w", status.Error(codes.Unavailable, "down")), codes.Unavailable, true},
		{status.Error(codes.InvalidArgument, "bad"), codes.InvalidArgument, false},
		{status.Error(codes.FailedPrecondition, "no"), codes.FailedPrecondition, false},
		{status.Error(codes.PermissionDenied, "no"), codes.PermissionDenied, false},
		{status.Error(codes.Unauthenticated, "who"), codes.Unauthenticated, false},
		{status.Error(codes.NotFound, "none"), codes.NotFound, false},
		{status.Error(codes.AlreadyExists, "dup"), codes.AlreadyExists, false},
		{status.Error(codes.Unimplemented, "no"), codes.Unimplemented, false},
		{errors.New("plain"), codes.Unknown, false},
	} {
		if got := department.Code(tt.err); got != tt.code {
			t.Errorf("Code(%v) = %v, want %v", tt.err, got, tt.code)
		}
		if got := department.Retryable(tt.err); got != tt.want {
			t.Errorf("Retryable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
