package scenario

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/yrd-epermit/epermit/catalogue"
	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/department"
	"github.com/yrd-epermit/epermit/server/auth"
	"github.com/yrd-epermit/epermit/server/devdepartment/sim"
	"github.com/yrd-epermit/epermit/server/permit"
	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/bolt"

	departmentv1 "github.com/yrd-epermit/epermit/proto/epermit/department/v1"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

const own = "330604"

// harness is a ScenarioService behind the node's auth guard on a real
// loopback gRPC server, over a bbolt file and a real PermitService, routing
// to simulated departments served on loopback.
type harness struct {
	client  epermitv1.ScenarioServiceClient
	reports departmentv1.StatusReportServiceClient
	svc     *Service
	store   *bolt.Store
	permits *permit.Service
	sims    map[string]*sim.Simulator
	stats   map[string]departmentv1.SimulatorServiceClient
	ids     *citizenid.Generator
	addr    string
	// adapters reach the simulators.
	adapters map[string]department.Adapter
	done     chan struct{}
}

// options of a harness.
type options struct {
	// sims are the simulators' configurations by department.
	sims map[string]sim.Config
	// maxAttempts bounds deliveries (3 when 0).
	maxAttempts int
	// noOutbox leaves the outbox stopped.
	noOutbox bool
}

func newHarness(t testing.TB, o options) *harness {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "permits.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(nil)
	signer, _ := credential.NewSigner(key)
	h := &harness{store: st, sims: map[string]*sim.Simulator{}, stats: map[string]departmentv1.SimulatorServiceClient{},
		ids: citizenid.NewGenerator(51)}
	h.permits = permit.New(permit.Config{Store: st, Signer: signer, Division: own, Authority: "绍兴市公安局上虞区分局", Rules: permit.DefaultRules()})
	compiled, err := catalogue.Compile(catalogue.Default())
	if err != nil {
		t.Fatal(err)
	}
	h.svc = New(Config{Store: st, Catalogue: compiled, Permits: h.permits, Division: own})
	guard := auth.New(auth.Config{Store: st, Division: own})
	srv := grpc.NewServer(grpc.UnaryInterceptor(guard.Unary()), grpc.StreamInterceptor(guard.Stream()))
	RegisterService(srv, h.svc)
	RegisterReports(srv, NewReports(h.svc))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	h.addr = lis.Addr().String()

	adapters := map[string]department.Adapter{}
	for code, cfg := range o.sims {
		cfg.Department = code
		s, err := sim.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		dsrv := grpc.NewServer()
		s.Register(dsrv)
		dlis, _ := net.Listen("tcp", "127.0.0.1:0")
		go dsrv.Serve(dlis)
		a, err := department.Dial(dlis.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn, _ := grpc.NewClient(dlis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		h.sims[code], h.stats[code], adapters[code] = s, departmentv1.NewSimulatorServiceClient(conn), a
		t.Cleanup(func() { conn.Close(); a.Close(); dsrv.Stop(); s.Close() })
	}

	staff := h.account(t, "staff", epermitv1.Role_ROLE_CLERK, epermitv1.Role_ROLE_SUPERVISOR)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(staff))
	if err != nil {
		t.Fatal(err)
	}
	h.client = epermitv1.NewScenarioServiceClient(conn)
	dept := h.account(t, DepartmentAccount("health"), epermitv1.Role_ROLE_DEPARTMENT)
	dconn, _ := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(dept))
	h.reports = departmentv1.NewStatusReportServiceClient(dconn)

	ctx, cancel := context.WithCancel(context.Background())
	h.done = make(chan struct{})
	h.adapters = adapters
	if o.noOutbox {
		close(h.done)
	} else {
		cfg := OutboxConfig{Departments: adapters, DefaultTimeout: 2 * time.Second, MaxAttempts: max(o.maxAttempts, 3),
			Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Workers: 8, Poll: 20 * time.Millisecond}
		go func() { defer close(h.done); h.svc.RunOutbox(ctx, cfg) }()
	}
	t.Cleanup(func() {
		cancel()
		<-h.done
		conn.Close()
		dconn.Close()
		srv.Stop()
		st.Close()
	})
	return h
}

// token is a bearer token sent with every call.
type token string

func (t token) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}
func (token) RequireTransportSecurity() bool { return false }

// account creates an account and returns its token.
func (h *harness) account(t testing.TB, name string, roles ...epermitv1.Role) token {
	t.Helper()
	tok := auth.NewToken()
	if err := h.store.CreateAccount(t.Context(), &store.Account{Name: name, Division: own,
		Kind: epermitv1.AccountKind_ACCOUNT_KIND_PERSON, TokenHash: auth.HashToken(tok), Roles: roles}, nil); err != nil {
		t.Fatal(err)
	}
	return token(tok)
}

var seq atomic.Int64

func newRequestID() string { return fmt.Sprintf("t-%d", seq.Add(1)) }

// permit issues a permit whose residence began months ago.
func (h *harness) permit(t testing.TB, months int) *epermitv1.Permit {
	t.Helper()
	resp, err := h.permits.IssuePermit(t.Context(), &epermitv1.IssuePermitRequest{RequestId: newRequestID(),
		Holder: &epermitv1.Holder{Name: "测试者丁", CitizenId: h.ids.NextWith(citizenid.Male, time.Date(1990, 3, 7, 0, 0, 0, 0, time.UTC)),
			Ethnicity: "汉", HukouAddress: "安徽省合肥市测试路1号"},
		ResidenceAddress: "浙江省绍兴市上虞区测试路2号", ResidenceStartDate: time.Now().AddDate(0, -months, -1).Format("2006-01-02")})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Permit
}

// child is a child of the given age in years.
func (h *harness) child(years int) *epermitv1.Child {
	return &epermitv1.Child{Name: "测试童", CitizenId: h.ids.NextWith(citizenid.Female, time.Now().AddDate(-years, -1, 0))}
}

func (h *harness) submit(t *testing.T, p *epermitv1.Permit, service string, child *epermitv1.Child, fields map[string]string) *epermitv1.ServiceRequest {
	t.Helper()
	resp, err := h.client.SubmitServiceRequest(t.Context(), &epermitv1.SubmitServiceRequestRequest{RequestId: newRequestID(),
		Permit: &epermitv1.ServicePermit{Subject: &epermitv1.ServicePermit_PermitId{PermitId: p.Id}}, Service: service, Child: child, Fields: fields})
	if err != nil {
		t.Fatalf("submit %s: %v", service, err)
	}
	return resp.Request
}

// settle waits until request id is in state want, for up to 10 s.
func (h *harness) settle(t *testing.T, id string, want epermitv1.ServiceRequestState) *epermitv1.ServiceRequest {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, err := h.client.GetServiceRequest(t.Context(), &epermitv1.GetServiceRequestRequest{Id: id})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Request.State == want {
			return resp.Request
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %s is %v, want %v: %v", id, resp.Request.State, want, resp.Request)
		}
	}
}

// TestRouting: an eligible request is stored SUBMITTED, delivered once to
// its department with only the declared fields, and ends as the
// department decided; a retried submission returns the same request.
func TestRouting(t *testing.T) {
	h := newHarness(t, options{sims: map[string]sim.Config{"hrss": {Mode: sim.ModeComplete}}})
	p := h.permit(t, 24)
	req := &epermitv1.SubmitServiceRequestRequest{RequestId: "route-1", Service: "employment_registration",
		Permit: &epermitv1.ServicePermit{Subject: &epermitv1.ServicePermit_PermitId{PermitId: p.Id}},
		Fields: map[string]string{"employer": "测试科技有限公司"}}
	first, err := h.client.SubmitServiceRequest(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	r := first.Request
	if r.State != epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_SUBMITTED || r.RuleVersion == "" || len(r.Conditions) < 2 {
		t.Fatalf("submitted: %v", r)
	}
	again, err := h.client.SubmitServiceRequest(t.Context(), req)
	if err != nil || again.Request.Id != r.Id {
		t.Fatalf("retried submission: %v, %v", again, err)
	}
	done := h.settle(t, r.Id, epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_COMPLETED)
	if n := len(done.History); n != 2 || done.Attempts != 1 {
		t.Fatalf("history %v, attempts %d", done.History, done.Attempts)
	}
	svc, _, _ := h.svc.cfg.Catalogue.Service("employment_registration")
	for k := range done.DepartmentFields {
		if !slices.Contains(svc.DepartmentFields, k) {
			t.Errorf("field %s was sent, but the service declares only %v", k, svc.DepartmentFields)
		}
	}
	if done.DepartmentFields["holder.name"] != "测试者丁" && slices.Contains(svc.DepartmentFields, "holder.name") {
		t.Errorf("department fields %v", done.DepartmentFields)
	}
	stats, err := h.stats["hrss"].GetStats(t.Context(), &departmentv1.GetStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Submits[r.Id] != 1 || stats.Distinct != 1 {
		t.Fatalf("department received %v", stats)
	}
}

// TestNotEligible: a request the rule refuses is answered
// FAILED_PRECONDITION naming each failed condition, and nothing is stored;
// CheckEligibility shows every condition with its outcome.
func TestNotEligible(t *testing.T) {
	h := newHarness(t, options{noOutbox: true})
	p := h.permit(t, 24)
	child := h.child(3)
	_, err := h.client.SubmitServiceRequest(t.Context(), &epermitv1.SubmitServiceRequestRequest{RequestId: newRequestID(),
		Permit:  &epermitv1.ServicePermit{Subject: &epermitv1.ServicePermit_PermitId{PermitId: p.Id}},
		Service: "school_enrolment", Child: child, Fields: map[string]string{"school": "测试小学"}})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("a three-year-old's school enrolment: %v", err)
	}
	var failed []string
	for _, d := range status.Convert(err).Details() {
		if pf, ok := d.(*errdetails.PreconditionFailure); ok {
			for _, v := range pf.Violations {
				if v.Type == "CONDITION_NOT_MET" {
					failed = append(failed, v.Description)
				}
			}
		}
	}
	if len(failed) != 1 {
		t.Fatalf("failed conditions %v", failed)
	}
	list, err := h.client.ListServiceRequests(t.Context(), &epermitv1.ListServiceRequestsRequest{})
	if err != nil || len(list.Requests) != 0 {
		t.Fatalf("a refused request was stored: %v, %v", list, err)
	}
	if head, _ := h.store.ServiceRequestEventHead(t.Context()); head != 0 {
		t.Fatalf("a refused request left event %d", head)
	}
	check, err := h.client.CheckEligibility(t.Context(), &epermitv1.CheckEligibilityRequest{
		Permit:  &epermitv1.ServicePermit{Subject: &epermitv1.ServicePermit_PermitId{PermitId: p.Id}},
		Service: "school_enrolment", Child: h.child(8), Fields: map[string]string{"school": "测试小学"}})
	if err != nil || !check.Eligible {
		t.Fatalf("an eight-year-old: %v, %v", check, err)
	}
	for _, c := range check.Conditions {
		if !c.Passed || c.Description == "" {
			t.Errorf("condition %v", c)
		}
	}
}

// TestBadRequests: bad input is INVALID_ARGUMENT naming the field.
func TestBadRequests(t *testing.T) {
	h := newHarness(t, options{noOutbox: true})
	p := h.permit(t, 24)
	byID := &epermitv1.ServicePermit{Subject: &epermitv1.ServicePermit_PermitId{PermitId: p.Id}}
	for name, tt := range map[string]struct {
		req   *epermitv1.SubmitServiceRequestRequest
		field string
	}{
		"no request id":   {&epermitv1.SubmitServiceRequestRequest{Permit: byID, Service: "unemployment_registration"}, "request_id"},
		"unknown service": {&epermitv1.SubmitServiceRequestRequest{RequestId: newRequestID(), Permit: byID, Service: "moon_landing"}, "service"},
		"no child":        {&epermitv1.SubmitServiceRequestRequest{RequestId: newRequestID(), Permit: byID, Service: "child_health_records"}, "child"},
		"child not taken": {&epermitv1.SubmitServiceRequestRequest{RequestId: newRequestID(), Permit: byID, Service: "unemployment_registration", Child: h.child(4)}, "child"},
		"bad child id": {&epermitv1.SubmitServiceRequestRequest{RequestId: newRequestID(), Permit: byID, Service: "child_health_records",
			Child: &epermitv1.Child{Name: "测试童", CitizenId: "330604202001010010"}}, "child.citizen_id"},
		"unknown field": {&epermitv1.SubmitServiceRequestRequest{RequestId: newRequestID(), Permit: byID, Service: "unemployment_registration",
			Fields: map[string]string{"shoe_size": "42"}}, "fields.shoe_size"},
		"no permit": {&epermitv1.SubmitServiceRequestRequest{RequestId: newRequestID(), Service: "unemployment_registration"}, "permit"},
	} {
		_, err := h.client.SubmitServiceRequest(t.Context(), tt.req)
		if status.Code(err) != codes.InvalidArgument || !slices.Contains(violations(err), tt.field) {
			t.Errorf("%s: %v, want INVALID_ARGUMENT on %s", name, err, tt.field)
		}
	}
}

// violations returns the fields of err's BadRequest detail.
func violations(err error) []string {
	var fields []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.FieldViolations {
				fields = append(fields, v.Field)
			}
		}
	}
	return fields
}

// TestDepartmentDown: a department that refuses every call gets the
// request MaxAttempts times with backoff, then the request is FAILED with
// the reason; a retry by hand delivers it once the department is back.
func TestDepartmentDown(t *testing.T) {
	h := newHarness(t, options{maxAttempts: 3, sims: map[string]sim.Config{
		"hrss": {Mode: sim.ModeComplete, Down: sim.Schedule{Outages: []sim.Outage{{Start: 0, Length: 2 * time.Second}}}}}})
	p := h.permit(t, 24)
	r := h.submit(t, p, "unemployment_registration", nil, nil)
	failed := h.settle(t, r.Id, epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_FAILED)
	if failed.Attempts != 3 || failed.Reason == "" || failed.NextAttemptTime != nil {
		t.Fatalf("failed request: %v", failed)
	}
	for h.sims["hrss"].Down() {
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := h.client.RetryServiceRequest(t.Context(), &epermitv1.RetryServiceRequestRequest{RequestId: newRequestID(), Id: r.Id}); err != nil {
		t.Fatal(err)
	}
	h.settle(t, r.Id, epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_COMPLETED)
	stats, _ := h.stats["hrss"].GetStats(t.Context(), &departmentv1.GetStatsRequest{})
	if stats.Submits[r.Id] != 1 || stats.Refused < 3 {
		t.Fatalf("department stats %v", stats)
	}
}

// TestCancel: a request not yet delivered can be cancelled; a delivered
// one cannot.
func TestCancel(t *testing.T) {
	h := newHarness(t, options{noOutbox: true})
	p := h.permit(t, 24)
	r := h.submit(t, p, "unemployment_registration", nil, nil)
	resp, err := h.client.CancelServiceRequest(t.Context(), &epermitv1.CancelServiceRequestRequest{RequestId: newRequestID(), Id: r.Id, Reason: "申请人撤回"})
	if err != nil || resp.Request.State != epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_CANCELLED || resp.Request.NextAttemptTime != nil {
		t.Fatalf("cancel: %v, %v", resp, err)
	}
	due, _ := h.store.ClaimDeliveries(t.Context(), time.Now().Add(time.Hour), time.Minute, 10)
	if len(due) != 0 {
		t.Fatalf("a cancelled request is still in the outbox: %v", due)
	}
	if _, err := h.client.CancelServiceRequest(t.Context(), &epermitv1.CancelServiceRequestRequest{RequestId: newRequestID(), Id: r.Id, Reason: "again"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("cancelling twice: %v", err)
	}
}

// TestReportAndWatch: a department that accepts reports its decision
// later; a watcher sees every change of state, also when it reconnects
// with its last resume token.
func TestReportAndWatch(t *testing.T) {
	h := newHarness(t, options{sims: map[string]sim.Config{"health": {Mode: sim.ModeAccept, ReportAfter: time.Hour}}})
	p := h.permit(t, 24)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	stream, err := h.client.WatchServiceRequests(ctx, &epermitv1.WatchServiceRequestsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if md, err := stream.Header(); err != nil || len(md.Get(ResumeTokenHeader)) != 1 {
		t.Fatalf("the watch header says where it starts: %v, %v", md, err)
	}
	r := h.submit(t, p, "family_doctor_signing", nil, map[string]string{"health_centre": "测试社区卫生服务中心"})
	var seen []epermitv1.ServiceRequestState
	var last string
	for len(seen) < 2 {
		ev, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		seen, last = append(seen, ev.Change.State), ev.ResumeToken
	}
	cancel() // the watcher goes away; the department reports meanwhile
	if _, err := h.reports.ReportStatus(t.Context(), &departmentv1.ReportStatusRequest{RequestId: r.Id,
		Decision: departmentv1.Decision_DECISION_COMPLETED, Reference: "HC-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.reports.ReportStatus(t.Context(), &departmentv1.ReportStatusRequest{RequestId: r.Id,
		Decision: departmentv1.Decision_DECISION_COMPLETED}); err != nil {
		t.Fatalf("the same report again: %v", err)
	}
	rctx, rcancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer rcancel()
	resumed, err := h.client.WatchServiceRequests(rctx, &epermitv1.WatchServiceRequestsRequest{ResumeToken: last, PermitId: p.Id})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := resumed.Recv()
	if err != nil {
		t.Fatal(err)
	}
	seen = append(seen, ev.Change.State)
	want := []epermitv1.ServiceRequestState{epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_SUBMITTED,
		epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_ACCEPTED, epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_COMPLETED}
	if !slices.Equal(seen, want) || ev.Request.DepartmentReference != "HC-1" {
		t.Fatalf("watched %v, want %v; last %v", seen, want, ev.Request)
	}
	r2 := h.submit(t, p, "family_doctor_signing", nil, map[string]string{"health_centre": "测试社区卫生服务中心"})
	h.settle(t, r2.Id, epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_ACCEPTED)
	education := h.dial(t, h.account(t, DepartmentAccount("education"), epermitv1.Role_ROLE_DEPARTMENT))
	if _, err := departmentv1.NewStatusReportServiceClient(education).ReportStatus(t.Context(), &departmentv1.ReportStatusRequest{
		RequestId: r2.Id, Decision: departmentv1.Decision_DECISION_REJECTED}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("another department's report: %v", err)
	}
}

// dial connects to the service as the holder of tok.
func (h *harness) dial(t *testing.T, tok token) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(tok))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestEachDeliveredOnce: with many requests and a busy outbox, no request
// reaches its department twice (a due list read before a delivery ended
// must not deliver it again).
func TestEachDeliveredOnce(t *testing.T) {
	h := newHarness(t, options{sims: map[string]sim.Config{"hrss": {Mode: sim.ModeComplete}}})
	p := h.permit(t, 24)
	var ids []string
	for range 200 {
		ids = append(ids, h.submit(t, p, "unemployment_registration", nil, nil).Id)
	}
	for _, id := range ids {
		h.settle(t, id, epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_COMPLETED)
	}
	stats, err := h.stats["hrss"].GetStats(t.Context(), &departmentv1.GetStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if n := stats.Submits[id]; n != 1 {
			t.Errorf("request %s reached the department %d times", id, n)
		}
	}
}
