package command

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/trust"
)

// Synthetic keys of the trust golden files, from fixed seeds; the P-256
// key is a fixed synthetic public key. None is anyone's real key.
var (
	goldenRegistryKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x52}, ed25519.SeedSize))
	goldenShangyuKey  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x01}, ed25519.SeedSize))
	goldenShangyuNext = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x02}, ed25519.SeedSize))
	goldenKunshanKey  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x03}, ed25519.SeedSize))
)

const goldenPutuoPEM = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEhRDUtObD+4pwM5xU8gpCvC3lewhr
oFs/Nwf8oKZq5rAP4RDJHJ1uogvknG+DKjmrzfdjqkUopjNYWDCcB8bwCQ==
-----END PUBLIC KEY-----
`

// Fixed times of the trust golden files.
var (
	goldenIssued    = time.Date(2026, 6, 1, 9, 0, 0, 0, chinaStandardTime)
	goldenKeyStart  = time.Date(2026, 1, 1, 0, 0, 0, 0, chinaStandardTime)
	goldenKeyEnd    = time.Date(2028, 1, 1, 0, 0, 0, 0, chinaStandardTime)
	goldenRotation  = time.Date(2027, 1, 1, 0, 0, 0, 0, chinaStandardTime)
	goldenCheckedAt = goldenIssued.Add(90 * time.Minute)
)

// goldenSourceKey returns a source key of pub valid in [nbf, naf).
func goldenSourceKey(t *testing.T, pemText string, nbf, naf time.Time) sourceKey {
	t.Helper()
	pub, err := credential.ParsePublicKeyPEM([]byte(pemText))
	if err != nil {
		t.Fatal(err)
	}
	kid, err := credential.KID(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sourceKey{KID: kid, Algorithm: algorithmName(pub), NotBefore: nbf, NotAfter: naf, PublicKey: pemText}
}

func pemOf(t *testing.T, pub any) string {
	t.Helper()
	b, err := credential.MarshalPublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// goldenSource returns the members of the golden files: Shangyu rotating
// to a new key in 2027, Kunshan, and Putuo with a P-256 key.
func goldenSource(t *testing.T) *trustSource {
	t.Helper()
	return &trustSource{Sequence: 6, Members: []sourceMember{
		{Division: "330604", Name: "浙江省绍兴市上虞区", Province: "330000", Endpoint: "permitd.330604.example:7700", Keys: []sourceKey{
			goldenSourceKey(t, pemOf(t, goldenShangyuKey.Public()), goldenKeyStart, goldenRotation.Add(24*time.Hour)),
			goldenSourceKey(t, pemOf(t, goldenShangyuNext.Public()), goldenRotation, goldenRotation.AddDate(2, 0, 0)),
		}},
		{Division: "320583", Name: "昆山市", Province: "320000", Endpoint: "10.20.0.7:7700", Keys: []sourceKey{
			goldenSourceKey(t, pemOf(t, goldenKunshanKey.Public()), goldenKeyStart, goldenKeyEnd),
		}},
		{Division: "310107", Name: "上海市普陀区", Province: "310000", Endpoint: "[2001:db8::7]:7700", Keys: []sourceKey{
			goldenSourceKey(t, goldenPutuoPEM, goldenKeyStart, goldenKeyEnd),
		}},
	}}
}

// goldenList signs the golden source as list 7, valid for 375 days, and
// verifies it.
func goldenList(t *testing.T) (*trust.List, []byte) {
	t.Helper()
	l, err := goldenSource(t).list(7, goldenIssued, goldenIssued.Add(9000*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	data, err := trust.Sign(l, goldenRegistryKey)
	if err != nil {
		t.Fatal(err)
	}
	verified, err := trust.Verify(data, goldenRegistryKey.Public(), goldenCheckedAt)
	if err != nil {
		t.Fatal(err)
	}
	return verified, data
}

func goldenRegistryKID(t *testing.T) string {
	t.Helper()
	kid, err := credential.KID(goldenRegistryKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	return kid
}

// trustPrinterCases are results of the trust commands printed by both
// printers and compared with testdata/trust_<name>.<format>.golden.
func trustPrinterCases(t *testing.T) []struct {
	name  string
	print func(trustPrinter) error
} {
	src := goldenSource(t)
	l, data := goldenList(t)
	shangyu := src.Members[0]
	oneKey := shangyu
	oneKey.Keys = shangyu.Keys[1:]
	return []struct {
		name  string
		print func(trustPrinter) error
	}{
		{"trust_registry", func(p trustPrinter) error {
			return p.TrustRegistry(trustRegistryResult{KeyFile: "registry.key", PublicFile: "registry.pem",
				KID: goldenRegistryKID(t), Algorithm: trust.AlgorithmEdDSA})
		}},
		{"trust_added", func(p trustPrinter) error {
			return p.TrustMember(trustMemberResult{Action: "added", Source: "members.yaml", Created: true,
				Member: memberView(src.Members[1], goldenCheckedAt)})
		}},
		{"trust_rotated", func(p trustPrinter) error {
			return p.TrustMember(trustMemberResult{Action: "rotated", Source: "members.yaml",
				Member: memberView(shangyu, goldenCheckedAt)})
		}},
		{"trust_key_removed", func(p trustPrinter) error {
			return p.TrustMember(trustMemberResult{Action: "key removed", Source: "members.yaml", RemovedKID: shangyu.Keys[0].KID,
				Member: memberView(oneKey, goldenCheckedAt)})
		}},
		{"trust_signed", func(p trustPrinter) error {
			return p.TrustSigned(trustSignedResult{Out: "trustlist.cose", Source: "members.yaml", Sequence: l.Sequence,
				IssuedAt: l.IssuedAt, ExpiresAt: l.ExpiresAt, RegistryKID: goldenRegistryKID(t), Members: 3, Keys: 4, Bytes: len(data)})
		}},
		{"trust_show", func(p trustPrinter) error {
			return p.TrustList(listView(l, goldenRegistryKID(t), "trustlist.cose", goldenCheckedAt))
		}},
		{"trust_show_2027", func(p trustPrinter) error {
			return p.TrustList(listView(l, goldenRegistryKID(t), "trustlist.cose", goldenRotation.Add(time.Hour)))
		}},
	}
}

func TestTrustPrinters(t *testing.T) {
	printers := map[outputFormat]func(out, errOut *bytes.Buffer) trustPrinter{
		outputTable: func(out, errOut *bytes.Buffer) trustPrinter {
			return &tablePrinter{out: out, errOut: errOut, width: fixedWidth}
		},
		outputJSON: func(out, errOut *bytes.Buffer) trustPrinter { return &jsonPrinter{out: out, errOut: errOut} },
	}
	for format, newPrinter := range printers {
		for _, tt := range trustPrinterCases(t) {
			t.Run(tt.name+"."+string(format), func(t *testing.T) {
				var out, errOut bytes.Buffer
				if err := tt.print(newPrinter(&out, &errOut)); err != nil {
					t.Fatal(err)
				}
				if format == outputJSON && !json.Valid(out.Bytes()) {
					t.Errorf("output is not JSON:\n%s", out.String())
				}
				got := out.String()
				if errOut.Len() > 0 {
					got += "--- stderr ---\n" + errOut.String()
				}
				checkGolden(t, filepath.Join("testdata", tt.name+"."+string(format)+".golden"), got)
			})
		}
	}
}
