package node

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/client"
	"github.com/yrd-epermit/epermit/statuslist"
	"github.com/yrd-epermit/epermit/store/redis"
	"github.com/yrd-epermit/epermit/store/redis/redistest"
	"github.com/yrd-epermit/epermit/trust"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// replicas starts nodes of one division on one redis-server, as behind a
// load balancer: each with a data folder of its own holding the same
// issuer key, and cfg adjusted by with (nil for none) for the i-th.
type replicas struct {
	t     *testing.T
	url   string
	key   []byte // the issuer key file of the first replica
	nodes []*Node
}

// start starts one more replica.
func (r *replicas) start(with func(cfg *Config)) *Node {
	t := r.t
	cfg := DefaultConfig()
	cfg.Listen, cfg.Data, cfg.Store, cfg.Log.Level = "127.0.0.1:0", filepath.Join(t.TempDir(), "data"), r.url, "error"
	cfg.Limits = LimitsConfig{}
	if with != nil {
		with(&cfg)
	}
	if r.key != nil {
		if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cfg.Data, KeyFile), r.key, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	go n.Serve()
	t.Cleanup(func() { n.Shutdown(context.Background()) })
	if r.key == nil {
		if r.key, err = os.ReadFile(filepath.Join(cfg.Data, KeyFile)); err != nil {
			t.Fatal(err)
		}
	}
	r.nodes = append(r.nodes, n)
	return n
}

// dial connects to n with a bearer token.
func (r *replicas) dial(n *Node, token string) *grpc.ClientConn {
	conn, err := grpc.NewClient(n.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(bearer(token)))
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { conn.Close() })
	return conn
}

// TestReplicasShareStatusList: three replicas of one division on one
// redis-server publish the same status list (version, size and entries)
// after permits are issued, suspended and cancelled through different
// replicas, and 30 concurrent issuances through the three give 30
// different entries.
func TestReplicasShareStatusList(t *testing.T) {
	r := &replicas{t: t, url: redistest.Start(t).URL()}
	first := r.start(nil)
	r.start(nil)
	r.start(nil)
	admin, err := os.ReadFile(first.BootstrapTokenFile())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	accounts := epermitv1.NewAccountServiceClient(r.dial(first, strings.TrimSpace(string(admin))))
	var clients [3]epermitv1.PermitServiceClient // a clerk and supervisor, one connection to each replica
	var seconds [3]epermitv1.PermitServiceClient // a second supervisor
	for i, who := range []string{"staff", "second"} {
		acct, err := accounts.CreateAccount(ctx, &epermitv1.CreateAccountRequest{Name: who, Division: ownDivision,
			Roles: roles(clerk, supervisor)[i:]})
		if err != nil {
			t.Fatal(err)
		}
		for j, n := range r.nodes {
			c := epermitv1.NewPermitServiceClient(r.dial(n, acct.Token))
			if i == 0 {
				clients[j] = c
			} else {
				seconds[j] = c
			}
		}
	}
	ids := citizenid.NewGenerator(21)
	issue := func(c epermitv1.PermitServiceClient) *epermitv1.Permit {
		resp, err := c.IssuePermit(ctx, &epermitv1.IssuePermitRequest{RequestId: client.NewRequestID(),
			Holder: &epermitv1.Holder{Name: "测试者辛", CitizenId: ids.Next(), Ethnicity: "汉",
				HukouAddress: "安徽省合肥市蜀山区测试路1号"},
			ResidenceAddress: "浙江省绍兴市上虞区曹娥街道测试小区2幢301室"})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Permit
	}

	want := map[uint32]statuslist.State{}
	kept := issue(clients[0])
	want[kept.GetStatusIndex()] = statuslist.Valid
	suspended := issue(clients[1])
	if _, err := clients[2].SuspendPermit(ctx, &epermitv1.SuspendPermitRequest{RequestId: client.NewRequestID(),
		PermitId: suspended.Id, Version: suspended.Version, Reason: "住址核查"}); err != nil {
		t.Fatal(err)
	}
	want[suspended.GetStatusIndex()] = statuslist.Suspended
	cancelled := issue(clients[2])
	pending, err := clients[0].CancelPermit(ctx, &epermitv1.CancelPermitRequest{RequestId: client.NewRequestID(),
		PermitId: cancelled.Id, Version: cancelled.Version, Reason: epermitv1.CancelReason_CANCEL_REASON_DEATH})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seconds[1].ApproveCancellation(ctx, &epermitv1.ApproveCancellationRequest{RequestId: client.NewRequestID(),
		PendingId: pending.Pending.GetId()}); err != nil {
		t.Fatal(err)
	}
	want[cancelled.GetStatusIndex()] = statuslist.Cancelled

	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			p := issue(clients[i%3])
			mu.Lock()
			defer mu.Unlock()
			if _, dup := want[p.GetStatusIndex()]; dup || p.StatusIndex == nil {
				t.Errorf("permit %s got index %v, already given or none", p.Id, p.StatusIndex)
			}
			want[p.GetStatusIndex()] = statuslist.Valid
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// Replicas that did not write last reload within about a second.
	var snaps []*statuslist.Snapshot
	for deadline := time.Now().Add(10 * time.Second); ; {
		snaps = publications(t, r.nodes)
		if agree(snaps) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !agree(snaps) {
		t.Fatalf("the replicas publish different lists: versions %d, %d, %d", snaps[0].Version, snaps[1].Version, snaps[2].Version)
	}
	used := 0
	for i := range snaps[0].Size {
		st, _ := snaps[0].Get(i)
		if st != statuslist.Unused {
			used++
		}
		if st != want[i] {
			t.Fatalf("entry %d is %v, want %v", i, st, want[i])
		}
	}
	if used != len(want) {
		t.Fatalf("%d entries used, want %d", used, len(want))
	}
}

// publications verifies the list each node publishes.
func publications(t *testing.T, nodes []*Node) []*statuslist.Snapshot {
	t.Helper()
	var out []*statuslist.Snapshot
	for _, n := range nodes {
		data, _, err := n.status.Publication(t.Context(), 0)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := statuslist.Verify(data, n.keys.SignerAt(time.Now()).Public(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, snap)
	}
	return out
}

// agree reports whether the lists have one version, size and content.
func agree(snaps []*statuslist.Snapshot) bool {
	for _, s := range snaps[1:] {
		if s.Version != snaps[0].Version || s.Size != snaps[0].Size || s.Digest != snaps[0].Digest {
			return false
		}
	}
	return true
}

// TestReplicasShareTrustList: replicas of one division on one
// redis-server, each watching a trust-list file of its own, adopt the
// newest list any of them accepted, a replica started with a stale file
// answers with the newest at once, and an older list or a tampered one
// placed in Redis is refused by all and replaced with the newest.
func TestReplicasShareTrustList(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	registry, _ := trust.NewRegistryKey()
	pubFile := filepath.Join(dir, "registry.pem")
	if err := trust.SaveRegistryPublic(pubFile, registry.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	list := func(seq uint64) []byte {
		b, err := trust.Sign(&trust.List{Sequence: seq, IssuedAt: now, ExpiresAt: now.Add(time.Hour), Members: members(now)}, registry)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	r := &replicas{t: t, url: srv.URL()}
	var files []string
	startWith := func(seq uint64) *Node {
		file := filepath.Join(dir, fmt.Sprintf("trustlist-%d.cose", len(files)))
		if err := os.WriteFile(file, list(seq), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, file)
		return r.start(func(cfg *Config) {
			cfg.Trust = TrustConfig{RegistryPub: pubFile, ListFile: file, Refresh: time.Second}
		})
	}
	a, b := startWith(5), startWith(5)
	shared, err := redis.Open(t.Context(), redis.Options{URL: srv.URL(), Division: ownDivision})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shared.Close() })
	stored := func() uint64 {
		t.Helper()
		data, err := shared.SharedTrustList(t.Context())
		if err != nil || data == nil {
			t.Fatalf("shared trust list: %v, %v", data, err)
		}
		l, err := trust.Verify(data, registry.Public(), time.Now())
		if err != nil {
			return 0
		}
		return l.Sequence
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10 s", what)
			}
		}
	}
	seqs := func(want uint64) func() bool {
		return func() bool {
			for _, n := range r.nodes {
				if n.trust.Current().Sequence != want {
					return false
				}
			}
			return stored() == want
		}
	}

	if err := os.WriteFile(files[0], list(6), 0o644); err != nil { // a's file only
		t.Fatal(err)
	}
	eventually("b, whose file is old, adopting list 6", seqs(6))

	c := startWith(5)
	if got := c.trust.Current().Sequence; got != 6 {
		t.Fatalf("a replica started with list 5 in its file answers with %d, want the shared 6", got)
	}
	if err := os.WriteFile(files[1], list(4), 0o644); err != nil {
		t.Fatal(err)
	}
	newest, err := shared.SharedTrustList(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]byte{"older": list(4), "tampered": flip(list(9))} {
		cur, _ := shared.SharedTrustList(t.Context())
		if ok, err := shared.ShareTrustList(t.Context(), bad, cur); !ok || err != nil {
			t.Fatalf("placing the %s list: %v, %v", name, ok, err)
		}
		eventually("the "+name+" list replaced by list 6", seqs(6))
	}
	if now, _ := shared.SharedTrustList(t.Context()); string(now) != string(newest) {
		t.Fatal("the shared list is not list 6 as first shared")
	}
	for _, n := range []*Node{a, b, c} {
		if got := n.trust.Current().Sequence; got != 6 {
			t.Fatalf("a replica holds list %d, want 6", got)
		}
	}
}

// flip returns a copy of data with its last byte (in the signature)
// changed.
func flip(data []byte) []byte {
	c := append([]byte(nil), data...)
	c[len(c)-1] ^= 1
	return c
}
