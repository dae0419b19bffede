package command

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/internal/atomicfile"
	"github.com/yrd-epermit/epermit/trust"
)

// trustSourceHeader heads every source file permitctl writes.
const trustSourceHeader = `# Trust list source of the Yangtze River Delta federation: the member
# divisions and their issuer keys, unsigned. Change it with 'permitctl trust
# add', 'remove' and 'rotate' (or by hand: comments are not kept), then sign
# it with 'permitctl trust sign', which signs sequence + 1 and writes that
# sequence back here. Times are RFC 3339. See docs/trust.md.
`

// trustSource is the YAML source file of a trust list.
type trustSource struct {
	// Sequence is the sequence of the last list signed from this file.
	Sequence uint64         `yaml:"sequence"`
	Members  []sourceMember `yaml:"members"`
}

// sourceMember is a member in the source file.
type sourceMember struct {
	Division string      `yaml:"division"`
	Name     string      `yaml:"name"`
	Province string      `yaml:"province"`
	Endpoint string      `yaml:"endpoint"`
	Keys     []sourceKey `yaml:"keys"`
}

// sourceKey is an issuer key in the source file. KID and Algorithm are
// written for people to read and checked against the PEM when signing.
type sourceKey struct {
	KID       string    `yaml:"kid"`
	Algorithm string    `yaml:"algorithm"`
	NotBefore time.Time `yaml:"not_before"`
	NotAfter  time.Time `yaml:"not_after"`
	PublicKey string    `yaml:"public_key"`
}

// loadTrustSource reads the source file at path. When it does not exist
// and mayCreate is set, it returns an empty source and created = true.
func loadTrustSource(path string, mayCreate bool) (src *trustSource, created bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && mayCreate {
		return &trustSource{}, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading the trust list source: %w", err)
	}
	src = new(trustSource)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(src); err != nil && !errors.Is(err, io.EOF) {
		return nil, false, fmt.Errorf("trust list source %s: %s", path, yamlProblem(err))
	}
	return src, false, nil
}

// save writes the source to path, replacing it atomically, with mode 0644.
func (s *trustSource) save(path string) error {
	for i := range s.Members {
		for j := range s.Members[i].Keys {
			k := &s.Members[i].Keys[j]
			k.NotBefore, k.NotAfter = k.NotBefore.In(chinaStandardTime), k.NotAfter.In(chinaStandardTime)
		}
	}
	var buf bytes.Buffer
	buf.WriteString(trustSourceHeader)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("writing the trust list source: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("writing the trust list source: %w", err)
	}
	if err := atomicfile.Write(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing the trust list source: %w", err)
	}
	return nil
}

// member returns the index of the member with the division code, or -1.
func (s *trustSource) member(division string) int {
	for i, m := range s.Members {
		if m.Division == division {
			return i
		}
	}
	return -1
}

// owner returns the division listing a key with the kid, or "".
func (s *trustSource) owner(kid string) string {
	for _, m := range s.Members {
		for _, k := range m.Keys {
			if k.KID == kid {
				return m.Division
			}
		}
	}
	return ""
}

// list converts the source to a trust.List with the given sequence and
// times, checking each key's PEM against its kid and algorithm. Sign
// checks the rest.
func (s *trustSource) list(seq uint64, issued, expires time.Time) (*trust.List, error) {
	l := &trust.List{Sequence: seq, IssuedAt: issued, ExpiresAt: expires, Members: make([]trust.Member, len(s.Members))}
	for i, m := range s.Members {
		tm, err := m.member()
		if err != nil {
			return nil, err
		}
		l.Members[i] = tm
	}
	return l, nil
}

// check reports the first rule of the trust list format that m breaks.
func (m sourceMember) check() error {
	tm, err := m.member()
	if err != nil {
		return err
	}
	return trust.CheckMember(tm)
}

// member converts m to a trust.Member, checking each key's PEM against its
// kid and algorithm.
func (m sourceMember) member() (trust.Member, error) {
	tm := trust.Member{Division: m.Division, Name: m.Name, Province: m.Province, Endpoint: m.Endpoint,
		Keys: make([]trust.IssuerKey, len(m.Keys))}
	for j, k := range m.Keys {
		tk, err := k.issuerKey()
		if err != nil {
			return trust.Member{}, fmt.Errorf("member %s, key %d: %w", m.Division, j+1, err)
		}
		tm.Keys[j] = tk
	}
	return tm, nil
}

// issuerKey parses the key's PEM and checks the kid and algorithm written
// beside it.
func (k sourceKey) issuerKey() (trust.IssuerKey, error) {
	pub, err := credential.ParsePublicKeyPEM([]byte(k.PublicKey))
	if err != nil {
		return trust.IssuerKey{}, err
	}
	kid, err := credential.KID(pub)
	if err != nil {
		return trust.IssuerKey{}, err
	}
	if k.KID != "" && k.KID != kid {
		return trust.IssuerKey{}, fmt.Errorf("kid %s does not match the public key, whose key id is %s", k.KID, kid)
	}
	tk := trust.IssuerKey{KID: kid, Algorithm: k.Algorithm, PublicKey: pub, NotBefore: k.NotBefore, NotAfter: k.NotAfter}
	if tk.Algorithm == "" {
		tk.Algorithm = algorithmName(pub)
	}
	return tk, nil
}

// readIssuerKey reads a PEM "PUBLIC KEY" file, as written by 'permitctl key
// export', into a source key valid from notBefore until notAfter.
func readIssuerKey(path string, notBefore, notAfter time.Time) (sourceKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return sourceKey{}, fmt.Errorf("reading --issuer-key: %w", err)
	}
	pub, err := credential.ParsePublicKeyPEM(data)
	if err != nil {
		return sourceKey{}, fmt.Errorf("--issuer-key %s: %w", path, err)
	}
	kid, err := credential.KID(pub)
	if err != nil {
		return sourceKey{}, fmt.Errorf("--issuer-key %s: %w", path, err)
	}
	pemText, err := credential.MarshalPublicKeyPEM(pub)
	if err != nil {
		return sourceKey{}, fmt.Errorf("--issuer-key %s: %w", path, err)
	}
	return sourceKey{KID: kid, Algorithm: algorithmName(pub), NotBefore: notBefore, NotAfter: notAfter, PublicKey: string(pemText)}, nil
}

// algorithmName returns the trust list algorithm of a public key, or "".
func algorithmName(pub crypto.PublicKey) string {
	switch pub.(type) {
	case ed25519.PublicKey:
		return trust.AlgorithmEdDSA
	case *ecdsa.PublicKey:
		return trust.AlgorithmES256
	}
	return ""
}
