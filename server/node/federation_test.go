package node

import (
	"context"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/statuslist"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// TestStatusListServed: every permit issued gets a random status-list
// entry named in its credential; a partner of another division fetches the
// signed list over mutual TLS and sees each committed change; an
// unchanged list costs a small not-modified answer.
func TestStatusListServed(t *testing.T) {
	m := startMTLSNode(t)
	ctx := context.Background()
	accounts := epermitv1.NewAccountServiceClient(m.dial(t, "hall", m.adminToken(t)))
	clerkAcct, err := accounts.CreateAccount(ctx, &epermitv1.CreateAccountRequest{Name: "clerk1", Roles: roles(clerk)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.CreateAccount(ctx, &epermitv1.CreateAccountRequest{Name: "partner-far", Division: otherDivision,
		Roles: roles(partner), Kind: epermitv1.AccountKind_ACCOUNT_KIND_SYSTEM}); err != nil {
		t.Fatal(err)
	}
	permits := epermitv1.NewPermitServiceClient(m.dial(t, "hall", clerkAcct.Token))
	federation := epermitv1.NewFederationServiceClient(m.dial(t, "partner-far", ""))
	key, err := permits.GetIssuerKey(ctx, &epermitv1.GetIssuerKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	issuerKey, err := credential.ParsePublicKeyPEM([]byte(key.PublicKeyPem))
	if err != nil {
		t.Fatal(err)
	}

	issued, err := permits.IssuePermit(ctx, &epermitv1.IssuePermitRequest{RequestId: "status-list-1",
		Holder: &epermitv1.Holder{Name: "测试者戊", CitizenId: "340104199003077311", Ethnicity: "汉",
			HukouAddress: "安徽省合肥市蜀山区测试路1号"},
		ResidenceAddress: "浙江省绍兴市上虞区曹娥街道测试小区2幢301室"})
	if err != nil {
		t.Fatal(err)
	}
	claims, _, err := credential.Decode(issued.Credential.Text)
	if err != nil || claims.Permit.StatusIndex == nil || issued.Permit.StatusIndex == nil ||
		*claims.Permit.StatusIndex != issued.Permit.GetStatusIndex() {
		t.Fatalf("credential status index %v, permit %v, %v", claims.Permit.StatusIndex, issued.Permit.StatusIndex, err)
	}
	index := *claims.Permit.StatusIndex

	fetch := func(have uint64) (*epermitv1.GetStatusListResponse, *statuslist.Snapshot) {
		t.Helper()
		resp, err := federation.GetStatusList(ctx, &epermitv1.GetStatusListRequest{HaveVersion: have})
		if err != nil {
			t.Fatal(err)
		}
		if resp.NotModified {
			return resp, nil
		}
		snap, err := statuslist.Verify(resp.Data, issuerKey, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return resp, snap
	}
	_, snap := fetch(0)
	if st, err := snap.Get(index); err != nil || st != statuslist.Valid || snap.Issuer != ownDivision {
		t.Fatalf("entry %d = %v, %v (issuer %s)", index, st, err, snap.Issuer)
	}
	unchanged, _ := fetch(snap.Version)
	if !unchanged.NotModified || len(unchanged.Data) >= 1024 {
		t.Fatalf("unchanged list: not_modified %v, %d bytes", unchanged.NotModified, len(unchanged.Data))
	}
	if _, err := statuslist.VerifyNotModified(unchanged.Data, issuerKey, time.Now()); err != nil {
		t.Fatal(err)
	}

	if _, err := permits.SuspendPermit(ctx, &epermitv1.SuspendPermitRequest{RequestId: "status-list-2",
		PermitId: issued.Permit.Id, Version: 1, Reason: "住址核查"}); err != nil {
		t.Fatal(err)
	}
	changed, snap2 := fetch(snap.Version)
	if changed.NotModified || snap2.Version <= snap.Version {
		t.Fatalf("the list did not change after a suspension")
	}
	if st, _ := snap2.Get(index); st != statuslist.Suspended {
		t.Fatalf("entry after suspension = %v", st)
	}
	// Clerks do not fetch status lists; partners do.
	if _, err := epermitv1.NewFederationServiceClient(m.dial(t, "hall", clerkAcct.Token)).GetStatusList(ctx,
		&epermitv1.GetStatusListRequest{}); err == nil {
		t.Fatal("a clerk fetched the status list")
	}
}
