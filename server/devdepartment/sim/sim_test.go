package sim

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	departmentv1 "github.com/yrd-epermit/epermit/proto/epermit/department/v1"
)

// clock is a settable time for the outage schedule.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// newSim returns a simulator closed at the end of the test.
func newSim(t *testing.T, cfg Config) *Simulator {
	t.Helper()
	if cfg.Department == "" {
		cfg.Department = "education"
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// submit calls SubmitRequest for id.
func submit(s *Simulator, id string) (*departmentv1.SubmitRequestResponse, error) {
	return s.SubmitRequest(context.Background(), &departmentv1.SubmitRequestRequest{
		RequestId: id, NodeDivision: "330604", Service: "school_enrolment", Purpose: "school enrolment",
		Fields: map[string]string{"child.birth_date": "2020-03-01"}})
}

// stats returns the simulator's stats.
func stats(t *testing.T, s *Simulator) *departmentv1.GetStatsResponse {
	t.Helper()
	st, err := s.GetStats(context.Background(), &departmentv1.GetStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// serve serves register's services on a free loopback port and returns a
// connection to it.
func serve(t *testing.T, register func(grpc.ServiceRegistrar)) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	register(srv)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestParseOutage(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Outage
		ok   bool
	}{
		{"5s:10s", Outage{5 * time.Second, 10 * time.Second}, true},
		{"0s:1m", Outage{0, time.Minute}, true},
		{"5s", Outage{}, false},
		{"5s:0s", Outage{}, false},
		{"-1s:5s", Outage{}, false},
		{"x:5s", Outage{}, false},
		{"5s:y", Outage{}, false},
	} {
		got, err := ParseOutage(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseOutage(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if tt.ok && got.String() != (Outage{got.Start, got.Length}).String() {
			t.Errorf("String() = %q", got.String())
		}
	}
}

func TestScheduleDown(t *testing.T) {
	s := Schedule{
		Outages:  []Outage{{5 * time.Second, 10 * time.Second}, {time.Minute, time.Second}},
		Periodic: Periodic{Every: 100 * time.Second, For: 3 * time.Second},
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		at   time.Duration
		down bool
	}{
		{0, false}, {4999 * time.Millisecond, false}, {5 * time.Second, true}, {14 * time.Second, true},
		{15 * time.Second, false}, {60500 * time.Millisecond, true}, {61 * time.Second, false},
		{99 * time.Second, false}, {100 * time.Second, true}, {102 * time.Second, true}, {103 * time.Second, false},
		{201 * time.Second, true}, {250 * time.Second, false},
	} {
		if got := s.Down(tt.at); got != tt.down {
			t.Errorf("Down(%v) = %v, want %v", tt.at, got, tt.down)
		}
	}
	if (Schedule{}).Down(0) {
		t.Error("the empty schedule is down")
	}
	for _, bad := range []Schedule{
		{Periodic: Periodic{Every: time.Second}},
		{Periodic: Periodic{Every: time.Second, For: time.Second}},
		{Outages: []Outage{{0, 0}}},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v validated", bad)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no department": {},
		"bad mode":      {Department: "x", Mode: "maybe"},
		"rate above 1":  {Department: "x", FailureRate: 1.5},
		"negative rate": {Department: "x", FailureRate: -0.1},
		"negative wait": {Department: "x", Latency: -time.Second},
		"bad outage":    {Department: "x", Down: Schedule{Periodic: Periodic{Every: time.Second, For: 2 * time.Second}}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

// TestIdempotentByRequestID: a retried request gets the same decision and
// reference, counts again in submits but not as a new request.
func TestIdempotentByRequestID(t *testing.T) {
	for _, mode := range []Mode{ModeAccept, ModeReject, ModeComplete, ModeMixed} {
		t.Run(string(mode), func(t *testing.T) {
			s := newSim(t, Config{Mode: mode, ReportAfter: time.Hour})
			first, err := submit(s, "r-1")
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				again, err := submit(s, "r-1")
				if err != nil {
					t.Fatal(err)
				}
				if again.Decision != first.Decision || again.Reason != first.Reason || again.Reference != first.Reference {
					t.Fatalf("retry answered %v, first %v", again, first)
				}
			}
			if _, err := submit(s, "r-2"); err != nil {
				t.Fatal(err)
			}
			st := stats(t, s)
			if st.Submits["r-1"] != 3 || st.Submits["r-2"] != 1 || st.Distinct != 2 || st.Refused != 0 {
				t.Fatalf("stats %v", st)
			}
			got, err := s.GetRequestStatus(context.Background(), &departmentv1.GetRequestStatusRequest{RequestId: "r-1"})
			if err != nil {
				t.Fatal(err)
			}
			if got.Decision != first.Decision || got.Reference != first.Reference {
				t.Fatalf("status %v, submitted %v", got, first)
			}
		})
	}
}

func TestDecisions(t *testing.T) {
	for _, tt := range []struct {
		mode Mode
		want departmentv1.Decision
	}{
		{ModeAccept, departmentv1.Decision_DECISION_ACCEPTED},
		{ModeReject, departmentv1.Decision_DECISION_REJECTED},
		{ModeComplete, departmentv1.Decision_DECISION_COMPLETED},
	} {
		s := newSim(t, Config{Mode: tt.mode, ReportAfter: time.Hour})
		r, err := submit(s, "r-1")
		if err != nil {
			t.Fatal(err)
		}
		if r.Decision != tt.want || r.Reference != "education-000001" || (tt.mode == ModeReject) != (r.Reason != "") {
			t.Errorf("%s answered %v", tt.mode, r)
		}
	}
	// Mixed decides by request id: the same in every simulator, and all
	// three decisions occur.
	a, b := newSim(t, Config{Mode: ModeMixed, ReportAfter: time.Hour}), newSim(t, Config{Mode: ModeMixed, ReportAfter: time.Hour})
	seen := map[departmentv1.Decision]int{}
	for i := range 60 {
		id := fmt.Sprintf("req-%d", i)
		ra, err := submit(a, id)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := submit(b, id)
		if err != nil {
			t.Fatal(err)
		}
		if ra.Decision != rb.Decision {
			t.Fatalf("%s: %v in one simulator, %v in another", id, ra.Decision, rb.Decision)
		}
		seen[ra.Decision]++
	}
	if len(seen) != 3 {
		t.Fatalf("mixed decisions: %v", seen)
	}
}

func TestValidationAndNotFound(t *testing.T) {
	s := newSim(t, Config{})
	ctx := context.Background()
	for name, req := range map[string]*departmentv1.SubmitRequestRequest{
		"no request id": {Service: "school_enrolment"},
		"no service":    {RequestId: "r-1"},
		"long id":       {RequestId: string(make([]byte, 129)), Service: "x"},
	} {
		if _, err := s.SubmitRequest(ctx, req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := s.GetRequestStatus(ctx, &departmentv1.GetRequestStatusRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("status without id: %v", err)
	}
	if _, err := s.GetRequestStatus(ctx, &departmentv1.GetRequestStatusRequest{RequestId: "never"}); status.Code(err) != codes.NotFound {
		t.Errorf("status of an unknown id: %v", err)
	}
	if st := stats(t, s); len(st.Submits) != 0 || st.Distinct != 0 {
		t.Errorf("invalid calls were recorded: %v", st)
	}
}

// TestFailureRate: the seeded draws refuse about the configured fraction,
// the same calls for the same seed, and record nothing of what they refuse.
func TestFailureRate(t *testing.T) {
	const calls = 2000
	run := func(seed uint64) []bool {
		s := newSim(t, Config{FailureRate: 0.3, Seed: seed, Mode: ModeComplete})
		var refused []bool
		for i := range calls {
			_, err := submit(s, fmt.Sprintf("r-%d", i))
			if err != nil && status.Code(err) != codes.Unavailable {
				t.Fatal(err)
			}
			refused = append(refused, err != nil)
		}
		st := stats(t, s)
		n := 0
		for _, r := range refused {
			if r {
				n++
			}
		}
		if st.Refused != int64(n) || st.Distinct != int64(calls-n) || len(st.Submits) != calls-n {
			t.Fatalf("%d refused, stats %d refused, %d distinct", n, st.Refused, st.Distinct)
		}
		if n < calls*25/100 || n > calls*35/100 {
			t.Fatalf("refused %d of %d at rate 0.3", n, calls)
		}
		return refused
	}
	a, b, c := run(7), run(7), run(8)
	same := func(x, y []bool) bool {
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	if !same(a, b) {
		t.Error("the same seed refused different calls")
	}
	if same(a, c) {
		t.Error("different seeds refused the same calls")
	}

	always := newSim(t, Config{FailureRate: 1})
	if _, err := submit(always, "r-1"); status.Code(err) != codes.Unavailable {
		t.Fatalf("rate 1: %v", err)
	}
	// Failures are for submissions only: status calls still answer.
	if _, err := always.GetRequestStatus(context.Background(), &departmentv1.GetRequestStatusRequest{RequestId: "r-1"}); status.Code(err) != codes.NotFound {
		t.Fatalf("status at rate 1: %v", err)
	}
}

// TestDown: during an outage every department call is refused and nothing
// is recorded; GetStats still answers; afterwards all works again.
func TestDown(t *testing.T) {
	clk := &clock{now: time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)}
	s := newSim(t, Config{Mode: ModeComplete, Now: clk.Now, Down: Schedule{Outages: []Outage{{5 * time.Second, 10 * time.Second}}}})
	if _, err := submit(s, "before"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(6 * time.Second)
	if !s.Down() {
		t.Fatal("not down 6 s after start")
	}
	if _, err := submit(s, "during"); status.Code(err) != codes.Unavailable {
		t.Fatalf("submit while down: %v", err)
	}
	if _, err := s.GetRequestStatus(context.Background(), &departmentv1.GetRequestStatusRequest{RequestId: "before"}); status.Code(err) != codes.Unavailable {
		t.Fatalf("status while down: %v", err)
	}
	if st := stats(t, s); st.Refused != 2 || st.Distinct != 1 || st.Submits["during"] != 0 {
		t.Fatalf("stats while down: %v", st)
	}
	clk.Advance(9 * time.Second)
	if _, err := submit(s, "during"); err != nil {
		t.Fatalf("submit after the outage: %v", err)
	}
	if st := stats(t, s); st.Refused != 2 || st.Distinct != 2 || st.Submits["during"] != 1 {
		t.Fatalf("stats after the outage: %v", st)
	}
}

// TestLatency: answers take the latency; a caller that gives up first gets
// DEADLINE_EXCEEDED and the request is not recorded.
func TestLatency(t *testing.T) {
	s := newSim(t, Config{Mode: ModeComplete, Latency: 60 * time.Millisecond, Jitter: 20 * time.Millisecond, Seed: 1})
	start := time.Now()
	if _, err := submit(s, "r-1"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("answered in %v, latency 60±20 ms", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	_, err := s.SubmitRequest(ctx, &departmentv1.SubmitRequestRequest{RequestId: "r-2", Service: "school_enrolment"})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("impatient caller: %v", err)
	}
	if st := stats(t, s); st.Distinct != 1 || st.Submits["r-2"] != 0 {
		t.Fatalf("stats %v", st)
	}
}

// reportServer is a StatusReportService that refuses its first fail calls
// with code, then records.
type reportServer struct {
	departmentv1.UnimplementedStatusReportServiceServer
	code codes.Code

	mu      sync.Mutex
	fail    int
	calls   int
	reports []*departmentv1.ReportStatusRequest
}

func (r *reportServer) ReportStatus(_ context.Context, req *departmentv1.ReportStatusRequest) (*departmentv1.ReportStatusResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.calls <= r.fail {
		return nil, status.Error(r.code, "not now")
	}
	r.reports = append(r.reports, req)
	return &departmentv1.ReportStatusResponse{}, nil
}

func (r *reportServer) state() (calls int, reports []*departmentv1.ReportStatusRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls, append([]*departmentv1.ReportStatusRequest(nil), r.reports...)
}

// TestReportBack: an accepted request turns COMPLETED after ReportAfter and
// is reported to the node over gRPC, retried while the node is
// unavailable, once.
func TestReportBack(t *testing.T) {
	node := &reportServer{code: codes.Unavailable, fail: 2}
	conn := serve(t, func(r grpc.ServiceRegistrar) { departmentv1.RegisterStatusReportServiceServer(r, node) })
	s := newSim(t, Config{Mode: ModeAccept, ReportAfter: 30 * time.Millisecond,
		Reporter: departmentv1.NewStatusReportServiceClient(conn)})
	// The department itself is called over gRPC too.
	dept := departmentv1.NewDepartmentServiceClient(serve(t, s.Register))
	ctx := context.Background()
	r, err := dept.SubmitRequest(ctx, &departmentv1.SubmitRequestRequest{RequestId: "r-1", Service: "school_enrolment"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Decision != departmentv1.Decision_DECISION_ACCEPTED {
		t.Fatalf("answered %v", r)
	}
	var reports []*departmentv1.ReportStatusRequest
	for deadline := time.Now().Add(10 * time.Second); len(reports) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no report in 10 s")
		}
		_, reports = node.state()
	}
	got := reports[0]
	if got.RequestId != "r-1" || got.Decision != departmentv1.Decision_DECISION_COMPLETED || got.Reference != r.Reference {
		t.Fatalf("reported %v", got)
	}
	st, err := dept.GetRequestStatus(ctx, &departmentv1.GetRequestStatusRequest{RequestId: "r-1"})
	if err != nil || st.Decision != departmentv1.Decision_DECISION_COMPLETED {
		t.Fatalf("status after the report: %v, %v", st, err)
	}
	// A retried submission after completion answers COMPLETED and is not
	// reported again.
	again, err := dept.SubmitRequest(ctx, &departmentv1.SubmitRequestRequest{RequestId: "r-1", Service: "school_enrolment"})
	if err != nil || again.Decision != departmentv1.Decision_DECISION_COMPLETED {
		t.Fatalf("retry after completion: %v, %v", again, err)
	}
	time.Sleep(100 * time.Millisecond)
	if calls, reports := node.state(); calls != 3 || len(reports) != 1 {
		t.Fatalf("%d report calls, %d reports; want 3 and 1", calls, len(reports))
	}
	stats, err := departmentv1.NewSimulatorServiceClient(serve(t, s.Register)).GetStats(ctx, &departmentv1.GetStatsRequest{})
	if err != nil || stats.Submits["r-1"] != 2 || stats.Distinct != 1 {
		t.Fatalf("stats %v, %v", stats, err)
	}
}

// TestReportRefused: a final refusal by the node is not retried.
func TestReportRefused(t *testing.T) {
	node := &reportServer{code: codes.PermissionDenied, fail: 100}
	conn := serve(t, func(r grpc.ServiceRegistrar) { departmentv1.RegisterStatusReportServiceServer(r, node) })
	s := newSim(t, Config{ReportAfter: time.Millisecond, Reporter: departmentv1.NewStatusReportServiceClient(conn)})
	if _, err := submit(s, "r-1"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if calls, _ := node.state(); calls > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no report in 10 s")
		}
	}
	time.Sleep(500 * time.Millisecond)
	if calls, _ := node.state(); calls != 1 {
		t.Fatalf("%d calls after PERMISSION_DENIED, want 1", calls)
	}
}

// TestCloseStopsReports: Close returns promptly with completions pending
// and reports retrying, and later submissions start none.
func TestCloseStopsReports(t *testing.T) {
	node := &reportServer{code: codes.Unavailable, fail: 1 << 30}
	conn := serve(t, func(r grpc.ServiceRegistrar) { departmentv1.RegisterStatusReportServiceServer(r, node) })
	s, err := New(Config{Department: "housing", ReportAfter: time.Millisecond, Reporter: departmentv1.NewStatusReportServiceClient(conn)})
	if err != nil {
		t.Fatal(err)
	}
	pending, err := New(Config{Department: "housing", ReportAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []*Simulator{s, pending} {
		if _, err := submit(x, "r-1"); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	s.Close()
	pending.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if _, err := submit(pending, "r-2"); err != nil {
		t.Fatal(err)
	}
	pending.Close()
}
