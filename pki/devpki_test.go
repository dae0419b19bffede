package pki_test

import (
	"bytes"
	"crypto/tls"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/pki"
)

func TestWriteDevPKI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	now := time.Now()
	clients := []pki.Client{{Account: "admin"}, {Account: "clerk1", Division: "330604"}, {Account: "partner-310101", Division: "310101"}}
	if err := pki.WriteDevPKI(dir, "330604", []string{"localhost", "127.0.0.1"}, clients, now); err != nil {
		t.Fatal(err)
	}
	if clients[0].Division != "" {
		t.Error("WriteDevPKI changed the caller's clients")
	}

	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o700 {
		t.Errorf("folder mode %o, want 0700", perm)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o644)
		if strings.HasSuffix(e.Name(), ".key") {
			want = 0o600
		}
		if perm := info.Mode().Perm(); perm != want {
			t.Errorf("%s: mode %o, want %o", e.Name(), perm, want)
		}
	}
	wantNames := []string{"admin.key", "admin.pem", "ca.key", "ca.pem", "clerk1.key", "clerk1.pem", "node.key", "node.pem", "partner-310101.key", "partner-310101.pem"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("files %q, want %q", names, wantNames)
	}

	read := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	ca := parseCertPEM(t, read("ca.pem"))
	if got, want := ca.NotAfter, now.AddDate(5, 0, 0).Truncate(time.Second); !got.Equal(want) {
		t.Errorf("CA valid until %v, want %v (5 years)", got, want)
	}
	for _, name := range []string{"node.pem", "admin.pem", "clerk1.pem", "partner-310101.pem"} {
		c := parseCertPEM(t, read(name))
		if got, want := c.NotAfter, now.AddDate(1, 0, 0).Truncate(time.Second); !got.Equal(want) {
			t.Errorf("%s valid until %v, want %v (1 year)", name, got, want)
		}
		if !c.NotBefore.Before(now) {
			t.Errorf("%s valid from %v, not before now", name, c.NotBefore)
		}
		if err := c.CheckSignatureFrom(ca); err != nil {
			t.Errorf("%s not signed by ca.pem: %v", name, err)
		}
	}
	for name, want := range map[string]string{"admin.pem": "330604", "clerk1.pem": "330604", "partner-310101.pem": "310101", "node.pem": "330604"} {
		if d, _ := pki.DivisionFromCert(parseCertPEM(t, read(name))); d != want {
			t.Errorf("%s: division %q, want %q", name, d, want)
		}
	}
	if _, err := pki.LoadCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")); err != nil {
		t.Errorf("LoadCA of the written CA: %v", err)
	}

	// The files work together: partner-310101 calls the node over mutual TLS.
	serverCfg, err := pki.ServerConfig(filepath.Join(dir, "node.pem"), filepath.Join(dir, "node.key"), filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	clientCfg, err := pki.ClientConfig(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "partner-310101.pem"), filepath.Join(dir, "partner-310101.key"))
	if err != nil {
		t.Fatal(err)
	}
	clientCfg.ServerName = "127.0.0.1"
	r := handshake(t, serverCfg, clientCfg)
	if r.clientErr != nil || r.serverErr != nil {
		t.Fatalf("handshake: client %v, server %v", r.clientErr, r.serverErr)
	}
	if account, division, ok := pki.PeerIdentity(r.server); account != "partner-310101" || division != "310101" || !ok || r.server.Version != tls.VersionTLS13 {
		t.Errorf("PeerIdentity = %q, %q, %v over %x", account, division, ok, r.server.Version)
	}

	// A second run refuses and leaves the PKI as it was.
	caKey := read("ca.key")
	err = pki.WriteDevPKI(dir, "330604", []string{"localhost"}, nil, now)
	if err == nil || !strings.Contains(err.Error(), "ca.key") || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second WriteDevPKI: error %v, want one saying ca.key already exists", err)
	}
	if !bytes.Equal(read("ca.key"), caKey) {
		t.Error("second WriteDevPKI changed ca.key")
	}
}

func TestWriteDevPKIRefusals(t *testing.T) {
	now := time.Now()
	hosts := []string{"localhost"}
	tests := []struct {
		name     string
		existing string // a file already in the folder
		division string
		hosts    []string
		clients  []pki.Client
		wantIn   string
	}{
		{"existing ca.key", "ca.key", "330604", hosts, nil, "ca.key already exists"},
		{"existing node.key", "node.key", "330604", hosts, nil, "node.key already exists"},
		{"existing client certificate", "clerk1.pem", "330604", hosts, []pki.Client{{Account: "clerk1"}}, "clerk1.pem already exists"},
		{"bad division", "", "3306", hosts, nil, `"3306"`},
		{"bad client division", "", "330604", hosts, []pki.Client{{Account: "clerk1", Division: "x"}}, `"x"`},
		{"no hosts", "", "330604", nil, nil, "host"},
		{"account node", "", "330604", hosts, []pki.Client{{Account: "node"}}, `"node"`},
		{"account twice", "", "330604", hosts, []pki.Client{{Account: "clerk1"}, {Account: "clerk1", Division: "310101"}}, "twice"},
		{"account with a path", "", "330604", hosts, []pki.Client{{Account: "../clerk1"}}, `"../clerk1"`},
		{"account too short", "", "330604", hosts, []pki.Client{{Account: "ab"}}, `"ab"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.existing != "" {
				writeFile(t, filepath.Join(dir, tt.existing), []byte("keep me"))
			}
			err := pki.WriteDevPKI(dir, tt.division, tt.hosts, tt.clients, now)
			if err == nil || !strings.Contains(err.Error(), tt.wantIn) {
				t.Fatalf("error %v, want one mentioning %s", err, tt.wantIn)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 0 && (len(entries) != 1 || entries[0].Name() != tt.existing) {
				t.Errorf("wrote files despite the error: %v", entries)
			}
			if tt.existing != "" {
				if data, _ := os.ReadFile(filepath.Join(dir, tt.existing)); string(data) != "keep me" {
					t.Errorf("%s was overwritten", tt.existing)
				}
			}
		})
	}
}
