package pki_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/pki"
)

// testPKI is a set of certificate files in a temporary folder: two CAs
// ("ca" and "other") and leaves issued by them.
type testPKI struct {
	dir string
}

// path returns the path of the PKI's file name, or "" for "".
func (p testPKI) path(name string) string {
	if name == "" {
		return ""
	}
	return filepath.Join(p.dir, name)
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// newTestCA makes a CA valid from a day ago for a year and writes it as
// <name>.pem and <name>.key.
func newTestCA(t *testing.T, dir, name string) *pki.CA {
	t.Helper()
	now := time.Now()
	ca, err := pki.NewCA("test "+name, now.Add(-24*time.Hour), now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	key, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, name+".pem"), ca.CertPEM())
	writeFile(t, filepath.Join(dir, name+".key"), key)
	return ca
}

func writePair(t *testing.T, dir, name string, cert, key []byte, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, name+".pem"), cert)
	writeFile(t, filepath.Join(dir, name+".key"), key)
}

// newTestPKI writes:
//
//	ca, other     two unrelated CAs
//	node          node 330604 for localhost and 127.0.0.1, from ca
//	othernode     the same, from other
//	clerk1        client clerk1 of 330604, from ca
//	partner       client partner-310101 of 310101, from ca
//	stranger      client clerk1 of 330604, from other
//	expired       client clerk1 of 330604, from ca, expired an hour ago
func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	ca := newTestCA(t, dir, "ca")
	other := newTestCA(t, dir, "other")
	hosts := []string{"localhost", "127.0.0.1"}
	end := now.Add(time.Hour)
	c, k, err := ca.IssueServer("330604", hosts, now.Add(-time.Minute), end)
	writePair(t, dir, "node", c, k, err)
	c, k, err = other.IssueServer("330604", hosts, now.Add(-time.Minute), end)
	writePair(t, dir, "othernode", c, k, err)
	c, k, err = ca.IssueClient("clerk1", "330604", now.Add(-time.Minute), end)
	writePair(t, dir, "clerk1", c, k, err)
	c, k, err = ca.IssueClient("partner-310101", "310101", now.Add(-time.Minute), end)
	writePair(t, dir, "partner", c, k, err)
	c, k, err = other.IssueClient("clerk1", "330604", now.Add(-time.Minute), end)
	writePair(t, dir, "stranger", c, k, err)
	c, k, err = ca.IssueClient("clerk1", "330604", now.Add(-2*time.Hour), now.Add(-time.Hour))
	writePair(t, dir, "expired", c, k, err)
	return testPKI{dir: dir}
}

// handshake result seen by both ends.
type result struct {
	clientErr, serverErr error
	server               tls.ConnectionState // the server's view of the client
}

// handshake runs one TLS connection over loopback between a server using
// serverCfg and a client using clientCfg, and returns what each side saw.
// The server writes one byte after its handshake and the client reads it,
// so that a client certificate refused after the client's TLS 1.3
// handshake completes still shows as a client error.
func handshake(t *testing.T, serverCfg, clientCfg *tls.Config) result {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type served struct {
		err error
		cs  tls.ConnectionState
	}
	done := make(chan served, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- served{err: err}
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		tc := conn.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			done <- served{err: err}
			return
		}
		_, err = tc.Write([]byte{1})
		done <- served{err: err, cs: tc.ConnectionState()}
	}()

	var r result
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(), clientCfg)
	if err == nil {
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadFull(conn, make([]byte, 1))
		conn.Close()
	}
	r.clientErr = err
	s := <-done
	r.serverErr, r.server = s.err, s.cs
	return r
}

func TestHandshake(t *testing.T) {
	p := newTestPKI(t)
	tests := []struct {
		name string
		// server side
		serverCert, clientCA string
		// client side
		ca, clientCert string
		serverName     string
		maxVersion     uint16

		wantClientErr, wantServerErr bool
		wantVersion                  uint16
		wantAccount, wantDivision    string
		wantIdentity                 bool
	}{
		{
			name:       "mutual TLS, clerk of the same CA",
			serverCert: "node", clientCA: "ca.pem", ca: "ca.pem", clientCert: "clerk1",
			wantVersion: tls.VersionTLS13, wantIdentity: true, wantAccount: "clerk1", wantDivision: "330604",
		},
		{
			name:       "mutual TLS, partner of another division",
			serverCert: "node", clientCA: "ca.pem", ca: "ca.pem", clientCert: "partner",
			wantVersion: tls.VersionTLS13, wantIdentity: true, wantAccount: "partner-310101", wantDivision: "310101",
		},
		{
			name:       "mutual TLS over TLS 1.2",
			serverCert: "node", clientCA: "ca.pem", ca: "ca.pem", clientCert: "clerk1", maxVersion: tls.VersionTLS12,
			wantVersion: tls.VersionTLS12, wantIdentity: true, wantAccount: "clerk1", wantDivision: "330604",
		},
		{
			name:       "server by IP address",
			serverCert: "node", clientCA: "ca.pem", ca: "ca.pem", clientCert: "clerk1", serverName: "127.0.0.1",
			wantVersion: tls.VersionTLS13, wantIdentity: true, wantAccount: "clerk1", wantDivision: "330604",
		},
		{
			name:       "TLS without client CA: no identity",
			serverCert: "node", ca: "ca.pem", clientCert: "clerk1",
			wantVersion: tls.VersionTLS13,
		},
		{
			name:       "no client certificate refused",
			serverCert: "node", clientCA: "ca.pem", ca: "ca.pem",
			wantClientErr: true, wantServerErr: true,
		},
		{
			name:       "client certificate of another CA refused",
			serverCert: "node", clientCA: "ca.pem", ca: "ca.pem", clientCert: "stranger",
			wantClientErr: true, wantServerErr: true,
		},
		{
			name:       "expired client certificate refused",
			serverCert: "node", clientCA: "ca.pem", ca: "ca.pem", clientCert: "expired",
			wantClientErr: true, wantServerErr: true,
		},
		{
			name:       "node certificate as client certificate refused",
			serverCert: "node", clientCA: "ca.pem", ca: "ca.pem", clientCert: "node",
			wantClientErr: true, wantServerErr: true,
		},
		{
			name:       "server certificate for another host refused",
			serverCert: "node", clientCA: "ca.pem", ca: "ca.pem", clientCert: "clerk1", serverName: "permit.example.org",
			wantClientErr: true, wantServerErr: true,
		},
		{
			name:       "server certificate of another CA refused",
			serverCert: "othernode", clientCA: "ca.pem", ca: "ca.pem", clientCert: "clerk1",
			wantClientErr: true, wantServerErr: true,
		},
		{
			name:       "TLS 1.1 refused",
			serverCert: "node", ca: "ca.pem", maxVersion: tls.VersionTLS11,
			wantClientErr: true, wantServerErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			serverCfg, err := pki.ServerConfig(p.path(tt.serverCert+".pem"), p.path(tt.serverCert+".key"), p.path(tt.clientCA))
			if err != nil {
				t.Fatalf("ServerConfig: %v", err)
			}
			var certFile, keyFile string
			if tt.clientCert != "" {
				certFile, keyFile = p.path(tt.clientCert+".pem"), p.path(tt.clientCert+".key")
			}
			clientCfg, err := pki.ClientConfig(p.path(tt.ca), certFile, keyFile)
			if err != nil {
				t.Fatalf("ClientConfig: %v", err)
			}
			clientCfg.ServerName = "localhost"
			if tt.serverName != "" {
				clientCfg.ServerName = tt.serverName
			}
			if tt.maxVersion != 0 {
				clientCfg.MaxVersion = tt.maxVersion
				if tt.maxVersion < tls.VersionTLS12 {
					clientCfg.MinVersion = tls.VersionTLS10
				}
			}

			r := handshake(t, serverCfg, clientCfg)
			if (r.clientErr != nil) != tt.wantClientErr {
				t.Errorf("client error = %v, want error %v", r.clientErr, tt.wantClientErr)
			}
			if (r.serverErr != nil) != tt.wantServerErr {
				t.Errorf("server error = %v, want error %v", r.serverErr, tt.wantServerErr)
			}
			if tt.wantServerErr {
				return
			}
			if r.server.Version != tt.wantVersion {
				t.Errorf("version = %x, want %x", r.server.Version, tt.wantVersion)
			}
			account, division, ok := pki.PeerIdentity(r.server)
			if account != tt.wantAccount || division != tt.wantDivision || ok != tt.wantIdentity {
				t.Errorf("PeerIdentity = %q, %q, %v; want %q, %q, %v", account, division, ok, tt.wantAccount, tt.wantDivision, tt.wantIdentity)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	p := newTestPKI(t)
	writeFile(t, p.path("garbage.pem"), []byte("not a certificate\n"))
	writeFile(t, p.path("truncated.pem"), []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	tests := []struct {
		name          string
		server        bool
		cert, key, ca string
		wantIn        []string // substrings of the error
	}{
		{"missing node certificate", true, "missing.pem", "node.key", "", []string{"missing.pem"}},
		{"missing node key", true, "node.pem", "missing.key", "", []string{"missing.key"}},
		{"malformed node certificate", true, "garbage.pem", "node.key", "", []string{"garbage.pem", "no PEM CERTIFICATE"}},
		{"truncated node certificate", true, "truncated.pem", "node.key", "", []string{"truncated.pem", "block 1"}},
		{"key as certificate", true, "node.key", "node.key", "", []string{"node.key"}},
		{"certificate as key", true, "node.pem", "node.pem", "", []string{"node.pem", "private key"}},
		{"key of another certificate", true, "node.pem", "clerk1.key", "", []string{"node.pem", "clerk1.key"}},
		{"missing client CA", true, "node.pem", "node.key", "missing-ca.pem", []string{"client CA", "missing-ca.pem"}},
		{"malformed client CA", true, "node.pem", "node.key", "garbage.pem", []string{"client CA", "garbage.pem"}},
		{"leaf as client CA", true, "node.pem", "node.key", "node.pem", []string{"node.pem", "not a CA certificate"}},
		{"client: missing CA", false, "clerk1.pem", "clerk1.key", "missing-ca.pem", []string{"missing-ca.pem"}},
		{"client: leaf as CA", false, "clerk1.pem", "clerk1.key", "clerk1.pem", []string{"clerk1.pem", "not a CA certificate"}},
		{"client: certificate without key", false, "clerk1.pem", "", "ca.pem", []string{"both"}},
		{"client: mismatched pair", false, "clerk1.pem", "partner.key", "ca.pem", []string{"clerk1.pem", "partner.key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.server {
				_, err = pki.ServerConfig(p.path(tt.cert), p.path(tt.key), p.path(tt.ca))
			} else {
				_, err = pki.ClientConfig(p.path(tt.ca), p.path(tt.cert), p.path(tt.key))
			}
			if err == nil {
				t.Fatal("no error")
			}
			t.Logf("error: %v", err)
			for _, s := range tt.wantIn {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestServerConfig(t *testing.T) {
	p := newTestPKI(t)
	cfg, err := pki.ServerConfig(p.path("node.pem"), p.path("node.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 || cfg.ClientAuth != tls.NoClientCert || cfg.ClientCAs != nil {
		t.Errorf("without client CA: MinVersion %x, ClientAuth %v, ClientCAs %v", cfg.MinVersion, cfg.ClientAuth, cfg.ClientCAs)
	}
	cfg, err = pki.ServerConfig(p.path("node.pem"), p.path("node.key"), p.path("ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClientAuth != tls.RequireAndVerifyClientCert || cfg.ClientCAs == nil {
		t.Errorf("with client CA: ClientAuth %v, ClientCAs %v", cfg.ClientAuth, cfg.ClientCAs)
	}
	var pathErr *os.PathError
	if _, err := pki.ServerConfig(p.path("none.pem"), p.path("node.key"), ""); !errors.As(err, &pathErr) {
		t.Errorf("missing file: error %v does not wrap *os.PathError", err)
	}
}
