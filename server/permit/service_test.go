package permit_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
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
	"github.com/yrd-epermit/epermit/permitid"
	"github.com/yrd-epermit/epermit/server/auth"
	"github.com/yrd-epermit/epermit/server/permit"
	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/bolt"
	"github.com/yrd-epermit/epermit/trust"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

const division = "330604"

// clock is a settable clock for moving across endorsement deadlines.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }

// at is noon China Standard Time on a date.
func at(date string) time.Time {
	t, err := time.Parse("2006-01-02 15:04 -0700", date+" 12:00 +0800")
	if err != nil {
		panic(err)
	}
	return t
}

type harness struct {
	// client acts as "staff", a clerk who is also a supervisor; second as
	// "second", another supervisor, for approving cancellations.
	client epermitv1.PermitServiceClient
	second epermitv1.PermitServiceClient
	store  *bolt.Store
	clock  *clock
	signer *credential.Signer
	ids    *citizenid.Generator
}

// token is a bearer token sent with every call; the test server is on
// loopback without TLS.
type token string

func (t token) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}
func (token) RequireTransportSecurity() bool { return false }

// start runs a PermitService behind the node's auth guard on a real
// loopback gRPC server over a bbolt file in a temporary folder.
func start(t *testing.T, rules permit.Rules) *harness {
	t.Helper()
	return startWithTrust(t, rules, nil)
}

// startWithTrust is start with a trust list holder for foreign credentials.
func startWithTrust(t *testing.T, rules permit.Rules, tl *trust.Holder) *harness {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "permits.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(nil)
	signer, err := credential.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: at("2026-03-15")}
	guard := auth.New(auth.Config{Store: st, Division: division, Clock: clk.Now})
	srv := grpc.NewServer(grpc.UnaryInterceptor(guard.Unary()))
	permit.RegisterService(srv, permit.New(permit.Config{
		Store: st, Signer: signer, Division: division, Authority: "绍兴市公安局上虞区分局",
		Rules: rules, Clock: clk.Now, Trust: tl,
	}))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	h := &harness{store: st, clock: clk, signer: signer, ids: citizenid.NewGenerator(7)}
	for _, a := range []struct {
		name   string
		roles  []epermitv1.Role
		client *epermitv1.PermitServiceClient
	}{
		{"staff", []epermitv1.Role{epermitv1.Role_ROLE_CLERK, epermitv1.Role_ROLE_SUPERVISOR}, &h.client},
		{"second", []epermitv1.Role{epermitv1.Role_ROLE_SUPERVISOR}, &h.second},
	} {
		tok := auth.NewToken()
		if err := st.CreateAccount(context.Background(), &store.Account{
			Name: a.name, Division: division, Roles: a.roles, Kind: epermitv1.AccountKind_ACCOUNT_KIND_PERSON,
			TokenHash: auth.HashToken(tok),
		}, nil); err != nil {
			t.Fatal(err)
		}
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(token(tok)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		*a.client = epermitv1.NewPermitServiceClient(conn)
	}
	t.Cleanup(func() {
		srv.Stop()
		st.Close()
	})
	return h
}

// cancel requests a cancellation as staff and approves it as second.
func (h *harness) cancel(ctx context.Context, req *epermitv1.CancelPermitRequest) (*epermitv1.Permit, error) {
	c, err := h.client.CancelPermit(ctx, req)
	if err != nil {
		return nil, err
	}
	a, err := h.second.ApproveCancellation(ctx, &epermitv1.ApproveCancellationRequest{
		RequestId: newRequestID(), PendingId: c.Pending.Id})
	if err != nil {
		return nil, err
	}
	return a.Permit, nil
}

var reqSeq struct {
	sync.Mutex
	n int
}

func newRequestID() string {
	reqSeq.Lock()
	defer reqSeq.Unlock()
	reqSeq.n++
	return fmt.Sprintf("test-%d", reqSeq.n)
}

func (h *harness) issueRequest(citizen string) *epermitv1.IssuePermitRequest {
	return &epermitv1.IssuePermitRequest{
		RequestId: newRequestID(),
		Holder: &epermitv1.Holder{
			Name: "测试者甲", CitizenId: citizen, Ethnicity: "汉",
			HukouAddress: "安徽省合肥市蜀山区测试路1号",
		},
		ResidenceAddress: "浙江省绍兴市上虞区曹娥街道测试小区2幢301室",
	}
}

func (h *harness) issue(t *testing.T) *epermitv1.IssuePermitResponse {
	t.Helper()
	resp, err := h.client.IssuePermit(context.Background(), h.issueRequest(h.ids.Next()))
	if err != nil {
		t.Fatalf("IssuePermit: %v", err)
	}
	return resp
}

func (h *harness) get(t *testing.T, id string) *epermitv1.Permit {
	t.Helper()
	resp, err := h.client.GetPermit(context.Background(), &epermitv1.GetPermitRequest{PermitId: id})
	if err != nil {
		t.Fatalf("GetPermit: %v", err)
	}
	return resp.Permit
}

func (h *harness) verify(t *testing.T, text string) *epermitv1.VerifyPermitResponse {
	t.Helper()
	resp, err := h.client.VerifyPermit(context.Background(), &epermitv1.VerifyPermitRequest{
		Subject: &epermitv1.VerifyPermitRequest_CredentialText{CredentialText: text}})
	if err != nil {
		t.Fatalf("VerifyPermit: %v", err)
	}
	return resp
}

// wantCode fails unless err carries code.
func wantCode(t *testing.T, err error, code codes.Code) *status.Status {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("code = %v (%v), want %v", st.Code(), err, code)
	}
	return st
}

// violations returns "field:REASON" for each BadRequest field violation.
func violations(st *status.Status) map[string]bool {
	out := map[string]bool{}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.FieldViolations {
				out[v.Field+":"+v.Reason] = true
			}
		}
	}
	return out
}

func TestIssueGetVerify(t *testing.T) {
	h := start(t, permit.DefaultRules())
	resp := h.issue(t)
	p := resp.Permit
	if p.Status != epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE || p.Version != 1 {
		t.Fatalf("new permit status %v version %d", p.Status, p.Version)
	}
	if p.IssuingDivision != division || p.IssueDate != "2026-03-15" || p.NextEndorsementDue != "2027-03-15" ||
		p.EndorsementWindowOpens != "2027-02-15" {
		t.Fatalf("dates: %+v", p)
	}
	if p.Holder.BirthDate == "" || p.Holder.Sex == epermitv1.Sex_SEX_UNSPECIFIED {
		t.Fatalf("birth date and sex not derived: %+v", p.Holder)
	}
	if got := h.get(t, p.Id); !proto.Equal(got, p) {
		t.Fatalf("GetPermit = %v, want %v", got, p)
	}
	v := h.verify(t, resp.Credential.Text)
	if v.Verdict != epermitv1.Verdict_VERDICT_VALID || len(v.Findings) != 5 {
		t.Fatalf("verify = %v", v)
	}
	full, err := h.client.VerifyPermit(context.Background(), &epermitv1.VerifyPermitRequest{IncludePersonalData: true,
		Subject: &epermitv1.VerifyPermitRequest_CredentialText{CredentialText: resp.Credential.Text}})
	if err != nil || full.Permit.PermitId != p.Id || len(full.Permit.MaskedCitizenId) != 18 || full.Permit.MaskedCitizenId[6:14] != "********" {
		t.Fatalf("summary = %v, %v", full, err)
	}
	byID, err := h.client.VerifyPermit(context.Background(), &epermitv1.VerifyPermitRequest{
		Subject: &epermitv1.VerifyPermitRequest_PermitId{PermitId: p.Id}})
	if err != nil || byID.Verdict != epermitv1.Verdict_VERDICT_VALID || byID.Status != epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE ||
		byID.Permit.PermitId != p.Id || byID.Permit.NextEndorsementDue != "2027-03-15" || byID.Permit.HolderName != "" ||
		byID.Findings[0].Detail != "the permit is active; next endorsement due 2027-03-15" {
		t.Fatalf("verify by id = %v, %v", byID, err)
	}
	// A permit id of another division, in lower case, is not this node's.
	other, err := permitid.New("310107")
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := h.client.VerifyPermit(context.Background(), &epermitv1.VerifyPermitRequest{
		Subject: &epermitv1.VerifyPermitRequest_PermitId{PermitId: strings.ToLower(other)}})
	if err != nil || foreign.Verdict != epermitv1.Verdict_VERDICT_NOT_VALID || len(foreign.Findings) != 1 ||
		foreign.Findings[0].Check != epermitv1.Check_CHECK_ISSUER ||
		foreign.Findings[0].Detail != "permit "+other+" was issued by division 310107, not by this node ("+division+")" {
		t.Fatalf("verify by id of another division = %v, %v", foreign, err)
	}

	// The exported key verifies the credential offline.
	key, err := h.client.GetIssuerKey(context.Background(), &epermitv1.GetIssuerKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := credential.ParsePublicKeyPEM([]byte(key.PublicKeyPem))
	if err != nil {
		t.Fatal(err)
	}
	if key.Kid != resp.Credential.Kid || key.Division != division || len(key.PublicKey) != ed25519.PublicKeySize {
		t.Fatalf("issuer key = %v", key)
	}
	res := credential.Verify(resp.Credential.Text, credential.KeyResolverFunc(func(iss, kid string) (crypto.PublicKey, bool) {
		return pub, iss == division && kid == key.Kid
	}), h.clock.Now())
	if !res.Valid() {
		t.Fatalf("offline verify: %+v", res.Findings)
	}
}

func TestIssueValidation(t *testing.T) {
	h := start(t, permit.DefaultRules())
	good := h.ids.Next()
	bad := good[:17] + map[bool]string{true: "0", false: "1"}[good[17] != '0']
	tests := []struct {
		name string
		edit func(r *epermitv1.IssuePermitRequest)
		want []string
	}{
		{"bad check digit", func(r *epermitv1.IssuePermitRequest) { r.Holder.CitizenId = bad },
			[]string{"holder.citizen_id:CHECK_DIGIT_MISMATCH"}},
		{"short id", func(r *epermitv1.IssuePermitRequest) { r.Holder.CitizenId = good[:17] },
			[]string{"holder.citizen_id:LENGTH"}},
		{"no holder", func(r *epermitv1.IssuePermitRequest) { r.Holder = nil }, []string{"holder:REQUIRED"}},
		{"everything missing at once", func(r *epermitv1.IssuePermitRequest) {
			r.RequestId, r.Holder.Name, r.ResidenceAddress, r.Holder.Ethnicity = "", "", "", ""
		}, []string{"request_id:REQUIRED", "holder.name:REQUIRED", "residence_address:REQUIRED", "holder.ethnicity:REQUIRED"}},
		{"name too long", func(r *epermitv1.IssuePermitRequest) {
			r.Holder.Name = string(make([]rune, 65))
		}, []string{"holder.name:TOO_LONG"}},
		{"control character", func(r *epermitv1.IssuePermitRequest) { r.ResidenceAddress = "测试路\n1号" },
			[]string{"residence_address:CONTROL_CHARACTER"}},
		{"sex contradicts id", func(r *epermitv1.IssuePermitRequest) {
			r.Holder.Sex = epermitv1.Sex_SEX_FEMALE
			r.Holder.CitizenId = h.ids.NextWith(citizenid.Male, time.Date(1990, 1, 2, 0, 0, 0, 0, time.UTC))
		}, []string{"holder.sex:CONTRADICTS_CITIZEN_ID"}},
		{"birth date contradicts id", func(r *epermitv1.IssuePermitRequest) { r.Holder.BirthDate = "1901-01-01" },
			[]string{"holder.birth_date:CONTRADICTS_CITIZEN_ID"}},
		{"residence start in the future", func(r *epermitv1.IssuePermitRequest) { r.ResidenceStartDate = "2026-03-16" },
			[]string{"residence_start_date:IN_FUTURE"}},
		{"residence start malformed", func(r *epermitv1.IssuePermitRequest) { r.ResidenceStartDate = "15/03/2026" },
			[]string{"residence_start_date:DATE_FORMAT"}},
		{"bad request id", func(r *epermitv1.IssuePermitRequest) { r.RequestId = "has space" },
			[]string{"request_id:FORMAT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := h.issueRequest(good)
			tt.edit(req)
			_, err := h.client.IssuePermit(context.Background(), req)
			got := violations(wantCode(t, err, codes.InvalidArgument))
			for _, w := range tt.want {
				if !got[w] {
					t.Errorf("violations %v lack %s", got, w)
				}
			}
		})
	}
	// Nothing was written by any of them.
	list, err := h.client.ListPermits(context.Background(), &epermitv1.ListPermitsRequest{})
	if err != nil || len(list.Permits) != 0 {
		t.Fatalf("list after rejected requests = %v, %v", list, err)
	}
}

func TestOnePermitPerCitizen(t *testing.T) {
	h := start(t, permit.DefaultRules())
	citizen := h.ids.Next()
	const n = 16
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, results[i] = h.client.IssuePermit(context.Background(), h.issueRequest(citizen))
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range results {
		if err == nil {
			ok++
			continue
		}
		wantCode(t, err, codes.AlreadyExists)
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent issues succeeded, want 1", ok, n)
	}
	list, err := h.client.ListPermits(context.Background(), &epermitv1.ListPermitsRequest{CitizenId: citizen})
	if err != nil || len(list.Permits) != 1 {
		t.Fatalf("permits of the citizen = %v, %v", list, err)
	}
	// The error names the existing permit.
	_, err = h.client.IssuePermit(context.Background(), h.issueRequest(citizen))
	st := wantCode(t, err, codes.AlreadyExists)
	named := false
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.ResourceInfo); ok && ri.ResourceName == list.Permits[0].Id {
			named = true
		}
	}
	if !named {
		t.Fatalf("ALREADY_EXISTS does not name %s: %v", list.Permits[0].Id, st.Details())
	}
	// Once cancelled, a new permit may be issued.
	_, err = h.cancel(context.Background(), &epermitv1.CancelPermitRequest{
		RequestId: newRequestID(), PermitId: list.Permits[0].Id, Version: 1,
		Reason: epermitv1.CancelReason_CANCEL_REASON_CONDITIONS_NOT_MET})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.IssuePermit(context.Background(), h.issueRequest(citizen)); err != nil {
		t.Fatalf("issue after cancel: %v", err)
	}
}

func TestIdempotencyAndVersions(t *testing.T) {
	h := start(t, permit.DefaultRules())
	req := h.issueRequest(h.ids.Next())
	first, err := h.client.IssuePermit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Set(at("2026-04-01"))
	again, err := h.client.IssuePermit(context.Background(), req)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if !proto.Equal(first, again) {
		t.Fatalf("retry answered differently:\n%v\n%v", first, again)
	}
	// The same request id with another request is refused.
	other := h.issueRequest(h.ids.Next())
	other.RequestId = req.RequestId
	_, err = h.client.IssuePermit(context.Background(), other)
	if v := violations(wantCode(t, err, codes.InvalidArgument)); !v["request_id:REUSED"] {
		t.Fatalf("violations = %v", v)
	}

	id := first.Permit.Id
	suspend := &epermitv1.SuspendPermitRequest{RequestId: newRequestID(), PermitId: id, Version: 1, Reason: "材料核查中"}
	s1, err := h.client.SuspendPermit(context.Background(), suspend)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := h.client.SuspendPermit(context.Background(), suspend)
	if err != nil || !proto.Equal(s1, s2) || s2.Permit.Version != 2 {
		t.Fatalf("suspend retry = %v, %v", s2, err)
	}
	// A retry that read the version the first attempt made replays too:
	// the version is a precondition, not part of the request.
	suspend.Version = 2
	if s3, err := h.client.SuspendPermit(context.Background(), suspend); err != nil || !proto.Equal(s1, s3) {
		t.Fatalf("suspend retry at the new version = %v, %v", s3, err)
	}
	// A stale version is ABORTED and changes nothing.
	_, err = h.client.ReinstatePermit(context.Background(), &epermitv1.ReinstatePermitRequest{
		RequestId: newRequestID(), PermitId: id, Version: 1})
	wantCode(t, err, codes.Aborted)
	if p := h.get(t, id); p.Version != 2 || p.Status != epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED {
		t.Fatalf("after stale reinstate: %v", p)
	}
	// Unknown permit.
	_, err = h.client.GetPermit(context.Background(), &epermitv1.GetPermitRequest{PermitId: "330604-000000000000" + "0"})
	if status.Code(err) != codes.NotFound && status.Code(err) != codes.InvalidArgument {
		t.Fatalf("get unknown: %v", err)
	}
}

func TestEndorsementLifecycle(t *testing.T) {
	h := start(t, permit.DefaultRules())
	issued := h.issue(t)
	id := issued.Permit.Id
	endorse := func(version int64) (*epermitv1.EndorsePermitResponse, error) {
		return h.client.EndorsePermit(context.Background(), &epermitv1.EndorsePermitRequest{
			RequestId: newRequestID(), PermitId: id, Version: version})
	}

	// Before the window: refused.
	h.clock.Set(at("2027-02-14"))
	_, err := endorse(1)
	wantCode(t, err, codes.FailedPrecondition)

	// In the window: on time, credential renewed with the next expiry.
	h.clock.Set(at("2027-02-20"))
	e1, err := endorse(1)
	if err != nil {
		t.Fatal(err)
	}
	if e1.Permit.NextEndorsementDue != "2028-03-15" || e1.Permit.Status != epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE {
		t.Fatalf("after endorsement: %v", e1.Permit)
	}
	if !e1.Credential.ExpireTime.AsTime().After(issued.Credential.ExpireTime.AsTime()) {
		t.Fatalf("credential expiry not moved: %v -> %v", issued.Credential.ExpireTime, e1.Credential.ExpireTime)
	}
	if v := h.verify(t, e1.Credential.Text); v.Verdict != epermitv1.Verdict_VERDICT_VALID {
		t.Fatalf("renewed credential: %v", v)
	}

	// The next anniversary passes without endorsement: suspended, not valid.
	h.clock.Set(at("2028-03-15"))
	if p := h.get(t, id); p.Status != epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED || p.ResidenceYears != 2 {
		t.Fatalf("overdue permit: %v", p)
	}
	byID, err := h.client.VerifyPermit(context.Background(), &epermitv1.VerifyPermitRequest{
		Subject: &epermitv1.VerifyPermitRequest_PermitId{PermitId: id}})
	if err != nil || byID.Verdict != epermitv1.Verdict_VERDICT_NOT_VALID ||
		byID.Status != epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED {
		t.Fatalf("verify overdue = %v, %v", byID, err)
	}
	if v := h.verify(t, e1.Credential.Text); v.Verdict != epermitv1.Verdict_VERDICT_NOT_VALID {
		t.Fatalf("expired credential verified: %v", v)
	}

	// A late endorsement restores it and the count starts afresh.
	h.clock.Set(at("2028-05-10"))
	e2, err := endorse(2)
	if err != nil {
		t.Fatal(err)
	}
	p := e2.Permit
	if p.Status != epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE || p.ResidenceStartDate != "2028-05-10" ||
		p.ResidenceYears != 0 || p.NextEndorsementDue != "2029-05-10" || !p.Endorsements[1].Late {
		t.Fatalf("after late endorsement: %v", p)
	}
	if v := h.verify(t, e2.Credential.Text); v.Verdict != epermitv1.Verdict_VERDICT_VALID {
		t.Fatalf("credential after late endorsement: %v", v)
	}
}

func TestSuspendReinstateCancel(t *testing.T) {
	h := start(t, permit.DefaultRules())
	issued := h.issue(t)
	id := issued.Permit.Id
	ctx := context.Background()

	_, err := h.client.SuspendPermit(ctx, &epermitv1.SuspendPermitRequest{RequestId: newRequestID(), PermitId: id, Version: 1})
	if v := violations(wantCode(t, err, codes.InvalidArgument)); !v["reason:REQUIRED"] {
		t.Fatalf("violations = %v", v)
	}
	if _, err := h.client.SuspendPermit(ctx, &epermitv1.SuspendPermitRequest{
		RequestId: newRequestID(), PermitId: id, Version: 1, Reason: "住址核查"}); err != nil {
		t.Fatal(err)
	}
	if v := h.verify(t, issued.Credential.Text); v.Verdict != epermitv1.Verdict_VERDICT_NOT_VALID ||
		v.Findings[len(v.Findings)-1].Passed {
		t.Fatalf("suspended permit verified: %v", v)
	}
	_, err = h.client.EndorsePermit(ctx, &epermitv1.EndorsePermitRequest{RequestId: newRequestID(), PermitId: id, Version: 2})
	wantCode(t, err, codes.FailedPrecondition)
	if _, err := h.client.ReinstatePermit(ctx, &epermitv1.ReinstatePermitRequest{
		RequestId: newRequestID(), PermitId: id, Version: 2}); err != nil {
		t.Fatal(err)
	}
	_, err = h.client.ReinstatePermit(ctx, &epermitv1.ReinstatePermitRequest{RequestId: newRequestID(), PermitId: id, Version: 3})
	wantCode(t, err, codes.FailedPrecondition)
	if v := h.verify(t, issued.Credential.Text); v.Verdict != epermitv1.Verdict_VERDICT_VALID {
		t.Fatalf("reinstated permit: %v", v)
	}

	_, err = h.client.CancelPermit(ctx, &epermitv1.CancelPermitRequest{RequestId: newRequestID(), PermitId: id, Version: 3,
		Reason: epermitv1.CancelReason_CANCEL_REASON_OTHER})
	if v := violations(wantCode(t, err, codes.InvalidArgument)); !v["note:REQUIRED"] {
		t.Fatalf("violations = %v", v)
	}
	c, err := h.cancel(ctx, &epermitv1.CancelPermitRequest{RequestId: newRequestID(), PermitId: id, Version: 3,
		Reason: epermitv1.CancelReason_CANCEL_REASON_FORGED, Note: "证件伪造"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != epermitv1.PermitStatus_PERMIT_STATUS_CONFISCATED || c.Cancellation.GetRequestedBy() != "staff" ||
		c.Cancellation.GetApprovedBy() != "second" {
		t.Fatalf("forged -> %v", c)
	}
	v := h.verify(t, issued.Credential.Text)
	if v.Verdict != epermitv1.Verdict_VERDICT_NOT_VALID || v.Status != epermitv1.PermitStatus_PERMIT_STATUS_CONFISCATED {
		t.Fatalf("confiscated permit verified: %v", v)
	}
	_, err = h.client.CancelPermit(ctx, &epermitv1.CancelPermitRequest{RequestId: newRequestID(), PermitId: id, Version: 4,
		Reason: epermitv1.CancelReason_CANCEL_REASON_DEATH})
	wantCode(t, err, codes.FailedPrecondition)
	got, err := h.client.GetPermit(ctx, &epermitv1.GetPermitRequest{PermitId: id})
	if err != nil || got.Credential != nil || got.Permit.Cancellation.GetNote() != "证件伪造" {
		t.Fatalf("get confiscated = %v, %v", got, err)
	}
}

func TestCancelReasonsConfigured(t *testing.T) {
	h := start(t, permit.Rules{EndorsementWindowMonths: 1,
		CancelReasons: []epermitv1.CancelReason{epermitv1.CancelReason_CANCEL_REASON_DEATH}})
	id := h.issue(t).Permit.Id
	_, err := h.client.CancelPermit(context.Background(), &epermitv1.CancelPermitRequest{RequestId: newRequestID(),
		PermitId: id, Version: 1, Reason: epermitv1.CancelReason_CANCEL_REASON_LOCAL_HUKOU})
	if v := violations(wantCode(t, err, codes.InvalidArgument)); !v["reason:NOT_ALLOWED"] {
		t.Fatalf("violations = %v", v)
	}
}

func TestVerifyTampered(t *testing.T) {
	h := start(t, permit.DefaultRules())
	text := h.issue(t).Credential.Text
	tests := []struct {
		name      string
		text      string
		wantCheck epermitv1.Check
	}{
		{"garbage", "YRD1:NOT-A-CREDENTIAL", epermitv1.Check_CHECK_FORMAT},
		{"wrong prefix", "XYZ9:" + text[5:], epermitv1.Check_CHECK_FORMAT},
		{"truncated", text[:len(text)-6], epermitv1.Check_CHECK_FORMAT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := h.verify(t, tt.text)
			last := v.Findings[len(v.Findings)-1]
			if v.Verdict != epermitv1.Verdict_VERDICT_NOT_VALID || last.Check != tt.wantCheck || last.Passed {
				t.Fatalf("verify = %v", v)
			}
		})
	}
	// A credential signed by another key is not recognised.
	_, other, _ := ed25519.GenerateKey(nil)
	signer, _ := credential.NewSigner(other)
	claims, _, err := credential.Decode(text)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := signer.Sign(*claims)
	if err != nil {
		t.Fatal(err)
	}
	if v := h.verify(t, forged); v.Verdict != epermitv1.Verdict_VERDICT_NOT_VALID || v.Findings[1].Passed {
		t.Fatalf("forged credential: %v", v)
	}
	_, err = h.client.VerifyPermit(context.Background(), &epermitv1.VerifyPermitRequest{})
	wantCode(t, err, codes.InvalidArgument)
}

func TestListPagination(t *testing.T) {
	h := start(t, permit.DefaultRules())
	const n = 23
	ids := map[string]bool{}
	for range n {
		ids[h.issue(t).Permit.Id] = true
	}
	// Suspend three of them.
	suspended := 0
	for id := range ids {
		if suspended == 3 {
			break
		}
		if _, err := h.client.SuspendPermit(context.Background(), &epermitv1.SuspendPermitRequest{
			RequestId: newRequestID(), PermitId: id, Version: 1, Reason: "核查"}); err != nil {
			t.Fatal(err)
		}
		suspended++
	}
	for _, tt := range []struct {
		status epermitv1.PermitStatus
		size   int32
		want   int
	}{
		{epermitv1.PermitStatus_PERMIT_STATUS_UNSPECIFIED, 5, n},
		{epermitv1.PermitStatus_PERMIT_STATUS_UNSPECIFIED, 23, n},
		{epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE, 4, n - 3},
		{epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED, 2, 3},
		{epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED, 10, 0},
	} {
		seen := map[string]bool{}
		token, pages := "", 0
		prev := ""
		for {
			resp, err := h.client.ListPermits(context.Background(), &epermitv1.ListPermitsRequest{
				Status: tt.status, PageSize: tt.size, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(resp.Permits) > int(tt.size) {
				t.Fatalf("page of %d > size %d", len(resp.Permits), tt.size)
			}
			for _, p := range resp.Permits {
				if seen[p.Id] || p.Id <= prev {
					t.Fatalf("permit %s repeated or out of order", p.Id)
				}
				if tt.status != 0 && p.Status != tt.status {
					t.Fatalf("status filter %v returned %v", tt.status, p.Status)
				}
				seen[p.Id], prev = true, p.Id
			}
			if token = resp.NextPageToken; token == "" {
				break
			}
		}
		if len(seen) != tt.want {
			t.Errorf("status %v size %d: listed %d permits in %d pages, want %d", tt.status, tt.size, len(seen), pages, tt.want)
		}
	}
	// A token is bound to its filter; bad sizes are refused.
	first, _ := h.client.ListPermits(context.Background(), &epermitv1.ListPermitsRequest{PageSize: 5})
	_, err := h.client.ListPermits(context.Background(), &epermitv1.ListPermitsRequest{
		PageSize: 5, PageToken: first.NextPageToken, Status: epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE})
	wantCode(t, err, codes.InvalidArgument)
	_, err = h.client.ListPermits(context.Background(), &epermitv1.ListPermitsRequest{PageSize: 501})
	wantCode(t, err, codes.InvalidArgument)
}
