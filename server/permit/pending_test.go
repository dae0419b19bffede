package permit_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/yrd-epermit/epermit/server/permit"
	"github.com/yrd-epermit/epermit/store"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// TestDualControl: a cancellation takes a request by one supervisor and an
// approval by another; until then the permit is unchanged.
func TestDualControl(t *testing.T) {
	h := start(t, permit.DefaultRules())
	ctx := context.Background()
	id := h.issue(t).Permit.Id

	req := &epermitv1.CancelPermitRequest{RequestId: newRequestID(), PermitId: id, Version: 1,
		Reason: epermitv1.CancelReason_CANCEL_REASON_DEATH, Note: "死亡注销"}
	filed, err := h.client.CancelPermit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	pc := filed.Pending
	if pc.GetRequestedBy() != "staff" || pc.GetPermitVersion() != 1 || filed.Permit.Status != epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE {
		t.Fatalf("filed %v", filed)
	}
	if p := h.get(t, id); p.Status != epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE || p.Version != 1 {
		t.Fatalf("permit changed before approval: %v", p)
	}
	// A retry of the same request returns the same pending request.
	again, err := h.client.CancelPermit(ctx, req)
	if err != nil || !proto.Equal(again.Pending, pc) {
		t.Fatalf("retry = %v, %v", again, err)
	}
	// A second request for the same permit is refused, naming the first.
	_, err = h.second.CancelPermit(ctx, &epermitv1.CancelPermitRequest{RequestId: newRequestID(), PermitId: id, Version: 1,
		Reason: epermitv1.CancelReason_CANCEL_REASON_DEATH})
	wantCode(t, err, codes.AlreadyExists)
	list, err := h.second.ListPendingCancellations(ctx, &epermitv1.ListPendingCancellationsRequest{PermitId: id})
	if err != nil || len(list.Pending) != 1 || list.Pending[0].Id != pc.Id {
		t.Fatalf("pending = %v, %v", list, err)
	}
	// The requester cannot approve their own request.
	_, err = h.client.ApproveCancellation(ctx, &epermitv1.ApproveCancellationRequest{RequestId: newRequestID(), PendingId: pc.Id})
	wantCode(t, err, codes.PermissionDenied)

	// A change of the permit after the request blocks approval.
	if _, err := h.client.SuspendPermit(ctx, &epermitv1.SuspendPermitRequest{RequestId: newRequestID(), PermitId: id,
		Version: 1, Reason: "住址核查"}); err != nil {
		t.Fatal(err)
	}
	_, err = h.second.ApproveCancellation(ctx, &epermitv1.ApproveCancellationRequest{RequestId: newRequestID(), PendingId: pc.Id})
	wantCode(t, err, codes.FailedPrecondition)
	rej, err := h.second.RejectCancellation(ctx, &epermitv1.RejectCancellationRequest{RequestId: newRequestID(),
		PendingId: pc.Id, Note: "permit changed"})
	if err != nil || rej.Pending.Id != pc.Id {
		t.Fatalf("reject = %v, %v", rej, err)
	}
	_, err = h.second.ApproveCancellation(ctx, &epermitv1.ApproveCancellationRequest{RequestId: newRequestID(), PendingId: pc.Id})
	wantCode(t, err, codes.NotFound)

	// Filed again at the current version and approved by the second supervisor.
	filed, err = h.client.CancelPermit(ctx, &epermitv1.CancelPermitRequest{RequestId: newRequestID(), PermitId: id, Version: 2,
		Reason: epermitv1.CancelReason_CANCEL_REASON_DEATH})
	if err != nil {
		t.Fatal(err)
	}
	approve := &epermitv1.ApproveCancellationRequest{RequestId: newRequestID(), PendingId: filed.Pending.Id}
	done, err := h.second.ApproveCancellation(ctx, approve)
	if err != nil {
		t.Fatal(err)
	}
	p := done.Permit
	if p.Status != epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED || p.Version != 3 || p.Suspension != nil ||
		p.Cancellation.GetRequestedBy() != "staff" || p.Cancellation.GetApprovedBy() != "second" {
		t.Fatalf("approved: %v", p)
	}
	replayed, err := h.second.ApproveCancellation(ctx, approve)
	if err != nil || !proto.Equal(replayed.Permit, p) {
		t.Fatalf("replayed approval = %v, %v", replayed, err)
	}
	if list, _ := h.second.ListPendingCancellations(ctx, &epermitv1.ListPendingCancellationsRequest{}); len(list.GetPending()) != 0 {
		t.Fatalf("pending after approval: %v", list)
	}
}

// TestAuditTrail: every change leaves exactly one entry, in the same
// transaction, naming its actor; reads of personal data leave one too;
// verification without personal data leaves none; the chain is intact.
func TestAuditTrail(t *testing.T) {
	h := start(t, permit.DefaultRules())
	ctx := context.Background()
	issued := h.issue(t)
	id := issued.Permit.Id
	if _, err := h.client.SuspendPermit(ctx, &epermitv1.SuspendPermitRequest{RequestId: newRequestID(), PermitId: id,
		Version: 1, Reason: "住址核查"}); err != nil {
		t.Fatal(err)
	}
	// A refused change is recorded with its outcome.
	_, err := h.client.SuspendPermit(ctx, &epermitv1.SuspendPermitRequest{RequestId: newRequestID(), PermitId: id,
		Version: 1, Reason: "住址核查"})
	wantCode(t, err, codes.Aborted)
	h.get(t, id)
	h.verify(t, issued.Credential.Text) // no personal data asked for: not a read of personal data
	if _, err := h.client.VerifyPermit(ctx, &epermitv1.VerifyPermitRequest{IncludePersonalData: true,
		Subject: &epermitv1.VerifyPermitRequest_PermitId{PermitId: id}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.cancel(ctx, &epermitv1.CancelPermitRequest{RequestId: newRequestID(), PermitId: id, Version: 2,
		Reason: epermitv1.CancelReason_CANCEL_REASON_DEATH}); err != nil {
		t.Fatal(err)
	}

	entries, err := h.store.ListAudit(ctx, store.AuditFilter{Target: id}, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	type line struct{ actor, method, outcome string }
	want := []line{
		{"staff", "IssuePermit", "OK"},
		{"staff", "SuspendPermit", "OK"},
		{"staff", "SuspendPermit", "ABORTED"},
		{"staff", "GetPermit", "OK"},
		{"staff", "VerifyPermit", "OK"},
		{"staff", "CancelPermit", "OK"},
		{"second", "ApproveCancellation", "OK"},
	}
	var got []line
	for _, e := range entries {
		got = append(got, line{e.Actor, e.Method[len("/epermit.v1.PermitService/"):], e.Outcome})
	}
	if len(got) != len(want) {
		t.Fatalf("audit entries for %s:\n got %v\nwant %v", id, got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("audit entry %d = %v, want %v (all: %v)", i, got[i], want[i], got)
		}
	}
	r, err := store.CheckAuditChain(ctx, h.store)
	if err != nil || !r.Intact || r.Entries != uint64(len(want)) {
		t.Fatalf("chain = %+v, %v", r, err)
	}
}

// TestVerifyPersonalData: the holder's name only when asked for.
func TestVerifyPersonalData(t *testing.T) {
	h := start(t, permit.DefaultRules())
	issued := h.issue(t)
	plain := h.verify(t, issued.Credential.Text)
	if plain.Permit.HolderName != "" || plain.Permit.MaskedCitizenId != "" || plain.Permit.PermitId != issued.Permit.Id {
		t.Fatalf("verify without personal data: %v", plain.Permit)
	}
	full, err := h.client.VerifyPermit(context.Background(), &epermitv1.VerifyPermitRequest{IncludePersonalData: true,
		Subject: &epermitv1.VerifyPermitRequest_CredentialText{CredentialText: issued.Credential.Text}})
	if err != nil || full.Permit.HolderName != "测试者甲" || full.Permit.MaskedCitizenId == "" {
		t.Fatalf("verify with personal data: %v, %v", full, err)
	}
}
