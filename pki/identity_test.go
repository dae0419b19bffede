package pki_test

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"testing"

	"github.com/yrd-epermit/epermit/pki"
)

func TestDivisionURI(t *testing.T) {
	if got, want := pki.DivisionURI("330604").String(), "urn:epermit:division:330604"; got != want {
		t.Errorf("DivisionURI = %q, want %q", got, want)
	}
}

// certWithURIs returns a certificate holding the URIs, each parsed as
// crypto/x509 parses a URI name.
func certWithURIs(t testing.TB, uris ...string) *x509.Certificate {
	t.Helper()
	cert := &x509.Certificate{}
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("url.Parse(%q): %v", s, err)
		}
		cert.URIs = append(cert.URIs, u)
	}
	return cert
}

func TestDivisionFromCert(t *testing.T) {
	tests := []struct {
		name   string
		uris   []string
		want   string
		wantOK bool
	}{
		{"one division", []string{"urn:epermit:division:330604"}, "330604", true},
		{"upper-case scheme", []string{"URN:epermit:division:310101"}, "310101", true},
		{"other URIs ignored", []string{"spiffe://yrd/node", "urn:epermit:division:330604", "urn:example:x"}, "330604", true},
		{"no URI", nil, "", false},
		{"only other URIs", []string{"https://permit.example.org/", "urn:epermit:account:clerk1"}, "", false},
		{"two divisions", []string{"urn:epermit:division:330604", "urn:epermit:division:310101"}, "", false},
		{"same division twice", []string{"urn:epermit:division:330604", "urn:epermit:division:330604"}, "", false},
		{"five digits", []string{"urn:epermit:division:33060"}, "", false},
		{"seven digits", []string{"urn:epermit:division:3306040"}, "", false},
		{"letters", []string{"urn:epermit:division:33060x"}, "", false},
		{"empty code", []string{"urn:epermit:division:"}, "", false},
		{"escaped digit", []string{"urn:epermit:division:33060%34"}, "", false},
		{"query", []string{"urn:epermit:division:330604?x=1"}, "", false},
		{"empty query", []string{"urn:epermit:division:330604?"}, "", false},
		{"fragment", []string{"urn:epermit:division:330604#x"}, "", false},
		{"odd case", []string{"urn:ePermit:Division:330604"}, "", false},
		{"odd case beside a good one", []string{"urn:epermit:division:330604", "urn:EPERMIT:division:310101"}, "", false},
		{"full-width digits", []string{"urn:epermit:division:３３０６０４"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := pki.DivisionFromCert(certWithURIs(t, tt.uris...))
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("DivisionFromCert(%q) = %q, %v; want %q, %v", tt.uris, got, ok, tt.want, tt.wantOK)
			}
		})
	}
	if got, ok := pki.DivisionFromCert(nil); got != "" || ok {
		t.Errorf("DivisionFromCert(nil) = %q, %v", got, ok)
	}
}

func TestPeerIdentity(t *testing.T) {
	leaf := func(cn string, uris ...string) *x509.Certificate {
		c := certWithURIs(t, uris...)
		c.Subject = pkix.Name{CommonName: cn}
		return c
	}
	issuer := &x509.Certificate{Subject: pkix.Name{CommonName: "test CA"}, IsCA: true}
	div := "urn:epermit:division:330604"
	tests := []struct {
		name                 string
		chains               [][]*x509.Certificate
		wantAccount, wantDiv string
		wantOK               bool
	}{
		{"verified client", [][]*x509.Certificate{{leaf("clerk1", div), issuer}}, "clerk1", "330604", true},
		{"first chain wins", [][]*x509.Certificate{{leaf("clerk1", div), issuer}, {leaf("admin", div)}}, "clerk1", "330604", true},
		{"no verified chain", nil, "", "", false},
		{"empty chain", [][]*x509.Certificate{{}}, "", "", false},
		{"no division", [][]*x509.Certificate{{leaf("clerk1"), issuer}}, "", "", false},
		{"malformed division", [][]*x509.Certificate{{leaf("clerk1", "urn:epermit:division:3306"), issuer}}, "", "", false},
		{"empty common name", [][]*x509.Certificate{{leaf("", div), issuer}}, "", "", false},
		{"common name not an account", [][]*x509.Certificate{{leaf("Clerk One", div), issuer}}, "", "", false},
		{"node certificate", [][]*x509.Certificate{{leaf("epermit node 330604", div), issuer}}, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			account, division, ok := pki.PeerIdentity(tls.ConnectionState{VerifiedChains: tt.chains})
			if account != tt.wantAccount || division != tt.wantDiv || ok != tt.wantOK {
				t.Errorf("PeerIdentity = %q, %q, %v; want %q, %q, %v", account, division, ok, tt.wantAccount, tt.wantDiv, tt.wantOK)
			}
		})
	}
	// Unverified peer certificates never count.
	cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf("clerk1", div)}}
	if _, _, ok := pki.PeerIdentity(cs); ok {
		t.Error("PeerIdentity accepted an unverified peer certificate")
	}
}

// FuzzDivisionFromCert checks that whatever URI a certificate carries,
// DivisionFromCert either refuses it or returns a six-digit code whose
// DivisionURI is that very URI.
func FuzzDivisionFromCert(f *testing.F) {
	for _, s := range []string{
		"urn:epermit:division:330604",
		"URN:epermit:division:310101",
		"urn:epermit:division:33060",
		"urn:epermit:division:330604?",
		"urn:epermit:division:330604#frag",
		"urn:epermit:Division:330604",
		"spiffe://yrd/node",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.Parse(s)
		if err != nil {
			return
		}
		code, ok := pki.DivisionFromCert(&x509.Certificate{URIs: []*url.URL{u}})
		if !ok {
			if code != "" {
				t.Fatalf("refused %q but returned code %q", s, code)
			}
			return
		}
		if len(code) != 6 {
			t.Fatalf("%q gave code %q, not six digits", s, code)
		}
		for _, c := range code {
			if c < '0' || c > '9' {
				t.Fatalf("%q gave code %q, not six digits", s, code)
			}
		}
		if got := pki.DivisionURI(code).String(); got != u.String() {
			t.Fatalf("%q gave code %q, whose URI %q differs from %q", s, code, got, u.String())
		}
	})
}
