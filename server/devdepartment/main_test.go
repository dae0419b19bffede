package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"

	"github.com/yrd-epermit/epermit/department"
	"github.com/yrd-epermit/epermit/pki"

	departmentv1 "github.com/yrd-epermit/epermit/proto/epermit/department/v1"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// servingRE finds the address in the line announcing it.
var servingRE = regexp.MustCompile(`serving gRPC on (\S+)`)

// start runs devdepartment with args in this process until the end of the
// test, and returns the address it serves on.
func start(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, logs := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), out, logs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		if !strings.Contains(out.String(), "devdepartment: stopping") {
			t.Errorf("no stopping line in %q", out.String())
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if m := servingRE.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("devdepartment stopped: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("devdepartment did not announce its address in 10 s: %q", out.String())
		}
	}
}

// statsOf reads the stats of the simulator at addr.
func statsOf(t *testing.T, conn grpc.ClientConnInterface) *departmentv1.GetStatsResponse {
	t.Helper()
	st, err := departmentv1.NewSimulatorServiceClient(conn).GetStats(context.Background(), &departmentv1.GetStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestRun(t *testing.T) {
	addr := start(t, "-department", "hrss", "-decision", "reject", "-latency", "5ms", "-jitter", "2ms", "-seed", "3")
	a, err := department.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for range 2 {
		r, err := a.Submit(ctx, &departmentv1.SubmitRequestRequest{RequestId: "r-1", Service: "employment_registration"})
		if err != nil || r.Decision != departmentv1.Decision_DECISION_REJECTED || !strings.HasPrefix(r.Reference, "hrss-") {
			t.Fatalf("answered %v, %v", r, err)
		}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if st := statsOf(t, conn); st.Submits["r-1"] != 2 || st.Distinct != 1 || st.Refused != 0 {
		t.Fatalf("stats %v", st)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-decision", "maybe"},
		{"-failure-rate", "2"},
		{"-down", "5s"},
		{"-down-every", "10s"},
		{"-listen", "0.0.0.0:7800"},
		{"-tls-cert", "x.pem"},
		{"-client-ca", "ca.pem"},
		{"-report-cert", "x.pem"},
		{"-report-ca", "ca.pem"},
		{"-report-to", "10.0.0.1:7700"},
		{"-report-to", "127.0.0.1:7700", "-report-cert", "a.pem", "-report-key", "a.key", "-report-token-file", "t"},
		{"-log-level", "loud"},
		{"extra"},
	} {
		err := run(context.Background(), args, io.Discard, io.Discard)
		if !errors.As(err, new(usageError)) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	if err := run(context.Background(), []string{"-help"}, io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-help: %v", err)
	}
}

// reporter is a node's StatusReportService that records the reports and
// the client certificate's account of each.
type reporter struct {
	departmentv1.UnimplementedStatusReportServiceServer
	mu      sync.Mutex
	reports []string
}

func (r *reporter) ReportStatus(ctx context.Context, req *departmentv1.ReportStatusRequest) (*departmentv1.ReportStatusResponse, error) {
	account := "?"
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			account, _, _ = pki.PeerIdentity(info.State)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, account+" "+req.RequestId+" "+req.Decision.String())
	return &departmentv1.ReportStatusResponse{}, nil
}

func (r *reporter) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reports...)
}

// TestMutualTLSAndReport serves the department over mutual TLS and has it
// report completions to a node over mutual TLS with the department
// account's certificate.
func TestMutualTLSAndReport(t *testing.T) {
	dir := t.TempDir()
	if err := pki.WriteDevPKI(dir, "330604", []string{"127.0.0.1"},
		[]pki.Client{{Account: "node-330604"}, {Account: "dept-education"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	nodeTLS, err := pki.ServerConfig(p("node.pem"), p("node.key"), p("ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	node := &reporter{}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(nodeTLS)))
	departmentv1.RegisterStatusReportServiceServer(srv, node)
	go srv.Serve(lis)
	defer srv.Stop()

	addr := start(t, "-tls-cert", p("node.pem"), "-tls-key", p("node.key"), "-client-ca", p("ca.pem"),
		"-decision", "accept", "-report-after", "10ms", "-report-to", lis.Addr().String(),
		"-report-ca", p("ca.pem"), "-report-cert", p("dept-education.pem"), "-report-key", p("dept-education.key"))
	tc, err := pki.ClientConfig(p("ca.pem"), p("node-330604.pem"), p("node-330604.key"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := department.Dial(addr, department.WithTLS(tc))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := a.Submit(ctx, &departmentv1.SubmitRequestRequest{RequestId: "r-1", Service: "school_enrolment"})
	if err != nil || r.Decision != departmentv1.Decision_DECISION_ACCEPTED {
		t.Fatalf("answered %v, %v", r, err)
	}
	for deadline := time.Now().Add(10 * time.Second); len(node.list()) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no report in 10 s")
		}
	}
	if got, want := node.list()[0], "dept-education r-1 DECISION_COMPLETED"; got != want {
		t.Fatalf("report %q, want %q", got, want)
	}
}

// TestBinary builds devdepartment, starts it on a free port, calls it, and
// stops it with SIGTERM: it exits 0.
func TestBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "devdepartment")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-department", "housing", "-decision", "complete")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stdout)
	var addr string
	for addr == "" && lines.Scan() {
		if m := servingRE.FindStringSubmatch(lines.Text()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("no address announced; stderr: %s", stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	a, err := department.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r, err := a.Submit(ctx, &departmentv1.SubmitRequestRequest{RequestId: "r-1", Service: "public_rental_housing"}); err != nil ||
		r.Decision != departmentv1.Decision_DECISION_COMPLETED {
		t.Fatalf("answered %v, %v", r, err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; stderr: %s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10 s after SIGTERM")
	}
}
