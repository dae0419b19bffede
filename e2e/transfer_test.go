package e2e

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/yrd-epermit/epermit/citizenid"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// delta is the three-member federation of the demo: Shangyu, Putuo and
// Yuhang, each a real permitd over mutual TLS.
type delta struct {
	*federation
	shangyu, putuo, yuhang *member
}

func startDelta(t *testing.T) *delta {
	d := &delta{
		shangyu: &member{division: "330604", name: "浙江省绍兴市上虞区", province: "330000"},
		putuo:   &member{division: "310107", name: "上海市普陀区", province: "310000"},
		yuhang:  &member{division: "330110", name: "浙江省杭州市余杭区", province: "330000"},
	}
	d.federation = startFederation(t, time.Minute, d.shangyu, d.putuo, d.yuhang)
	return d
}

// transfer starts a transfer at m of the permit whose credential is text.
func (d *delta) transfer(m *member, requestID, text, citizen string) (*epermitv1.TransferPermitResponse, error) {
	return d.permits(m, m.clerk).TransferPermit(ctx(d.t), &epermitv1.TransferPermitRequest{
		RequestId: requestID, CredentialText: text, CitizenId: citizen,
		ResidenceAddress: "浙江省杭州市余杭区五常街道测试路9号"})
}

// nonFinal lists the citizen's permits that are not final, in every member.
func (d *delta) nonFinal(citizen string) []*epermitv1.Permit {
	var out []*epermitv1.Permit
	for _, m := range d.members {
		resp, err := d.permits(m, m.clerk).ListPermits(ctx(d.t), &epermitv1.ListPermitsRequest{CitizenId: citizen})
		if err != nil {
			d.t.Fatal(err)
		}
		for _, p := range resp.Permits {
			switch p.Status {
			case epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED, epermitv1.PermitStatus_PERMIT_STATUS_CONFISCATED,
				epermitv1.PermitStatus_PERMIT_STATUS_SUPERSEDED:
			default:
				out = append(out, p)
			}
		}
	}
	return out
}

// settled waits until none of the citizen's permits is pending, for up to
// 30 s, and returns those not final.
func (d *delta) settled(citizen string) []*epermitv1.Permit {
	d.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		got := d.nonFinal(citizen)
		pending := slices.ContainsFunc(got, func(p *epermitv1.Permit) bool {
			return p.Status == epermitv1.PermitStatus_PERMIT_STATUS_PENDING
		})
		if !pending {
			return got
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("still pending after 30 s: %v", got)
		}
	}
}

// withdrawnNaming checks that err is the PERMIT_WITHDRAWN answer naming id.
func withdrawnNaming(t *testing.T, err error, id string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), id) {
		t.Fatalf("got %v, want FAILED_PRECONDITION naming %s", err, id)
	}
	for _, d := range st.Details() {
		if pf, ok := d.(*errdetails.PreconditionFailure); ok && pf.Violations[0].Type == "PERMIT_WITHDRAWN" {
			return
		}
	}
	t.Fatalf("no PERMIT_WITHDRAWN violation in %v", st.Details())
}

// TestTransferAcrossTheDelta: a resident moves from Shangyu to Yuhang. Yuhang
// verifies the credential with Shangyu, records the residence in Shangyu,
// and its permit comes into force once Shangyu has marked the old one
// SUPERSEDED; the months in Shangyu count in Yuhang and travel in the new
// credential, which Putuo accepts while it refuses the old one; Putuo
// cannot issue the resident a second permit.
func TestTransferAcrossTheDelta(t *testing.T) {
	d := startDelta(t)
	citizen := citizenid.NewGenerator(41).Next()
	start := time.Now().AddDate(-2, -3, 0).Format("2006-01-02")
	req := issueRequest("tr-1", citizen)
	req.ResidenceStartDate = start
	old, err := d.permits(d.shangyu, d.shangyu.clerk).IssuePermit(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if old.Permit.Status != epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE || old.Credential == nil {
		t.Fatalf("issued in Shangyu: %v", old.Permit)
	}
	months := old.Permit.ResidenceMonths
	if months < 26 {
		t.Fatalf("residence months in Shangyu = %d, want 27", months)
	}

	moved, err := d.transfer(d.yuhang, "tr-2", old.Credential.Text, citizen)
	if err != nil {
		t.Fatal(err)
	}
	p := moved.Permit
	if p.Status != epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE || moved.Credential == nil || p.TransferredFrom != old.Permit.Id {
		t.Fatalf("transferred permit: %v", p)
	}
	if len(p.PriorResidence) != 1 || p.PriorResidence[0].PermitId != old.Permit.Id ||
		p.PriorResidence[0].Division != "330604" || p.PriorResidence[0].StartDate != start {
		t.Fatalf("prior residence: %v", p.PriorResidence)
	}
	if p.ResidenceMonths != months || p.Holder.Name != req.Holder.Name || p.Holder.CitizenId != citizen {
		t.Fatalf("residence months %d (want %d), holder %v", p.ResidenceMonths, months, p.Holder)
	}
	again, err := d.transfer(d.yuhang, "tr-2", old.Credential.Text, citizen)
	if err != nil || again.Permit.Id != p.Id {
		t.Fatalf("retried transfer: %v, %v", again, err)
	}

	was, err := d.permits(d.shangyu, d.shangyu.clerk).GetPermit(ctx(t), &epermitv1.GetPermitRequest{PermitId: old.Permit.Id})
	if err != nil {
		t.Fatal(err)
	}
	if was.Permit.Status != epermitv1.PermitStatus_PERMIT_STATUS_SUPERSEDED || was.Permit.SupersededBy != p.Id || was.Credential != nil {
		t.Fatalf("old permit in Shangyu: %v", was.Permit)
	}

	v := d.eventually(d.putuo, moved.Credential.Text, "the new credential", verdictIs(epermitv1.Verdict_VERDICT_VALID))
	if v.Permit.ResidenceMonths != months {
		t.Fatalf("residence months in the credential = %d, want %d", v.Permit.ResidenceMonths, months)
	}
	v = d.eventually(d.putuo, old.Credential.Text, "the old credential", verdictIs(epermitv1.Verdict_VERDICT_NOT_VALID))
	if v.Status != epermitv1.PermitStatus_PERMIT_STATUS_SUPERSEDED {
		t.Fatalf("old credential in Putuo: %v", v)
	}

	// Putuo opens its services to the holder of Yuhang's permit, counting
	// the months across the Delta.
	check, err := epermitv1.NewScenarioServiceClient(d.dial(d.putuo, d.putuo.clerk)).CheckEligibility(ctx(t), &epermitv1.CheckEligibilityRequest{
		Permit:  &epermitv1.ServicePermit{Subject: &epermitv1.ServicePermit_CredentialText{CredentialText: moved.Credential.Text}, CitizenId: citizen},
		Service: "vocational_training_subsidy", Fields: map[string]string{"course": "电工", "certificate_number": "T-1", "bank_account": "6222000000000000"}})
	if err != nil || !check.Eligible {
		t.Fatalf("Putuo's check of Yuhang's permit: %v, %v", check, err)
	}

	_, err = d.permits(d.putuo, d.putuo.clerk).IssuePermit(ctx(t), issueRequest("tr-3", citizen))
	withdrawnNaming(t, err, p.Id)
	if _, err := d.transfer(d.putuo, "tr-4", old.Credential.Text, citizen); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("transfer of the superseded permit: %v, want FAILED_PRECONDITION", err)
	}
	if _, err := d.transfer(d.putuo, "tr-5", moved.Credential.Text, citizenid.NewGenerator(42).Next()); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("transfer with another citizen id: %v, want FAILED_PRECONDITION", err)
	}
	if got := d.nonFinal(citizen); len(got) != 1 || got[0].Id != p.Id {
		t.Fatalf("permits in force across the Delta: %v", got)
	}
}

// TestRacesKeepOnePermit: three members issue to one citizen at once, and
// two members transfer one permit at once. Every answer is a permit (in
// force, or pending while a racing reservation yields) or the
// PERMIT_WITHDRAWN refusal; once the pending ones have settled the citizen
// holds exactly one permit in force across the Delta.
func TestRacesKeepOnePermit(t *testing.T) {
	d := startDelta(t)
	gen := citizenid.NewGenerator(43)
	for round := range 3 {
		citizen := gen.Next()
		var wg sync.WaitGroup
		for i, m := range d.members {
			wg.Go(func() {
				_, err := d.permits(m, m.clerk).IssuePermit(ctx(t), issueRequest(fmt.Sprintf("race-%d-%d", round, i), citizen))
				if err != nil && status.Code(err) != codes.FailedPrecondition {
					t.Errorf("%s: %v", m.division, err)
				}
			})
		}
		wg.Wait()
		got := d.settled(citizen)
		if len(got) != 1 || got[0].Status != epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE {
			t.Fatalf("round %d: permits in force: %v", round, got)
		}
		t.Logf("round %d: %s won", round, got[0].IssuingDivision)
	}

	citizen := gen.Next()
	old, err := d.permits(d.shangyu, d.shangyu.clerk).IssuePermit(ctx(t), issueRequest("race-t", citizen))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for _, m := range []*member{d.putuo, d.yuhang} {
		wg.Go(func() {
			resp, err := d.transfer(m, "race-t-"+m.division, old.Credential.Text, citizen)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && resp.Permit.Status == epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE:
				won++
			case status.Code(err) != codes.FailedPrecondition:
				t.Errorf("%s: %v, %v", m.division, resp, err)
			}
		})
	}
	wg.Wait()
	got := d.settled(citizen)
	t.Logf("racing transfers: %d won", won)
	if won > 1 || len(got) != 1 {
		t.Fatalf("%d transfers won; permits in force: %v", won, got)
	}
	if won == 1 && got[0].TransferredFrom != old.Permit.Id {
		t.Fatalf("the permit in force is %v, want the transferred one", got[0])
	}
}

// TestUnreachableMember: a member that does not answer holds issuance
// back, never through. A permit issued while Putuo is down stays PENDING
// and comes into force by itself once Putuo answers again; a transfer
// from a stopped issuer is refused with UNAVAILABLE and writes nothing.
func TestUnreachableMember(t *testing.T) {
	d := startDelta(t)
	gen := citizenid.NewGenerator(44)
	d.putuo.node.stop()

	citizen := gen.Next()
	resp, err := d.permits(d.yuhang, d.yuhang.clerk).IssuePermit(ctx(t), issueRequest("down-1", citizen))
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Permit
	if p.Status != epermitv1.PermitStatus_PERMIT_STATUS_PENDING || resp.Credential != nil || !strings.Contains(p.PendingReason, "member cities") {
		t.Fatalf("issued with Putuo down: %v", p)
	}
	yuhang := d.permits(d.yuhang, d.yuhang.clerk)
	if v, err := yuhang.VerifyPermit(ctx(t), &epermitv1.VerifyPermitRequest{
		Subject: &epermitv1.VerifyPermitRequest_PermitId{PermitId: p.Id}}); err != nil || v.Verdict != epermitv1.Verdict_VERDICT_NOT_VALID {
		t.Fatalf("pending permit verifies as %v, %v", v, err)
	}

	d.putuo.node = startNode(t, d.putuo.data, "--config", d.putuo.data+"/permitd.yaml", "--log-level", "warn")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		got, err := yuhang.GetPermit(ctx(t), &epermitv1.GetPermitRequest{PermitId: p.Id})
		if err != nil {
			t.Fatal(err)
		}
		if got.Permit.Status == epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE && got.Credential != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %v after Putuo came back", got.Permit)
		}
	}

	other := gen.Next()
	old, err := d.permits(d.shangyu, d.shangyu.clerk).IssuePermit(ctx(t), issueRequest("down-2", other))
	if err != nil {
		t.Fatal(err)
	}
	d.shangyu.node.stop()
	if _, err := d.transfer(d.yuhang, "down-3", old.Credential.Text, other); status.Code(err) != codes.Unavailable {
		t.Fatalf("transfer from a stopped issuer: %v, want UNAVAILABLE", err)
	}
	list, err := yuhang.ListPermits(ctx(t), &epermitv1.ListPermitsRequest{CitizenId: other})
	if err != nil || len(list.Permits) != 0 {
		t.Fatalf("the refused transfer wrote %v (%v)", list, err)
	}
}
