package node

import (
	"crypto"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/internal/atomicfile"
	"github.com/yrd-epermit/epermit/trust"
)

// newKeyFile is where NewIssuerKey makes a key before it knows its kid; it
// does not match the pattern of the keys loaded.
const newKeyFile = "new-issuer.key.tmp"

// issuerKeys are a node's issuer keys: KeyFile, the first, and every
// issuer-<kid>.key made since for a rotation (NewIssuerKey). A credential
// is signed with the key the trust list names for this division as valid
// when the credential is signed (its iat), the latest such, so a key signs
// nothing before the list that publishes it says it may. Without a trust
// list, or when the list names none of the keys for that time, the first
// key signs.
type issuerKeys struct {
	division string
	trust    *trust.Holder // nil without federation
	first    heldKey
	byKID    map[string]heldKey
}

// heldKey is one private key with its credential signer.
type heldKey struct {
	key    crypto.Signer
	signer *credential.Signer
}

// loadIssuerKeys loads the keys in the data folder, creating the first key
// when there is none.
func loadIssuerKeys(data, division string, tl *trust.Holder) (*issuerKeys, error) {
	k := &issuerKeys{division: division, trust: tl, byKID: map[string]heldKey{}}
	load := func(path string) (heldKey, error) {
		key, err := credential.LoadOrCreateKey(path)
		if err != nil {
			return heldKey{}, fmt.Errorf("issuer key: %w", err)
		}
		s, err := credential.NewSigner(key)
		if err != nil {
			return heldKey{}, fmt.Errorf("issuer key %s: %w", path, err)
		}
		k.byKID[s.KID()] = heldKey{key, s}
		return heldKey{key, s}, nil
	}
	var err error
	if k.first, err = load(filepath.Join(data, KeyFile)); err != nil {
		return nil, err
	}
	more, _ := filepath.Glob(filepath.Join(data, "issuer-*.key"))
	for _, path := range more {
		if _, err := load(path); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// at is the key that signs what is signed at t.
func (k *issuerKeys) at(t time.Time) heldKey {
	var list *trust.List
	if k.trust != nil {
		list = k.trust.Current()
	}
	if list == nil {
		return k.first
	}
	best, found := k.first, false
	var from time.Time
	for _, m := range list.Members {
		if m.Division != k.division {
			continue
		}
		for _, ik := range m.Keys {
			held, ok := k.byKID[ik.KID]
			if ok && !t.Before(ik.NotBefore) && t.Before(ik.NotAfter) && (!found || ik.NotBefore.After(from)) {
				best, found, from = held, true, ik.NotBefore
			}
		}
	}
	return best
}

// SignerAt is the credential signer for a credential signed at t.
func (k *issuerKeys) SignerAt(t time.Time) *credential.Signer { return k.at(t).signer }

// KeyAt is the private key that signs at t (the status list's).
func (k *issuerKeys) KeyAt(t time.Time) crypto.Signer { return k.at(t).key }

// Public is the public key of a held key with this kid.
func (k *issuerKeys) Public(kid string) (crypto.PublicKey, bool) {
	h, ok := k.byKID[kid]
	if !ok {
		return nil, false
	}
	return h.signer.Public(), true
}

// NewIssuerKey makes a new Ed25519 issuer key in the data folder for a
// rotation, as issuer-<kid>.key (mode 0600), with its public key beside it
// as issuer-<kid>.pem for the registry ('permitctl trust rotate'). The node
// signs with it once a trust list it has loaded names it as valid.
func NewIssuerKey(data string) (kid, publicPEM string, err error) {
	tmp := filepath.Join(data, newKeyFile)
	key, err := credential.LoadOrCreateKey(tmp)
	if err != nil {
		return "", "", err
	}
	if kid, err = credential.KID(key.Public()); err != nil {
		return "", "", err
	}
	pem, err := credential.MarshalPublicKeyPEM(key.Public())
	if err != nil {
		return "", "", err
	}
	publicPEM = filepath.Join(data, "issuer-"+kid+".pem")
	if err := atomicfile.Write(publicPEM, pem, 0o644); err != nil {
		return "", "", err
	}
	if err := os.Rename(tmp, filepath.Join(data, "issuer-"+kid+".key")); err != nil {
		return "", "", err
	}
	atomicfile.SyncDir(data)
	return kid, publicPEM, nil
}
