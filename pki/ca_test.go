package pki_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/pki"
)

func parseCertPEM(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" || len(strings.TrimSpace(string(rest))) != 0 {
		t.Fatalf("not a single PEM certificate:\n%s", data)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func parseKeyPEM(t *testing.T, data []byte) *ecdsa.PrivateKey {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("not a PEM PKCS #8 key")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		t.Fatalf("key is %T, not ECDSA P-256", key)
	}
	return ec
}

func TestCertificates(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	ca, err := pki.NewCA("test CA", now.Add(-time.Hour), now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	caCert := parseCertPEM(t, ca.CertPEM())
	caKeyPEM, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	caKey := parseKeyPEM(t, caKeyPEM)
	if !caKey.PublicKey.Equal(caCert.PublicKey) {
		t.Error("CA key does not match the CA certificate")
	}
	if !caCert.IsCA || !caCert.BasicConstraintsValid || caCert.MaxPathLen != 0 || !caCert.MaxPathLenZero {
		t.Errorf("CA: IsCA %v, BasicConstraintsValid %v, MaxPathLen %d, MaxPathLenZero %v; want a CA with path length 0",
			caCert.IsCA, caCert.BasicConstraintsValid, caCert.MaxPathLen, caCert.MaxPathLenZero)
	}
	if caCert.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA key usage %b lacks cert sign", caCert.KeyUsage)
	}
	if caCert.Subject.CommonName != "test CA" {
		t.Errorf("CA common name %q", caCert.Subject.CommonName)
	}
	roots := x509.NewCertPool()
	roots.AddCert(caCert)

	nodePEM, nodeKey, err := ca.IssueServer("330604", []string{"localhost", "127.0.0.1", "::1", "permit.shangyu.example"}, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	clerkPEM, clerkKey, err := ca.IssueClient("clerk1", "330604", now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	node, clerk := parseCertPEM(t, nodePEM), parseCertPEM(t, clerkPEM)
	if !parseKeyPEM(t, nodeKey).PublicKey.Equal(node.PublicKey) || !parseKeyPEM(t, clerkKey).PublicKey.Equal(clerk.PublicKey) {
		t.Error("a leaf key does not match its certificate")
	}

	tests := []struct {
		name     string
		cert     *x509.Certificate
		usage    x509.ExtKeyUsage
		wrong    x509.ExtKeyUsage
		cn       string
		dns      []string
		ips      []string
		division string
	}{
		{"node", node, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth, "epermit node 330604",
			[]string{"localhost", "permit.shangyu.example"}, []string{"127.0.0.1", "::1"}, "330604"},
		{"client", clerk, x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth, "clerk1", nil, nil, "330604"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cert
			if c.IsCA {
				t.Error("leaf is a CA")
			}
			if c.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Errorf("key usage %b, want digital signature only", c.KeyUsage)
			}
			if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{tt.usage}) {
				t.Errorf("extended key usage %v, want [%v]", c.ExtKeyUsage, tt.usage)
			}
			if c.Subject.CommonName != tt.cn {
				t.Errorf("common name %q, want %q", c.Subject.CommonName, tt.cn)
			}
			if !slices.Equal(c.DNSNames, tt.dns) {
				t.Errorf("DNS names %q, want %q", c.DNSNames, tt.dns)
			}
			var ips []string
			for _, ip := range c.IPAddresses {
				ips = append(ips, ip.String())
			}
			if !slices.Equal(ips, tt.ips) {
				t.Errorf("IP addresses %q, want %q", ips, tt.ips)
			}
			if d, ok := pki.DivisionFromCert(c); !ok || d != tt.division {
				t.Errorf("DivisionFromCert = %q, %v; want %q", d, ok, tt.division)
			}
			if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() < 64 {
				t.Errorf("serial %v is not a large positive random number", c.SerialNumber)
			}
			if c.SerialNumber.Cmp(caCert.SerialNumber) == 0 {
				t.Error("leaf has the CA's serial")
			}
			if !c.NotBefore.Equal(now) || !c.NotAfter.Equal(now.Add(time.Hour)) {
				t.Errorf("validity %v to %v, want %v to %v", c.NotBefore, c.NotAfter, now, now.Add(time.Hour))
			}
			opts := x509.VerifyOptions{Roots: roots, CurrentTime: now.Add(time.Minute), KeyUsages: []x509.ExtKeyUsage{tt.usage}}
			if _, err := c.Verify(opts); err != nil {
				t.Errorf("does not verify for %v: %v", tt.usage, err)
			}
			opts.KeyUsages = []x509.ExtKeyUsage{tt.wrong}
			if _, err := c.Verify(opts); err == nil {
				t.Errorf("verifies for %v", tt.wrong)
			}
		})
	}
	if node.SerialNumber.Cmp(clerk.SerialNumber) == 0 {
		t.Error("two leaves share a serial")
	}
}

func TestIssueErrors(t *testing.T) {
	now := time.Now()
	ca, err := pki.NewCA("test CA", now.Add(-time.Hour), now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	hour := now.Add(time.Hour)
	tests := []struct {
		name   string
		issue  func() error
		wantIn string
	}{
		{"server: no hosts", func() error {
			_, _, err := ca.IssueServer("330604", nil, now, hour)
			return err
		}, "at least one host"},
		{"server: bad host", func() error {
			_, _, err := ca.IssueServer("330604", []string{"localhost", "bad host"}, now, hour)
			return err
		}, `"bad host"`},
		{"server: bracketed IPv6", func() error {
			_, _, err := ca.IssueServer("330604", []string{"[::1]"}, now, hour)
			return err
		}, `"[::1]"`},
		{"server: bad division", func() error {
			_, _, err := ca.IssueServer("3306", []string{"localhost"}, now, hour)
			return err
		}, `"3306"`},
		{"client: bad division", func() error {
			_, _, err := ca.IssueClient("clerk1", "33060a", now, hour)
			return err
		}, `"33060a"`},
		{"client: empty account", func() error {
			_, _, err := ca.IssueClient("", "330604", now, hour)
			return err
		}, "account"},
		{"client: upper-case account", func() error {
			_, _, err := ca.IssueClient("Clerk1", "330604", now, hour)
			return err
		}, `"Clerk1"`},
		{"client: account with a slash", func() error {
			_, _, err := ca.IssueClient("a/../ca", "330604", now, hour)
			return err
		}, `"a/../ca"`},
		{"ends before it starts", func() error {
			_, _, err := ca.IssueClient("clerk1", "330604", hour, now)
			return err
		}, "before it starts"},
		{"outlives the CA", func() error {
			_, _, err := ca.IssueClient("clerk1", "330604", now, now.AddDate(2, 0, 0))
			return err
		}, "after the CA's"},
		{"CA: no name", func() error {
			_, err := pki.NewCA("", now, hour)
			return err
		}, "common name"},
		{"CA: ends before it starts", func() error {
			_, err := pki.NewCA("x", hour, now)
			return err
		}, "before it starts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.issue()
			if err == nil || !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("error %v, want one mentioning %s", err, tt.wantIn)
			}
		})
	}
}

func TestLoadCA(t *testing.T) {
	p := newTestPKI(t)
	ca, err := pki.LoadCA(p.path("ca.pem"), p.path("ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	certPEM, _, err := ca.IssueClient("admin", "330604", now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(parseCertPEM(t, ca.CertPEM()))
	if _, err := parseCertPEM(t, certPEM).Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("certificate of the loaded CA does not verify: %v", err)
	}

	tests := []struct {
		name, cert, key string
		wantIn          []string
	}{
		{"missing certificate", "none.pem", "ca.key", []string{"none.pem"}},
		{"missing key", "ca.pem", "none.key", []string{"none.key"}},
		{"key of another CA", "ca.pem", "other.key", []string{"other.key", "does not match", "ca.pem"}},
		{"leaf certificate", "node.pem", "node.key", []string{"node.pem", "not a CA"}},
		{"key as certificate", "ca.key", "ca.key", []string{"ca.key", "no PEM CERTIFICATE"}},
		{"certificate as key", "ca.pem", "ca.pem", []string{"ca.pem", "no PEM private key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pki.LoadCA(p.path(tt.cert), filepath.Join(p.dir, tt.key))
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range tt.wantIn {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

// TestServerHosts checks that a node certificate verifies for exactly the
// hosts it was issued for.
func TestServerHosts(t *testing.T) {
	now := time.Now()
	ca, err := pki.NewCA("test CA", now.Add(-time.Hour), now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := ca.IssueServer("330604", []string{"localhost", "127.0.0.1"}, now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cert := parseCertPEM(t, certPEM)
	for host, want := range map[string]bool{"localhost": true, "127.0.0.1": true, "::1": false, "example.org": false, "127.0.0.2": false} {
		if err := cert.VerifyHostname(host); (err == nil) != want {
			t.Errorf("VerifyHostname(%q) = %v, want ok %v", host, err, want)
		}
	}
}
