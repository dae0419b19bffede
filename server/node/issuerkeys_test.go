package node

import (
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/statuslist"
	"github.com/yrd-epermit/epermit/trust"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// movableClock is a clock a test sets.
type movableClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *movableClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *movableClock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// TestIssuerKeyRotation: a node with a next key made by NewIssuerKey keeps
// signing with its first key until the trust list's not-before of the new
// key, then signs credentials and its status list with the new key; a
// credential signed before keeps its key, and both verify at the node.
func TestIssuerKeyRotation(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	first, err := credential.LoadOrCreateKey(filepath.Join(data, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	firstKID, _ := credential.KID(first.Public())
	nextKID, nextPEM, err := NewIssuerKey(data)
	if err != nil {
		t.Fatal(err)
	}
	pemData, _ := os.ReadFile(nextPEM)
	nextPub, err := credential.ParsePublicKeyPEM(pemData)
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := credential.KID(nextPub); k != nextKID || nextKID == firstKID {
		t.Fatalf("next key %s, pem kid %s, first %s", nextKID, k, firstKID)
	}

	start := time.Now()
	clock := &movableClock{now: start}
	switchAt := start.Add(24 * time.Hour)
	registry, _ := trust.NewRegistryKey()
	regFile := filepath.Join(dir, "registry.pem")
	if err := trust.SaveRegistryPublic(regFile, registry.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	list := &trust.List{Sequence: 1, IssuedAt: start, ExpiresAt: start.Add(30 * 24 * time.Hour), Members: []trust.Member{{
		Division: "330604", Name: "浙江省绍兴市上虞区", Province: "330000", Endpoint: "127.0.0.1:7700",
		Keys: []trust.IssuerKey{
			{KID: firstKID, Algorithm: trust.AlgorithmEdDSA, PublicKey: first.Public(), NotBefore: start.Add(-time.Hour), NotAfter: switchAt.Add(time.Hour)},
			{KID: nextKID, Algorithm: trust.AlgorithmEdDSA, PublicKey: nextPub, NotBefore: switchAt, NotAfter: switchAt.AddDate(2, 0, 0)},
		}}}}
	signed, err := trust.Sign(list, registry)
	if err != nil {
		t.Fatal(err)
	}
	listFile := filepath.Join(dir, "trustlist.cose")
	os.WriteFile(listFile, signed, 0o644)

	cfg := DefaultConfig()
	cfg.Listen, cfg.Data, cfg.Log.Level = "127.0.0.1:0", data, "error"
	cfg.Trust = TrustConfig{RegistryPub: regFile, ListFile: listFile, Refresh: time.Hour}
	n, err := New(cfg, Options{Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	go n.Serve()
	defer n.Shutdown(context.Background())
	conn, err := grpc.NewClient(n.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	permits := epermitv1.NewPermitServiceClient(conn)
	kidNow := func() string {
		resp, err := permits.GetIssuerKey(context.Background(), &epermitv1.GetIssuerKeyRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Kid
	}
	statusSignedBy := func(pub any) error {
		data, _, err := n.status.Publication(t.Context(), 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = statuslist.Verify(data, pub, clock.Now())
		return err
	}
	if got := kidNow(); got != firstKID {
		t.Fatalf("before the switch the node signs with %s, want the first key %s", got, firstKID)
	}
	if err := statusSignedBy(first.Public()); err != nil {
		t.Fatalf("the status list before the switch: %v", err)
	}
	before := n.keys.SignerAt(clock.Now())
	clock.Set(switchAt.Add(time.Minute))
	if got := kidNow(); got != nextKID {
		t.Fatalf("after the switch the node signs with %s, want the next key %s", got, nextKID)
	}
	if err := statusSignedBy(nextPub); err != nil {
		t.Fatalf("the status list after the switch: %v", err)
	}
	if got := n.keys.SignerAt(start).KID(); got != before.KID() {
		t.Fatalf("a credential signed before the switch is signed with %s, want %s", got, before.KID())
	}
	for _, kid := range []string{firstKID, nextKID} {
		if _, ok := n.keys.Public(kid); !ok {
			t.Errorf("the node does not hold key %s", kid)
		}
	}
}
