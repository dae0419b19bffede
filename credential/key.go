package credential

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/yrd-epermit/epermit/internal/atomicfile"
)

// PEM block types of the key files.
const (
	privateKeyType = "PRIVATE KEY"
	publicKeyType  = "PUBLIC KEY"
)

// LoadOrCreateKey reads the issuer key from path, a PEM "PRIVATE KEY"
// block holding a PKCS#8 Ed25519 or ECDSA P-256 key. When the file does not
// exist it creates a new Ed25519 key there with file mode 0600, creating
// the directory with mode 0700 if it is missing; the file is written to a
// temporary file and renamed into place, so it is never seen half written.
// It refuses, with an error saying why, a file that is not such a key.
func LoadOrCreateKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("credential: issuer key: %w", err)
	}
	key, err := parsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("credential: issuer key %s: %w", path, err)
	}
	return key, nil
}

func parsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if block.Type != privateKeyType {
		return nil, fmt.Errorf("PEM block is %q, want %q (PKCS#8)", block.Type, privateKeyType)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not a PKCS#8 private key: %w", err)
	}
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("ECDSA key on %s, want P-256", k.Curve.Params().Name)
		}
		return k, nil
	}
	return nil, fmt.Errorf("%T key, want Ed25519 or ECDSA P-256", key)
}

func createKey(path string) (crypto.Signer, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("credential: generate issuer key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("credential: encode issuer key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: privateKeyType, Bytes: der})
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("credential: write issuer key: %w", err)
	}
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return nil, fmt.Errorf("credential: write issuer key: %w", err)
	}
	return key, nil
}

// MarshalPublicKeyPEM returns a PEM "PUBLIC KEY" (PKIX) block of an
// ed25519.PublicKey or a *ecdsa.PublicKey on P-256.
func MarshalPublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	if _, err := rawPublicKey(pub); err != nil {
		return nil, fmt.Errorf("credential: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("credential: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: publicKeyType, Bytes: der}), nil
}

// ParsePublicKeyPEM reverses MarshalPublicKeyPEM: it returns the
// ed25519.PublicKey or *ecdsa.PublicKey (P-256) of the first PEM block of
// data, which must be a "PUBLIC KEY".
func ParsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("credential: public key: no PEM block found")
	}
	if block.Type != publicKeyType {
		return nil, fmt.Errorf("credential: public key: PEM block is %q, want %q", block.Type, publicKeyType)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("credential: public key: %w", err)
	}
	if _, err := rawPublicKey(pub); err != nil {
		return nil, fmt.Errorf("credential: public key: %w", err)
	}
	return pub, nil
}
