package application

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/server/auth"
	"github.com/yrd-epermit/epermit/server/permit"
	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/bolt"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

const own = "330604"

// clock is a settable clock for moving across deadlines.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// start is the time the tests begin: 2026-04-01 10:00 China Standard Time.
var start = time.Date(2026, 4, 1, 10, 0, 0, 0, time.FixedZone("CST", 8*60*60))

// harness is an ApplicationService behind the node's auth guard on a real
// loopback gRPC server, over a bbolt file, issuing through a real
// PermitService.
type harness struct {
	client epermitv1.ApplicationServiceClient
	svc    *Service
	store  *bolt.Store
	clock  *clock
	ids    *citizenid.Generator
	// issues counts the calls of IssuePermit.
	issues atomic.Int32
}

// countingIssuer counts the calls to the permit service.
type countingIssuer struct {
	Issuer
	n *atomic.Int32
}

func (c countingIssuer) IssuePermit(ctx context.Context, req *epermitv1.IssuePermitRequest) (*epermitv1.IssuePermitResponse, error) {
	c.n.Add(1)
	return c.Issuer.IssuePermit(ctx, req)
}

// token is a bearer token sent with every call.
type token string

func (t token) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}
func (token) RequireTransportSecurity() bool { return false }

// newHarness starts a service with cfg's deadline and peers (the rest is
// filled in).
func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "permits.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(nil)
	signer, err := credential.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{store: st, clock: &clock{now: start}, ids: citizenid.NewGenerator(11)}
	permits := permit.New(permit.Config{Store: st, Signer: signer, Division: own, Authority: "绍兴市公安局上虞区分局",
		Rules: permit.DefaultRules(), Clock: h.clock.Now})
	cfg.Store, cfg.Division, cfg.Clock = st, own, h.clock.Now
	cfg.Issuer = countingIssuer{permits, &h.issues}
	if h.svc, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	guard := auth.New(auth.Config{Store: st, Division: own, Clock: h.clock.Now})
	srv := grpc.NewServer(grpc.UnaryInterceptor(guard.Unary()))
	RegisterService(srv, h.svc)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	tok := auth.NewToken()
	if err := st.CreateAccount(t.Context(), &store.Account{
		Name: "staff", Division: own, Kind: epermitv1.AccountKind_ACCOUNT_KIND_PERSON, TokenHash: auth.HashToken(tok),
		Roles: []epermitv1.Role{epermitv1.Role_ROLE_CLERK, epermitv1.Role_ROLE_SUPERVISOR},
	}, nil); err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(token(tok)))
	if err != nil {
		t.Fatal(err)
	}
	h.client = epermitv1.NewApplicationServiceClient(conn)
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		st.Close()
	})
	return h
}

var reqSeq atomic.Int64

func newRequestID() string { return fmt.Sprintf("test-%d", reqSeq.Add(1)) }

// complete are materials that meet every default requirement.
var complete = []string{"id_card", "photo", "residence_proof", "employment_proof"}

func (h *harness) submitRequest(materials ...string) *epermitv1.SubmitApplicationRequest {
	return &epermitv1.SubmitApplicationRequest{
		RequestId: newRequestID(),
		Holder: &epermitv1.Holder{
			Name: "测试者乙", CitizenId: h.ids.Next(), Ethnicity: "汉", HukouAddress: "安徽省合肥市蜀山区测试路2号",
		},
		ResidenceAddress:   "浙江省绍兴市上虞区曹娥街道测试小区3幢402室",
		ResidenceStartDate: "2025-09-01",
		Channel:            epermitv1.ApplicationChannel_APPLICATION_CHANNEL_HALL,
		MaterialsProvided:  materials,
	}
}

func (h *harness) submit(t *testing.T, materials ...string) *epermitv1.Application {
	t.Helper()
	resp, err := h.client.SubmitApplication(t.Context(), h.submitRequest(materials...))
	if err != nil {
		t.Fatalf("SubmitApplication: %v", err)
	}
	return resp.Application
}

func (h *harness) get(t *testing.T, id string) *epermitv1.Application {
	t.Helper()
	resp, err := h.client.GetApplication(t.Context(), &epermitv1.GetApplicationRequest{ApplicationId: id})
	if err != nil {
		t.Fatalf("GetApplication(%s): %v", id, err)
	}
	return resp.Application
}

func (h *harness) list(t *testing.T, req *epermitv1.ListApplicationsRequest) *epermitv1.ListApplicationsResponse {
	t.Helper()
	resp, err := h.client.ListApplications(t.Context(), req)
	if err != nil {
		t.Fatalf("ListApplications: %v", err)
	}
	return resp
}

// permits returns every permit in the store.
func (h *harness) permits(t *testing.T) []*epermitv1.Permit {
	t.Helper()
	ps, err := h.store.ListPermits(t.Context(), store.PermitFilter{}, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// wantCode fails unless err carries code.
func wantCode(t *testing.T, what string, err error, code codes.Code) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("%s: %v, want %v", what, err, code)
	}
}

// violations returns the fields of err's BadRequest detail.
func violations(err error) []string {
	var fields []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.FieldViolations {
				fields = append(fields, v.Field+":"+v.Reason)
			}
		}
	}
	return fields
}

func TestSubmitCompleteRunsTheDeadline(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.submit(t, complete...)
	if a.State != epermitv1.ApplicationState_APPLICATION_STATE_ACCEPTED || len(a.MissingMaterials) != 0 {
		t.Fatalf("complete application: state %v, missing %v", a.State, a.MissingMaterials)
	}
	if !a.AcceptTime.AsTime().Equal(start) || !a.Deadline.AsTime().Equal(start.AddDate(0, 0, 15)) || a.DeadlineDays != 15 {
		t.Fatalf("accept %v, deadline %v (%d days); want %v and 15 days later", a.AcceptTime.AsTime(), a.Deadline.AsTime(), a.DeadlineDays, start)
	}
	if a.Channel != epermitv1.ApplicationChannel_APPLICATION_CHANNEL_HALL || a.TargetDivision != own ||
		a.AcceptingDivision != own || a.SubmittedBy != "staff" || a.Version != 1 || a.Holder.BirthDate == "" {
		t.Fatalf("application = %v", a)
	}
	h.clock.Add(15 * 24 * time.Hour)
	if got := h.get(t, a.Id); got.Overdue {
		t.Fatal("overdue on the deadline itself")
	}
	if n := h.list(t, &epermitv1.ListApplicationsRequest{}).OverdueCount; n != 0 {
		t.Fatalf("overdue count on the deadline = %d", n)
	}
	h.clock.Add(time.Second)
	if got := h.get(t, a.Id); !got.Overdue {
		t.Fatal("not overdue after 15 days")
	}
	other := h.submit(t, "id_card") // waits for materials: never overdue
	resp := h.list(t, &epermitv1.ListApplicationsRequest{Overdue: true})
	if resp.OverdueCount != 1 || len(resp.Applications) != 1 || resp.Applications[0].Id != a.Id || !resp.Applications[0].Overdue {
		t.Fatalf("overdue list = %v (count %d), want only %s", resp.Applications, resp.OverdueCount, a.Id)
	}
	all := h.list(t, &epermitv1.ListApplicationsRequest{})
	if len(all.Applications) != 2 || all.Applications[1].Id != other.Id || all.OverdueCount != 1 {
		t.Fatalf("full list = %v", all)
	}
}

func TestDeadlineConfigured(t *testing.T) {
	h := newHarness(t, Config{DeadlineDays: 30})
	a := h.submit(t, complete...)
	if !a.Deadline.AsTime().Equal(start.AddDate(0, 0, 30)) || a.DeadlineDays != 30 {
		t.Fatalf("deadline %v (%d days), want 30 days after %v", a.Deadline.AsTime(), a.DeadlineDays, start)
	}
	h.clock.Add(16 * 24 * time.Hour)
	if h.get(t, a.Id).Overdue {
		t.Fatal("overdue after 16 of 30 days")
	}
	h.clock.Add(15 * 24 * time.Hour)
	if !h.get(t, a.Id).Overdue {
		t.Fatal("not overdue after 31 of 30 days")
	}
	for _, days := range []int{-1, 31} {
		if _, err := New(Config{Store: h.store, Division: own, DeadlineDays: days}); err == nil {
			t.Errorf("New with %d deadline days succeeded", days)
		}
	}
}

func TestMissingMaterialsToldAtOnce(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.submit(t, "id_card")
	if a.State != epermitv1.ApplicationState_APPLICATION_STATE_MATERIALS_REQUIRED || a.AcceptTime != nil || a.Deadline != nil {
		t.Fatalf("incomplete application: %v", a)
	}
	var missingCodes []string
	for _, m := range a.MissingMaterials {
		missingCodes = append(missingCodes, m.Code)
		if m.NameZh == "" || m.NameEn == "" {
			t.Errorf("missing %s has no name in both languages", m.Code)
		}
	}
	if !slices.Equal(missingCodes, []string{"photo", "residence_proof", "condition_proof"}) {
		t.Fatalf("missing %q, want every missing requirement at once", missingCodes)
	}
	if n := len(a.MissingMaterials[2].AnyOf); n != 3 {
		t.Fatalf("the condition proof offers %d choices, want 3 (employment, residence, study)", n)
	}
	h.clock.Add(40 * 24 * time.Hour)
	if h.get(t, a.Id).Overdue {
		t.Fatal("an application waiting for materials is overdue")
	}

	resp, err := h.client.SupplementApplication(t.Context(), &epermitv1.SupplementApplicationRequest{
		RequestId: newRequestID(), ApplicationId: a.Id, Version: a.Version, MaterialsProvided: []string{"photo"}})
	if err != nil {
		t.Fatal(err)
	}
	if s := resp.Application; s.State != epermitv1.ApplicationState_APPLICATION_STATE_MATERIALS_REQUIRED || len(s.MissingMaterials) != 2 {
		t.Fatalf("after the photo: %v", s)
	}
	resp, err = h.client.SupplementApplication(t.Context(), &epermitv1.SupplementApplicationRequest{
		RequestId: newRequestID(), ApplicationId: a.Id, Version: resp.Application.Version,
		MaterialsProvided: []string{"residence_proof", "study_proof"}})
	if err != nil {
		t.Fatal(err)
	}
	s := resp.Application
	accepted := start.Add(40 * 24 * time.Hour)
	if s.State != epermitv1.ApplicationState_APPLICATION_STATE_ACCEPTED || len(s.MissingMaterials) != 0 ||
		!s.AcceptTime.AsTime().Equal(accepted) || !s.Deadline.AsTime().Equal(accepted.AddDate(0, 0, 15)) ||
		s.SupplementedBy != "staff" || s.Version != 3 {
		t.Fatalf("complete after supplements: %v; want accepted now with the deadline from now", s)
	}
	_, err = h.client.SupplementApplication(t.Context(), &epermitv1.SupplementApplicationRequest{
		RequestId: newRequestID(), ApplicationId: a.Id, Version: s.Version, MaterialsProvided: []string{"photo"}})
	wantCode(t, "supplementing an accepted application", err, codes.FailedPrecondition)
}

func TestSubmitIdempotent(t *testing.T) {
	h := newHarness(t, Config{})
	req := h.submitRequest(complete...)
	first, err := h.client.SubmitApplication(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Add(time.Hour)
	again, err := h.client.SubmitApplication(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(first.Application, again.Application) {
		t.Fatalf("retried submit = %v, want the first %v", again.Application, first.Application)
	}
	if n := len(h.list(t, &epermitv1.ListApplicationsRequest{}).Applications); n != 1 {
		t.Fatalf("%d applications after a retried submit, want 1", n)
	}
	other := h.submitRequest(complete...)
	other.RequestId = req.RequestId
	_, err = h.client.SubmitApplication(t.Context(), other)
	wantCode(t, "a request id reused for another application", err, codes.InvalidArgument)
	if v := violations(err); !slices.Equal(v, []string{"request_id:REUSED"}) {
		t.Fatalf("violations %q", v)
	}
}

func TestApproveIssuesOnePermit(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.submit(t, complete...)
	req := &epermitv1.ApproveApplicationRequest{RequestId: newRequestID(), ApplicationId: a.Id, Version: a.Version}
	resp, err := h.client.ApproveApplication(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := resp.Application
	if got.State != epermitv1.ApplicationState_APPLICATION_STATE_APPROVED || got.PermitId == "" ||
		got.PermitId != resp.Permit.GetId() || got.DecidedBy != "staff" || got.DecideTime == nil {
		t.Fatalf("approved application %v, permit %v", got, resp.Permit)
	}
	if p := resp.Permit; p.Holder.GetCitizenId() != a.Holder.CitizenId || p.ResidenceAddress != a.ResidenceAddress ||
		p.ResidenceStartDate != a.ResidenceStartDate {
		t.Fatalf("permit %v does not carry the application's holder and residence", p)
	}
	retry, err := h.client.ApproveApplication(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(retry.Application, got) || retry.Permit.GetId() != got.PermitId {
		t.Fatalf("retried approve = %v, want the first", retry)
	}
	_, err = h.client.ApproveApplication(t.Context(), &epermitv1.ApproveApplicationRequest{
		RequestId: newRequestID(), ApplicationId: a.Id, Version: got.Version})
	wantCode(t, "approving an approved application", err, codes.FailedPrecondition)
	if ps := h.permits(t); len(ps) != 1 || ps[0].Id != got.PermitId {
		t.Fatalf("permits %v, want exactly %s", ps, got.PermitId)
	}
}

// TestApproveRace: approvals of one version with different request ids,
// at once: one wins, the others are ABORTED, and one permit is issued.
func TestApproveRace(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.submit(t, complete...)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = h.client.ApproveApplication(context.Background(), &epermitv1.ApproveApplicationRequest{
				RequestId: newRequestID(), ApplicationId: a.Id, Version: a.Version})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch status.Code(err) {
		case codes.OK:
			won++
		case codes.Aborted:
		default:
			t.Errorf("racing approve: %v, want OK or ABORTED", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d approvals won, want 1", won)
	}
	if ps := h.permits(t); len(ps) != 1 || ps[0].Id != h.get(t, a.Id).PermitId {
		t.Fatalf("permits %v, want exactly the approved application's", ps)
	}
}

// TestApproveAfterLostRecord: when the permit was issued but the approval
// was not recorded (a crash in between), approving again records the
// permit already issued instead of issuing a second.
func TestApproveAfterLostRecord(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.submit(t, complete...)
	issued, err := h.svc.issue(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h.client.ApproveApplication(t.Context(), &epermitv1.ApproveApplicationRequest{
		RequestId: newRequestID(), ApplicationId: a.Id, Version: a.Version})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Application.PermitId != issued.Id || len(h.permits(t)) != 1 {
		t.Fatalf("approval recorded %s with %d permits, want the permit issued before, %s, alone",
			resp.Application.PermitId, len(h.permits(t)), issued.Id)
	}
}

func TestApproveRefusedForAHolder(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.submit(t, complete...)
	if _, err := h.svc.cfg.Issuer.IssuePermit(t.Context(), &epermitv1.IssuePermitRequest{
		RequestId: newRequestID(), Holder: a.Holder, ResidenceAddress: a.ResidenceAddress,
	}); err != nil {
		t.Fatal(err)
	}
	_, err := h.client.ApproveApplication(t.Context(), &epermitv1.ApproveApplicationRequest{
		RequestId: newRequestID(), ApplicationId: a.Id, Version: a.Version})
	wantCode(t, "approving for a citizen who holds a permit", err, codes.AlreadyExists)
	if got := h.get(t, a.Id); got.State != epermitv1.ApplicationState_APPLICATION_STATE_ACCEPTED || got.Version != 1 {
		t.Fatalf("after the refused approval: %v, want it unchanged", got)
	}
}

func TestReject(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.submit(t, "id_card")
	_, err := h.client.RejectApplication(t.Context(), &epermitv1.RejectApplicationRequest{
		RequestId: newRequestID(), ApplicationId: a.Id, Version: a.Version})
	wantCode(t, "rejecting without a reason", err, codes.InvalidArgument)
	if v := violations(err); !slices.Equal(v, []string{"reasons:REQUIRED"}) {
		t.Fatalf("violations %q", v)
	}
	reasons := []string{"居住未满六个月", "未提供合法稳定就业证明"}
	resp, err := h.client.RejectApplication(t.Context(), &epermitv1.RejectApplicationRequest{
		RequestId: newRequestID(), ApplicationId: a.Id, Version: a.Version, Reasons: reasons})
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.Application; r.State != epermitv1.ApplicationState_APPLICATION_STATE_REJECTED ||
		!slices.Equal(r.RejectionReasons, reasons) || r.DecidedBy != "staff" {
		t.Fatalf("rejected application %v", r)
	}
	_, err = h.client.RejectApplication(t.Context(), &epermitv1.RejectApplicationRequest{
		RequestId: newRequestID(), ApplicationId: a.Id, Version: resp.Application.Version, Reasons: reasons})
	wantCode(t, "rejecting a rejected application", err, codes.FailedPrecondition)
}

func TestStaleVersionAborted(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.submit(t, "id_card")
	if _, err := h.client.SupplementApplication(t.Context(), &epermitv1.SupplementApplicationRequest{
		RequestId: newRequestID(), ApplicationId: a.Id, Version: a.Version, MaterialsProvided: []string{"photo"}}); err != nil {
		t.Fatal(err)
	}
	_, err := h.client.SupplementApplication(t.Context(), &epermitv1.SupplementApplicationRequest{
		RequestId: newRequestID(), ApplicationId: a.Id, Version: a.Version, MaterialsProvided: []string{"residence_proof"}})
	wantCode(t, "a supplement from a stale version", err, codes.Aborted)
	_, err = h.client.RejectApplication(t.Context(), &epermitv1.RejectApplicationRequest{
		RequestId: newRequestID(), ApplicationId: a.Id, Version: a.Version, Reasons: []string{"测试"}})
	wantCode(t, "a rejection from a stale version", err, codes.Aborted)
	_, err = h.client.GetApplication(t.Context(), &epermitv1.GetApplicationRequest{ApplicationId: "A330604-0000000000000"})
	if status.Code(err) != codes.NotFound && status.Code(err) != codes.InvalidArgument {
		t.Fatalf("get of an unknown id: %v", err)
	}
}

func TestBadInputWritesNothing(t *testing.T) {
	h := newHarness(t, Config{})
	good := func(change func(*epermitv1.SubmitApplicationRequest)) *epermitv1.SubmitApplicationRequest {
		r := h.submitRequest(complete...)
		change(r)
		return r
	}
	badID := h.ids.Next()
	badID = badID[:17] + map[bool]string{true: "0", false: "1"}[badID[17] != '0']
	tests := []struct {
		name string
		req  *epermitv1.SubmitApplicationRequest
		want []string
	}{
		{"no request id", good(func(r *epermitv1.SubmitApplicationRequest) { r.RequestId = "" }), []string{"request_id:REQUIRED"}},
		{"no holder", good(func(r *epermitv1.SubmitApplicationRequest) { r.Holder = nil }), []string{"holder:REQUIRED"}},
		{"wrong check digit", good(func(r *epermitv1.SubmitApplicationRequest) { r.Holder.CitizenId = badID }), []string{"holder.citizen_id:CHECK_DIGIT_MISMATCH"}},
		{"no address and no channel", good(func(r *epermitv1.SubmitApplicationRequest) {
			r.ResidenceAddress, r.Channel = "", epermitv1.ApplicationChannel_APPLICATION_CHANNEL_UNSPECIFIED
		}), []string{"residence_address:REQUIRED", "channel:REQUIRED"}},
		{"remote channel", good(func(r *epermitv1.SubmitApplicationRequest) {
			r.Channel = epermitv1.ApplicationChannel_APPLICATION_CHANNEL_REMOTE
		}), []string{"channel:NOT_ALLOWED"}},
		{"future start", good(func(r *epermitv1.SubmitApplicationRequest) { r.ResidenceStartDate = "2026-05-01" }), []string{"residence_start_date:IN_FUTURE"}},
		{"unknown and repeated materials", good(func(r *epermitv1.SubmitApplicationRequest) {
			r.MaterialsProvided = []string{"id_card", "passport", "id_card"}
		}), []string{"materials_provided[1]:UNKNOWN_MATERIAL", "materials_provided[2]:DUPLICATE"}},
		{"unknown division", good(func(r *epermitv1.SubmitApplicationRequest) { r.TargetDivision = "999999" }), []string{"target_division:UNKNOWN"}},
		{"other division without federation", good(func(r *epermitv1.SubmitApplicationRequest) { r.TargetDivision = "310107" }), []string{"target_division:FORWARDING_NOT_CONFIGURED"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.client.SubmitApplication(t.Context(), tt.req)
			wantCode(t, "SubmitApplication", err, codes.InvalidArgument)
			if got := violations(err); !slices.Equal(got, tt.want) {
				t.Fatalf("violations %q, want %q", got, tt.want)
			}
		})
	}
	if n := len(h.list(t, &epermitv1.ListApplicationsRequest{}).Applications); n != 0 {
		t.Fatalf("%d applications stored after bad submissions", n)
	}
	log, err := h.store.ListAudit(t.Context(), store.AuditFilter{}, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range log {
		if e.Outcome == "OK" && e.Method == "/epermit.v1.ApplicationService/SubmitApplication" {
			t.Fatalf("audit holds a successful submission after bad ones: %v", e)
		}
	}
}

func TestListPages(t *testing.T) {
	h := newHarness(t, Config{})
	var want []string
	for i := range 7 {
		materials := complete
		if i%2 == 1 {
			materials = nil
		}
		want = append(want, h.submit(t, materials...).Id)
	}
	var got []string
	req := &epermitv1.ListApplicationsRequest{PageSize: 3}
	for pages := 0; ; pages++ {
		resp := h.list(t, req)
		for _, a := range resp.Applications {
			got = append(got, a.Id)
		}
		if resp.NextPageToken == "" {
			break
		}
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		req.PageToken = resp.NextPageToken
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages %q, want %q", got, want)
	}
	first := h.list(t, &epermitv1.ListApplicationsRequest{PageSize: 2})
	_, err := h.client.ListApplications(t.Context(), &epermitv1.ListApplicationsRequest{PageSize: 2, PageToken: first.NextPageToken,
		State: epermitv1.ApplicationState_APPLICATION_STATE_ACCEPTED})
	wantCode(t, "a page token with another filter", err, codes.InvalidArgument)
	mr := h.list(t, &epermitv1.ListApplicationsRequest{State: epermitv1.ApplicationState_APPLICATION_STATE_MATERIALS_REQUIRED})
	if len(mr.Applications) != 3 {
		t.Fatalf("%d applications awaiting materials, want 3", len(mr.Applications))
	}
	online := h.list(t, &epermitv1.ListApplicationsRequest{Channel: epermitv1.ApplicationChannel_APPLICATION_CHANNEL_ONLINE})
	if len(online.Applications) != 0 {
		t.Fatalf("%d online applications, want none", len(online.Applications))
	}
}

// TestRetryWithVersionReadAgain: a retry of a change with its request id
// replays the first result even when it names the version that the first
// attempt produced, as a client does that reads the version again.
func TestRetryWithVersionReadAgain(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.submit(t, complete...)
	req := &epermitv1.ApproveApplicationRequest{RequestId: newRequestID(), ApplicationId: a.Id, Version: a.Version}
	first, err := h.client.ApproveApplication(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	req.Version = first.Application.Version
	again, err := h.client.ApproveApplication(t.Context(), req)
	if err != nil || !proto.Equal(again.Application, first.Application) || again.Permit.GetId() != first.Permit.GetId() {
		t.Fatalf("retry with the new version: %v, %v; want the first result", again, err)
	}
	req.ApplicationId = h.submit(t, complete...).Id
	_, err = h.client.ApproveApplication(t.Context(), req)
	wantCode(t, "the request id reused for another application", err, codes.InvalidArgument)
}
