package loadshed

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/yrd-epermit/epermit/server/devdepartment/sim"

	departmentv1 "github.com/yrd-epermit/epermit/proto/epermit/department/v1"
)

// TestLimiter: with two slots taken by calls that wait on a slow
// department simulator, a third call is refused with RESOURCE_EXHAUSTED
// and a RetryInfo after the queue wait, while health checks still answer;
// once a slot frees, calls get through again.
func TestLimiter(t *testing.T) {
	l := New(2, 20*time.Millisecond)
	slow, err := sim.New(sim.Config{Department: "education", Latency: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(slow.Close)
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(l.Unary()))
	slow.Register(srv)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	dept := departmentv1.NewDepartmentServiceClient(conn)
	submit := func(ctx context.Context, n int) error {
		_, err := dept.SubmitRequest(ctx, &departmentv1.SubmitRequestRequest{RequestId: fmt.Sprintf("r-%d", n),
			NodeDivision: "330604", Service: "school_enrolment", Purpose: "school enrolment"})
		return err
	}

	// Two calls hold both slots until cancelled.
	hold, release := context.WithCancel(t.Context())
	held := make(chan error, 2)
	for i := range 2 {
		go func() { held <- submit(hold, i) }()
	}
	waitInFlight(t, l, 2)

	err = submit(t.Context(), 3)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third call: %v, want RESOURCE_EXHAUSTED", err)
	}
	var retry *errdetails.RetryInfo
	for _, d := range status.Convert(err).Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	if d := retry.GetRetryDelay().AsDuration(); d < retryDelay || d > 2*retryDelay {
		t.Fatalf("retry hint %v, want %v..%v", d, retryDelay, 2*retryDelay)
	}
	if l.Shed() != 1 {
		t.Fatalf("shed %d, want 1", l.Shed())
	}
	resp, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health while full: %v, %v", resp, err)
	}

	release()
	for range 2 {
		if err := <-held; status.Code(err) != codes.Canceled {
			t.Fatalf("held call: %v, want CANCELLED", err)
		}
	}
	// The slots free when the handlers return, a moment after the cancel.
	waitInFlight(t, l, 0)
	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := submit(short, 4); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("call after release: %v, want it admitted (and cut off by its own deadline)", err)
	}
	if l.Shed() != 1 {
		t.Fatalf("shed %d after release, want still 1", l.Shed())
	}
}

// waitInFlight waits up to 10 s until n calls hold a slot.
func waitInFlight(t *testing.T, l *Limiter, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.InFlight() != n {
		if time.Now().After(deadline) {
			t.Fatalf("in flight %d, want %d", l.InFlight(), n)
		}
		time.Sleep(time.Millisecond)
	}
}
