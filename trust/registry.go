package trust

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/yrd-epermit/epermit/credential"
)

// privateKeyType is the PEM block type of the registry key file.
const privateKeyType = "PRIVATE KEY"

// NewRegistryKey returns a new Ed25519 registry key.
func NewRegistryKey() (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("trust: generate registry key: %w", err)
	}
	return key, nil
}

// SaveRegistryKey writes key to a new file at path as a PEM "PRIVATE KEY"
// block (PKCS#8), with mode 0600. It never overwrites: an existing file is
// an error.
func SaveRegistryKey(path string, key ed25519.PrivateKey) error {
	if len(key) != ed25519.PrivateKeySize {
		return errors.New("trust: registry key: not an Ed25519 private key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("trust: registry key: %w", err)
	}
	if err := writeNewFile(path, pem.EncodeToMemory(&pem.Block{Type: privateKeyType, Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("trust: registry key: %w", err)
	}
	return nil
}

// LoadRegistryKey reads the registry key written by SaveRegistryKey. It
// refuses a file that group or others may read or write (chmod 600 it), and
// anything but an Ed25519 key.
func LoadRegistryKey(path string) (ed25519.PrivateKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("trust: registry key: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("trust: registry key %s: mode %04o lets others at it; chmod 600 it", path, perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trust: registry key: %w", err)
	}
	block, _ := pem.Decode(data)
	switch {
	case block == nil:
		return nil, fmt.Errorf("trust: registry key %s: no PEM block found", path)
	case block.Type != privateKeyType:
		return nil, fmt.Errorf("trust: registry key %s: PEM block is %q, want %q (PKCS#8)", path, block.Type, privateKeyType)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("trust: registry key %s: not a PKCS#8 private key: %w", path, err)
	}
	k, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("trust: registry key %s: %T key, want Ed25519", path, key)
	}
	return k, nil
}

// SaveRegistryPublic writes pub to a new file at path as a PEM "PUBLIC
// KEY" block, with mode 0644. It never overwrites: an existing file is an
// error.
func SaveRegistryPublic(path string, pub ed25519.PublicKey) error {
	data, err := credential.MarshalPublicKeyPEM(pub)
	if err != nil {
		return fmt.Errorf("trust: registry public key: %w", err)
	}
	if err := writeNewFile(path, data, 0o644); err != nil {
		return fmt.Errorf("trust: registry public key: %w", err)
	}
	return nil
}

// LoadRegistryPublic reads the registry's public key, a PEM "PUBLIC KEY"
// block of an Ed25519 key, from path.
func LoadRegistryPublic(path string) (ed25519.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trust: registry public key: %w", err)
	}
	pub, err := ParseRegistryPublic(data)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return pub, nil
}

// ParseRegistryPublic parses the registry's public key from PEM.
func ParseRegistryPublic(data []byte) (ed25519.PublicKey, error) {
	pub, err := credential.ParsePublicKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("trust: registry public key: %w", err)
	}
	k, ok := pub.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("trust: registry public key: %T, want Ed25519", pub)
	}
	return k, nil
}

// writeNewFile creates path with mode perm and writes data to it; it fails
// if path exists. A failed write removes the partial file.
func writeNewFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}
