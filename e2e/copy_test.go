package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/store/redis/redistest"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// TestCopyBetweenStores moves a node from its bbolt file to Redis and back
// with permitd copy: the node is stopped, its store copied and checked, and
// a node started on the copy serves the same permits to the same accounts,
// with an audit chain that verifies. permitd copy refuses a target that is
// not empty and a source of another division.
func TestCopyBetweenStores(t *testing.T) {
	first := startTestNode(t, "")
	permits, _ := first.client()
	gen := citizenid.NewGenerator(606)
	var ids []string
	for i := range 6 {
		resp, err := permits.IssuePermit(ctx(t), issueRequest(fmt.Sprintf("copy-%d", i), gen.Next()))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, resp.GetPermit().GetId())
	}
	if _, err := permits.SuspendPermit(ctx(t), &epermitv1.SuspendPermitRequest{RequestId: "copy-suspend", PermitId: ids[0], Version: 1, Reason: "住址核查"}); err != nil {
		t.Fatal(err)
	}
	snapshot := func(n *node) ([]*epermitv1.Permit, *epermitv1.VerifyAuditChainResponse) {
		t.Helper()
		permits, _ := n.client()
		var got []*epermitv1.Permit
		for _, id := range ids {
			resp, err := permits.GetPermit(ctx(t), &epermitv1.GetPermitRequest{PermitId: id})
			if err != nil {
				t.Fatalf("GetPermit(%s) on the node on %s: %v", id, n.data, err)
			}
			got = append(got, resp.GetPermit())
		}
		chain, err := epermitv1.NewAuditServiceClient(n.conn(n.staff().auditor)).VerifyAuditChain(ctx(t), &epermitv1.VerifyAuditChainRequest{})
		if err != nil || !chain.GetIntact() {
			t.Fatalf("VerifyAuditChain = %v, %v; want intact", chain, err)
		}
		return got, chain
	}
	want, before := snapshot(first)
	first.stop()

	srv := redistest.Start(t)
	bolt := filepath.Join(first.data, "permits.db")
	out, err := runPermitd(t, "copy", "--from", bolt, "--to", srv.URL())
	if err != nil || !strings.Contains(out, "the copy is complete") {
		t.Fatalf("permitd copy to Redis: %v\n%s", err, out)
	}
	if out, err := runPermitd(t, "copy", "--from", bolt, "--to", srv.URL()); err == nil || !strings.Contains(out, "not empty") {
		t.Fatalf("permitd copy into the non-empty Redis: %v, want a refusal\n%s", err, out)
	}
	other := filepath.Join(t.TempDir(), "other.db")
	if out, err := runPermitd(t, "copy", "--division", "310107", "--from", bolt, "--to", other); err == nil || !strings.Contains(out, "of division 330604, not 310107") {
		t.Fatalf("permitd copy --division 310107 of a 330604 store: %v, want a refusal\n%s", err, out)
	}
	if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused copy left its new target file behind: %v", err)
	}

	// The same data folder (issuer key, admin token) on the Redis copy.
	start := func(store string) *node {
		n := startNode(t, first.data, "--listen", "127.0.0.1:0", "--data", first.data, "--store", store,
			"--log-level", "warn", "--config", filepath.Join(first.data, "permitd.yaml"))
		n.data = first.data
		return n
	}
	onRedis := start(srv.URL())
	got, after := snapshot(onRedis)
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("permit %s on the Redis copy =\n%v\nwant\n%v", ids[i], got[i], want[i])
		}
	}
	// The snapshot's own reads are audited: the copy holds every entry
	// the source held, and the node appended its reads after them.
	if after.GetEntries() <= before.GetEntries() {
		t.Errorf("the audit chain on the copy has %d entries, the source had %d", after.GetEntries(), before.GetEntries())
	}
	onRedis.stop()

	back := filepath.Join(t.TempDir(), "permits.db")
	out, err = runPermitd(t, "copy", "--from", srv.URL(), "--to", back)
	if err != nil || !strings.Contains(out, "the copy is complete") {
		t.Fatalf("permitd copy back to bbolt: %v\n%s", err, out)
	}
	onBolt := start(back)
	got, final := snapshot(onBolt)
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("permit %s on the bbolt copy =\n%v\nwant\n%v", ids[i], got[i], want[i])
		}
	}
	if final.GetEntries() <= after.GetEntries() {
		t.Errorf("the audit chain on the second copy has %d entries, the first copy had %d", final.GetEntries(), after.GetEntries())
	}
	onBolt.stop()
}
