package federation

import (
	"crypto"
	"crypto/ed25519"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/pki"
	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/redis"
	"github.com/yrd-epermit/epermit/store/redis/redistest"
	"github.com/yrd-epermit/epermit/store/storetest"
	"github.com/yrd-epermit/epermit/trust"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// TestSharedPeerLists: two replicas of division 330604 on one
// redis-server poll member 310107, which serves its status list over
// mutual TLS on loopback; the second replica cannot reach it. The first
// shares each list it fetches, and the second takes it from Redis after
// verifying it, so both answer alike about the member. An older list or a
// tampered one placed in Redis is refused and replaced by the newest.
func TestSharedPeerLists(t *testing.T) {
	srv := redistest.Start(t)
	ctx := t.Context()
	now := time.Now()
	log := slog.New(slog.DiscardHandler)
	open := func(division string) *redis.Store {
		st, err := redis.Open(ctx, redis.Options{URL: srv.URL(), Division: division})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}

	// The member 310107: its store, its status list served over mutual TLS.
	pkiDir, otherPKI := filepath.Join(t.TempDir(), "pki"), filepath.Join(t.TempDir(), "other")
	client := []pki.Client{{Account: "node-330604", Division: "330604"}}
	if err := pki.WriteDevPKI(pkiDir, "310107", []string{"127.0.0.1"}, client, now); err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteDevPKI(otherPKI, "310107", []string{"127.0.0.1"}, client, now); err != nil {
		t.Fatal(err)
	}
	memberStore := open("310107")
	pub, key, _ := ed25519.GenerateKey(nil)
	memberStatus, err := NewStatus(ctx, memberStore, "310107", func(time.Time) crypto.Signer { return key }, time.Now, log)
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, err := pki.ServerConfig(filepath.Join(pkiDir, "node.pem"), filepath.Join(pkiDir, "node.key"), filepath.Join(pkiDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(serverTLS)))
	RegisterService(gs, NewService(memberStatus, nil))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	issue := func(n int, index uint32) {
		t.Helper()
		p := storetest.NewPermit("310107-"+storetest.PermitID(n)[7:], storetest.CitizenID(n))
		p.IssuingDivision, p.StatusIndex = "310107", &index
		if err := memberStore.WritePermit(ctx, storeWrite(p)); err != nil {
			t.Fatal(err)
		}
		memberStatus.Record(p)
	}
	issue(1, 1000)

	// The trust list naming the member, and the two replicas' pollers.
	registry, _ := trust.NewRegistryKey()
	kid, _ := credential.KID(pub)
	signed, err := trust.Sign(&trust.List{Sequence: 1, IssuedAt: now, ExpiresAt: now.Add(time.Hour), Members: []trust.Member{{
		Division: "310107", Name: "上海市普陀区", Province: "310000", Endpoint: lis.Addr().String(),
		Keys: []trust.IssuerKey{{KID: kid, Algorithm: trust.AlgorithmEdDSA, PublicKey: pub, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}},
	}}}, registry)
	if err != nil {
		t.Fatal(err)
	}
	holder, err := trust.NewHolder(trust.HolderConfig{Registry: registry.Public()})
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Load(signed); err != nil {
		t.Fatal(err)
	}
	poller := func(dir string) *Poller {
		tc, err := pki.ClientConfig(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "node-330604.pem"), filepath.Join(dir, "node-330604.key"))
		if err != nil {
			t.Fatal(err)
		}
		peers := NewPeers("330604", holder, tc)
		t.Cleanup(peers.Close)
		return NewPoller(peers, holder, time.Minute, time.Now, log).WithShared(open("330604"))
	}
	reaches, cut := poller(pkiDir), poller(otherPKI) // cut trusts another CA: its handshakes fail
	shared := open("330604")
	stored := func() []byte {
		t.Helper()
		b, err := shared.PeerStatusList(ctx, "310107")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	agree := func(what string, index uint32) {
		t.Helper()
		v := reaches.cache.Version("310107")
		if v == 0 || cut.cache.Version("310107") != v {
			t.Fatalf("%s: the replicas hold versions %d and %d of the member's list", what, v, cut.cache.Version("310107"))
		}
		for _, p := range []*Poller{reaches, cut} {
			if st, _, fresh := p.Status("310107", index, time.Now(), time.Hour); !fresh || st.String() != "valid" {
				t.Fatalf("%s: entry %d = %v (fresh %v)", what, index, st, fresh)
			}
		}
	}

	reaches.PollOnce(ctx)
	first := stored()
	if first == nil {
		t.Fatal("the replica that reached the member shared nothing")
	}
	cut.PollOnce(ctx)
	agree("after the first fetch", 1000)

	issue(2, 2000)
	reaches.PollOnce(ctx)
	second := stored()
	if string(second) == string(first) {
		t.Fatal("the newer list was not shared")
	}
	cut.PollOnce(ctx)
	agree("after a change", 2000)

	for name, bad := range map[string][]byte{"older": first, "tampered": tamper(second)} {
		if ok, err := shared.SharePeerStatusList(ctx, "310107", bad, stored()); !ok || err != nil {
			t.Fatalf("placing the %s list: %v, %v", name, ok, err)
		}
		cut.PollOnce(ctx)
		if string(stored()) != string(second) {
			t.Fatalf("the %s list was not replaced by the newest", name)
		}
		agree("after the "+name+" list", 2000)
	}
}

// tamper returns a copy of a signed list with one byte of its signature
// changed.
func tamper(b []byte) []byte {
	c := append([]byte(nil), b...)
	c[len(c)-1] ^= 1
	return c
}

// storeWrite is the write of a new permit.
func storeWrite(p *epermitv1.Permit) store.PermitWrite {
	return store.PermitWrite{Permit: p}
}
