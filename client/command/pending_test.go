package command

import (
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// TestPendingCommands follows a cancellation through the fake node: filed
// by cancel, listed, rejected, filed again and approved.
func TestPendingCommands(t *testing.T) {
	p := activePermit()
	node, addr := startFakeNode(t, p, suspendedPermit())
	run := func(args ...string) cliResult {
		t.Helper()
		return runCLI(t, nil, append([]string{"--server", addr}, args...)...)
	}

	if r := run("pending", "list"); r.err != nil || r.stdout != "" || !strings.Contains(r.stderr, "No pending cancellations.") {
		t.Fatalf("empty list: err %v, stdout %q, stderr %q", r.err, r.stdout, r.stderr)
	}
	if r := run("cancel", p.GetId(), "--reason", "local-hukou", "--yes"); r.err != nil {
		t.Fatal(r.err)
	}
	r := run("pending", "list")
	if r.err != nil || !strings.Contains(r.stdout, "pc-0001") || !strings.Contains(r.stdout, "local-hukou") {
		t.Fatalf("list: err %v\n%s", r.err, r.stdout)
	}
	r = run("pending", "list", "--permit", "330604-7QW2M4K9XB3F1", "-o", "json")
	var list epermitv1.ListPendingCancellationsResponse
	if err := protojson.Unmarshal([]byte(r.stdout), &list); r.err != nil || err != nil || len(list.GetPending()) != 0 {
		t.Fatalf("list --permit of another permit: err %v, %v\n%s", r.err, err, r.stdout)
	}
	if got := node.lastCall(t).req.(*epermitv1.ListPendingCancellationsRequest).GetPermitId(); got != "330604-7QW2M4K9XB3F1" {
		t.Errorf("list --permit sent permit_id %q", got)
	}

	r = run("pending", "reject", "pc-0001", "--note", "材料不全", "--request-id", "rej-1")
	if r.err != nil || !strings.Contains(r.stdout, "pc-0001 rejected; permit "+p.GetId()+" is unchanged") {
		t.Fatalf("reject: err %v\n%s", r.err, r.stdout)
	}
	got := node.received()
	mustEqual(t, got[len(got)-1], &epermitv1.RejectCancellationRequest{RequestId: "rej-1", PendingId: "pc-0001", Note: "材料不全"})

	if r := run("cancel", p.GetId(), "--reason", "death", "--yes"); r.err != nil {
		t.Fatal(r.err)
	}
	r = run("pending", "approve", "pc-0002")
	if r.code != exitUsage || !strings.Contains(r.err.Error(), "pass --yes") {
		t.Fatalf("approve without --yes or a terminal: exit %d, err %v", r.code, r.err)
	}
	r = run("pending", "approve", "pc-0002", "--yes", "--request-id", "appr-1")
	if r.err != nil || !strings.Contains(r.stdout, "cancelled") {
		t.Fatalf("approve: err %v\n%s", r.err, r.stdout)
	}
	got = node.received()
	mustEqual(t, got[len(got)-1], &epermitv1.ApproveCancellationRequest{RequestId: "appr-1", PendingId: "pc-0002"})
	if now, _ := node.permit(p.GetId()); now.GetStatus() != epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED {
		t.Errorf("after approval the permit is %v", now.GetStatus())
	}

	r = run("pending", "approve", "pc-0002", "--yes")
	if r.code != exitFailure || !strings.Contains(client.Describe(r.err), "not found") {
		t.Errorf("approving twice: exit %d, err %v; want not found", r.code, r.err)
	}
	r = run("pending", "reject", "pc-0009")
	if r.code != exitFailure || !strings.Contains(client.Describe(r.err), "not found") {
		t.Errorf("rejecting a missing request: exit %d, err %v; want not found", r.code, r.err)
	}
}

// TestApproveOwnRequest checks that the node's refusal of a requester's own
// approval comes with a pointer to whoami.
func TestApproveOwnRequest(t *testing.T) {
	p := activePermit()
	node, addr := startFakeNode(t, p)
	node.requireCredentials()
	node.accounts.add(supervisorAccount(), "epk_test_sup.li")
	args := []string{"--server", addr, "--token", "epk_test_sup.li"}
	if r := runCLI(t, nil, append(args, "cancel", p.GetId(), "--reason", "death", "--yes")...); r.err != nil {
		t.Fatal(r.err)
	}
	r := runCLI(t, nil, append(args, "pending", "approve", "pc-0001", "--yes")...)
	if r.code != exitFailure || !strings.Contains(client.Describe(r.err), "permission denied: the approver must be a supervisor other than the requester") ||
		!strings.Contains(r.err.Error(), "permitctl whoami") {
		t.Errorf("exit %d, err %v; want permission denied with a pointer to whoami", r.code, r.err)
	}
}

func TestConfirmApprove(t *testing.T) {
	pc := pendingConfiscation()
	tests := []struct {
		answer  string
		wantErr error
	}{
		{answer: pc.GetPermitId() + "\n"},
		{answer: pc.GetId() + "\n", wantErr: errNotConfirmed},
		{answer: "yes\n", wantErr: errNotConfirmed},
		{answer: "", wantErr: errNotConfirmed},
	}
	for _, tt := range tests {
		var prompt strings.Builder
		cmd := &cobra.Command{}
		cmd.SetIn(strings.NewReader(tt.answer))
		cmd.SetErr(&prompt)
		if err := confirmApprove(cmd, pc); !errors.Is(err, tt.wantErr) {
			t.Errorf("answer %q: %v, want %v", tt.answer, err, tt.wantErr)
		}
		want := "Approve the confiscation of permit 330604-7QW2M4K9XB3F1 (forged), requested by sup.zhou? This cannot be undone. Type the permit id to confirm: "
		if prompt.String() != want {
			t.Errorf("prompt %q, want %q", prompt.String(), want)
		}
	}
}
