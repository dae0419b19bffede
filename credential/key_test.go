package credential

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateKeyCreates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "issuer.pem")
	key, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := key.(ed25519.PrivateKey); !ok {
		t.Fatalf("created a %T", key)
	}
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{path, 0o600}, {dir, 0o700 | os.ModeDir}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != c.mode {
			t.Errorf("%s: mode %v, want %v", c.path, fi.Mode(), c.mode)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %v, want only the key", entries)
	}
	again, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !key.(ed25519.PrivateKey).Equal(again) {
		t.Error("reloading gave another key")
	}
	if _, err := NewSigner(again); err != nil {
		t.Error(err)
	}
}

func TestLoadOrCreateKeyLoadsP256(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	path := writePKCS8(t, key)
	got, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !key.Equal(got) {
		t.Error("loaded another key")
	}
	if s, err := NewSigner(got); err != nil || s.Algorithm() != "ES256" {
		t.Errorf("NewSigner = %v, %v", s, err)
	}
}

func writePKCS8(t *testing.T, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "issuer.pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadOrCreateKeyRejects(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	pkix, err := MarshalPublicKeyPEM(edKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want string
	}{
		{"garbage", writeFile(t, []byte("not a key\n")), "no PEM block"},
		{"empty", writeFile(t, nil), "no PEM block"},
		{"public key", writeFile(t, pkix), `PEM block is "PUBLIC KEY", want "PRIVATE KEY"`},
		{"bad DER", writeFile(t, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}})), "not a PKCS#8 private key"},
		{"P-384", writePKCS8(t, p384), "ECDSA key on P-384, want P-256"},
		{"RSA", writePKCS8(t, rsaKey), "*rsa.PrivateKey key, want Ed25519 or ECDSA P-256"},
		{"a directory", t.TempDir(), "issuer key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := LoadOrCreateKey(tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadOrCreateKey = %T, %v, want an error containing %q", key, err, tt.want)
			}
		})
	}
}

func TestLoadOrCreateKeyUnwritable(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(parent, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(filepath.Join(parent, "issuer.pem")); err == nil {
		t.Error("created a key under a file")
	}
}

func TestPublicKeyPEM(t *testing.T) {
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, pub := range []crypto.PublicKey{testKey(t).Public(), p256.Public()} {
		data, err := MarshalPublicKeyPEM(pub)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(data), "-----BEGIN PUBLIC KEY-----\n") {
			t.Errorf("PEM %s", data)
		}
		got, err := ParsePublicKeyPEM(data)
		if err != nil {
			t.Fatal(err)
		}
		if !got.(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
			t.Errorf("round trip gave %v, want %v", got, pub)
		}
	}
}

func TestPublicKeyPEMRejects(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := MarshalPublicKeyPEM(p384.Public()); err == nil {
		t.Error("marshalled a P-384 key")
	}
	der, err := x509.MarshalPKIXPublicKey(p384.Public())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"garbage", []byte("garbage"), "no PEM block"},
		{"private key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), `PEM block is "PRIVATE KEY"`},
		{"bad DER", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}), "public key"},
		{"P-384", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), "want P-256"},
	}
	for _, tt := range tests {
		if _, err := ParsePublicKeyPEM(tt.data); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

// FuzzParseKeyPEM: the issuer key file and exported public keys are
// outside input. Parsing never panics, and a parsed private key signs and
// verifies.
func FuzzParseKeyPEM(f *testing.F) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	pubDER, _ := x509.MarshalPKIXPublicKey(priv.Public())
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("not pem"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ParsePublicKeyPEM(data)
		key, err := parsePrivateKeyPEM(data)
		if err != nil {
			return
		}
		if _, err := NewSigner(key); err != nil {
			t.Logf("parsed key not usable for signing: %v", err)
		}
	})
}
