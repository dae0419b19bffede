package trust

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRegistryKeyFiles(t *testing.T) {
	dir := t.TempDir()
	keyPath, pubPath := filepath.Join(dir, "registry.key"), filepath.Join(dir, "registry.pem")
	key, err := NewRegistryKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveRegistryKey(keyPath, key); err != nil {
		t.Fatal(err)
	}
	if err := SaveRegistryPublic(pubPath, key.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	for path, mode := range map[string]os.FileMode{keyPath: 0o600, pubPath: 0o644} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got&^mode != 0 || got&0o600 != 0o600 {
			t.Errorf("%s: mode %04o, want %04o", path, got, mode)
		}
	}
	loaded, err := LoadRegistryKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Equal(key) {
		t.Error("loaded another key")
	}
	pub, err := LoadRegistryPublic(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(key.Public()) {
		t.Error("loaded another public key")
	}
	// A list signed with the loaded key verifies with the loaded public key.
	data, err := Sign(testList(1), loaded)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(data, pub, testNow); err != nil {
		t.Error(err)
	}
	// Never overwrite.
	other, _ := NewRegistryKey()
	if err := SaveRegistryKey(keyPath, other); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("SaveRegistryKey over a key = %v", err)
	}
	if err := SaveRegistryPublic(pubPath, other.Public().(ed25519.PublicKey)); err == nil {
		t.Error("SaveRegistryPublic overwrote a file")
	}
	if again, _ := LoadRegistryKey(keyPath); !again.Equal(key) {
		t.Error("the key file changed")
	}
}

func TestLoadRegistryKeyRefuses(t *testing.T) {
	write := func(data []byte, mode os.FileMode) string {
		path := filepath.Join(t.TempDir(), "registry.key")
		if err := os.WriteFile(path, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		return path
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(p256)
	if err != nil {
		t.Fatal(err)
	}
	goodDER, err := x509.MarshalPKCS8PrivateKey(registryKey)
	if err != nil {
		t.Fatal(err)
	}
	good := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: goodDER})
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}})
	tests := []struct {
		name, path, msg string
	}{
		{"missing", filepath.Join(t.TempDir(), "none.key"), "no such file"},
		{"readable by others", write(good, 0o644), "mode 0644 lets others at it; chmod 600 it"},
		{"garbage", write([]byte("not a key"), 0o600), "no PEM block"},
		{"public key", write(pubPEM, 0o600), `PEM block is "PUBLIC KEY"`},
		{"bad DER", write(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2}}), 0o600), "not a PKCS#8"},
		{"P-256", write(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600), "want Ed25519"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadRegistryKey(tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("LoadRegistryKey = %v, want an error saying %q", err, tt.msg)
			}
		})
	}
}

func TestParseRegistryPublicRefuses(t *testing.T) {
	der, err := x509.MarshalPKIXPublicKey(putuoKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseRegistryPublic(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})); err == nil ||
		!strings.Contains(err.Error(), "want Ed25519") {
		t.Errorf("ParseRegistryPublic of a P-256 key = %v", err)
	}
	if _, err := ParseRegistryPublic([]byte("garbage")); err == nil {
		t.Error("ParseRegistryPublic accepted garbage")
	}
}
