package node

import (
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/trust"
)

// TestTrustList: a node loads its signed trust list at start, refuses to
// start on an unsigned or wrongly signed one, and picks up a newer list
// without restart while ignoring an older one.
func TestTrustList(t *testing.T) {
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
	listFile := filepath.Join(dir, "trustlist.cose")
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Log.Level = "error"
	cfg.Trust = TrustConfig{RegistryPub: pubFile, ListFile: listFile, Refresh: time.Second}

	for name, data := range map[string][]byte{
		"garbage":          []byte("not a trust list"),
		"another registry": signedByAnother(t, now),
	} {
		os.WriteFile(listFile, data, 0o644)
		cfg.Data = t.TempDir()
		if _, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "trust list") {
			t.Errorf("%s: New = %v, want a trust list error", name, err)
		}
	}

	os.WriteFile(listFile, list(5), 0o644)
	cfg.Data = t.TempDir()
	n, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	if got := n.trust.Current().Sequence; got != 5 {
		t.Fatalf("sequence %d at start", got)
	}
	os.WriteFile(listFile, list(4), 0o644) // older: ignored
	time.Sleep(2500 * time.Millisecond)
	if got := n.trust.Current().Sequence; got != 5 {
		t.Fatalf("an older list replaced the current one: sequence %d", got)
	}
	os.WriteFile(listFile, list(6), 0o644)
	deadline := time.Now().Add(10 * time.Second)
	for n.trust.Current().Sequence != 6 {
		if time.Now().After(deadline) {
			t.Fatal("the newer list was not picked up in 10 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func signedByAnother(t *testing.T, now time.Time) []byte {
	other, _ := trust.NewRegistryKey()
	b, err := trust.Sign(&trust.List{Sequence: 9, IssuedAt: now, ExpiresAt: now.Add(time.Hour), Members: members(now)}, other)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// members is a one-member list: 310107 (Putuo) with a fresh key.
func members(now time.Time) []trust.Member {
	pub, _, _ := ed25519.GenerateKey(nil)
	kid, _ := credential.KID(pub)
	return []trust.Member{{Division: "310107", Name: "上海市普陀区", Province: "310000", Endpoint: "127.0.0.1:7701",
		Keys: []trust.IssuerKey{{KID: kid, Algorithm: trust.AlgorithmEdDSA, PublicKey: pub,
			NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0)}}}}
}
