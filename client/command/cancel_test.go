package command

import (
	"errors"
	"strings"
	"testing"
	"testing/iotest"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

func TestConfirmCancel(t *testing.T) {
	const id = "330604-4F7K2M9QXW3B7"
	tests := []struct {
		name       string
		answer     string
		reason     epermitv1.CancelReason
		wantErr    error
		wantPrompt string
	}{
		{
			name: "right id", answer: id + "\n", reason: epermitv1.CancelReason_CANCEL_REASON_DEATH,
			wantPrompt: "Request the cancellation of permit " + id + " (测试者甲)? Once a second supervisor approves, it cannot be undone. Type the permit id to confirm: ",
		},
		{
			name: "right id confiscating", answer: id + "\n", reason: epermitv1.CancelReason_CANCEL_REASON_FORGED,
			wantPrompt: "Request the confiscation of permit " + id + " (测试者甲)? Once a second supervisor approves, it cannot be undone. Type the permit id to confirm: ",
		},
		{name: "right id with spaces and CRLF", answer: "  " + id + " \r\n", reason: epermitv1.CancelReason_CANCEL_REASON_DEATH},
		{name: "right id without newline", answer: id, reason: epermitv1.CancelReason_CANCEL_REASON_DEATH},
		{name: "yes", answer: "yes\n", reason: epermitv1.CancelReason_CANCEL_REASON_DEATH, wantErr: errNotConfirmed},
		{name: "y", answer: "y\n", reason: epermitv1.CancelReason_CANCEL_REASON_DEATH, wantErr: errNotConfirmed},
		{name: "other permit", answer: "330604-7QW2M4K9XB3F1\n", reason: epermitv1.CancelReason_CANCEL_REASON_DEATH, wantErr: errNotConfirmed},
		{name: "lower case id", answer: strings.ToLower(id) + "\n", reason: epermitv1.CancelReason_CANCEL_REASON_DEATH, wantErr: errNotConfirmed},
		{name: "empty line", answer: "\n", reason: epermitv1.CancelReason_CANCEL_REASON_DEATH, wantErr: errNotConfirmed},
		{name: "end of input", answer: "", reason: epermitv1.CancelReason_CANCEL_REASON_DEATH, wantErr: errNotConfirmed},
		{name: "id on the second line", answer: "\n" + id + "\n", reason: epermitv1.CancelReason_CANCEL_REASON_DEATH, wantErr: errNotConfirmed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var prompt strings.Builder
			err := confirmCancel(strings.NewReader(tt.answer), &prompt, activePermit(), tt.reason)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("confirmCancel() = %v, want %v", err, tt.wantErr)
			}
			if tt.wantPrompt != "" && prompt.String() != tt.wantPrompt {
				t.Errorf("prompt = %q, want %q", prompt.String(), tt.wantPrompt)
			}
		})
	}
	t.Run("read error", func(t *testing.T) {
		var prompt strings.Builder
		err := confirmCancel(iotest.ErrReader(errors.New("tty gone")), &prompt, activePermit(), epermitv1.CancelReason_CANCEL_REASON_DEATH)
		if err == nil || errors.Is(err, errNotConfirmed) || !strings.Contains(err.Error(), "tty gone") {
			t.Fatalf("confirmCancel() = %v, want the read error", err)
		}
	})
}

// TestCancelCommand runs cancel against a fake node: without a terminal and
// without --yes nothing is sent; with --yes the request goes out with the
// current version, and the pending request is printed while the permit
// stays as it is.
func TestCancelCommand(t *testing.T) {
	p := activePermit()
	t.Run("not a terminal without --yes", func(t *testing.T) {
		node, addr := startFakeNode(t, p)
		r := runCLI(t, strings.NewReader(p.GetId()+"\n"), "--server", addr, "cancel", p.GetId(), "--reason", "death")
		if r.code != exitUsage || !strings.Contains(r.err.Error(), "pass --yes") {
			t.Fatalf("exit %d, err %v; want a usage error saying to pass --yes", r.code, r.err)
		}
		if got := node.received(); len(got) != 0 {
			t.Errorf("node received %v, want nothing", got)
		}
	})
	t.Run("--yes", func(t *testing.T) {
		node, addr := startFakeNode(t, p)
		r := runCLI(t, nil, "--server", addr, "cancel", p.GetId(), "--reason", "fraudulently-obtained",
			"--note", "测试说明", "--yes", "--request-id", "req-cancel-1")
		if r.err != nil {
			t.Fatal(r.err)
		}
		got := node.received()
		if len(got) != 1 {
			t.Fatalf("node received %v, want one CancelPermit", got)
		}
		mustEqual(t, got[0], &epermitv1.CancelPermitRequest{
			RequestId: "req-cancel-1", PermitId: p.GetId(), Version: p.GetVersion(),
			Reason: epermitv1.CancelReason_CANCEL_REASON_FRAUDULENTLY_OBTAINED, Note: "测试说明",
		})
		for _, want := range []string{"Confiscation requested", "pc-0001", p.GetId(), "fraudulently-obtained", "sup.li"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("output lacks %q:\n%s", want, r.stdout)
			}
		}
		if !strings.Contains(r.stderr, "permitctl pending approve pc-0001") {
			t.Errorf("stderr does not say how to approve:\n%s", r.stderr)
		}
		if still, _ := node.permit(p.GetId()); still.GetStatus() != epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE {
			t.Errorf("the permit is %v before approval, want it unchanged", still.GetStatus())
		}

		r = runCLI(t, nil, "--server", addr, "cancel", p.GetId(), "--reason", "death", "--yes")
		if r.code != exitFailure || !strings.Contains(client.Describe(r.err), "already exists") {
			t.Errorf("second request: exit %d, err %v; want already exists", r.code, r.err)
		}
	})
	t.Run("-o json", func(t *testing.T) {
		_, addr := startFakeNode(t, p)
		r := runCLI(t, nil, "--server", addr, "-o", "json", "cancel", p.GetId(), "--reason", "death", "--yes")
		if r.err != nil {
			t.Fatal(r.err)
		}
		var got epermitv1.CancelPermitResponse
		if err := protojson.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("%v\n%s", err, r.stdout)
		}
		if got.GetPending().GetId() != "pc-0001" || got.GetPermit().GetStatus() != epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE {
			t.Errorf("JSON %v, want the pending request and the unchanged permit", &got)
		}
	})
	t.Run("--yes with a stale --if-version", func(t *testing.T) {
		node, addr := startFakeNode(t, p)
		r := runCLI(t, nil, "--server", addr, "cancel", p.GetId(), "--reason", "death", "--yes", "--if-version", "2")
		if r.code != exitFailure || !strings.Contains(r.err.Error(), "version") {
			t.Fatalf("exit %d, err %v; want aborted", r.code, r.err)
		}
		if got := node.received(); len(got) != 1 || got[0].(*epermitv1.CancelPermitRequest).GetVersion() != 2 {
			t.Errorf("node received %v, want one CancelPermit at version 2", got)
		}
	})
	t.Run("missing --reason", func(t *testing.T) {
		r := runCLI(t, nil, "cancel", p.GetId(), "--yes")
		if r.code != exitUsage || !strings.Contains(r.err.Error(), "--reason") {
			t.Fatalf("exit %d, err %v; want a usage error naming --reason", r.code, r.err)
		}
	})
}
