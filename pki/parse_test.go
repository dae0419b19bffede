package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

func TestParsePrivateKey(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := marshalKey(key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		data   []byte
		wantOK bool
	}{
		{"PKCS #8", pkcs8, true},
		{"SEC 1", encodePEM("EC PRIVATE KEY", sec1), true},
		{"after EC PARAMETERS", append(encodePEM("EC PARAMETERS", []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}), encodePEM("EC PRIVATE KEY", sec1)...), true},
		{"empty", nil, false},
		{"not PEM", []byte("hello"), false},
		{"corrupt PKCS #8", encodePEM("PRIVATE KEY", []byte{0x30, 0x03, 1, 2, 3}), false},
		{"certificate only", encodePEM("CERTIFICATE", []byte{0x30, 0}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePrivateKey(tt.data)
			if (err == nil) != tt.wantOK {
				t.Fatalf("error %v, want ok %v", err, tt.wantOK)
			}
			if tt.wantOK && !key.PublicKey.Equal(got.Public()) {
				t.Error("parsed a different key")
			}
		})
	}
}

// FuzzParsePEM feeds arbitrary bytes to the parsers of the files that
// nodes, clients and LoadCA read: they must fail cleanly, never panic, and
// never return an empty success.
func FuzzParsePEM(f *testing.F) {
	now := time.Now()
	ca, err := NewCA("fuzz CA", now, now.Add(time.Hour))
	if err != nil {
		f.Fatal(err)
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ca.CertPEM(), keyPEM)
	f.Add(keyPEM, ca.CertPEM())
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), []byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte(""), []byte("x"))
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		if certs, err := parseCertificates(certPEM); err == nil && len(certs) == 0 {
			t.Fatal("parseCertificates succeeded with no certificate")
		}
		if key, err := parsePrivateKey(keyPEM); err == nil && key == nil {
			t.Fatal("parsePrivateKey succeeded with no key")
		}
		got, err := parseCA(certPEM, keyPEM, "cert.pem", "cert.key")
		if err != nil {
			if !strings.Contains(err.Error(), "cert.pem") && !strings.Contains(err.Error(), "cert.key") {
				t.Fatalf("error %q names no file", err)
			}
			return
		}
		if got.cert == nil || got.key == nil || !got.cert.IsCA {
			t.Fatal("parseCA succeeded without a CA certificate and key")
		}
	})
}
