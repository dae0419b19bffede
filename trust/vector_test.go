package trust

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/veraison/go-cose"

	"github.com/yrd-epermit/epermit/credential"
)

var update = flag.Bool("update", false, "rewrite testdata/vector.json")

const vectorPath = "testdata/vector.json"

// vectorP256PEM is a fixed synthetic P-256 public key for the vector.
const vectorP256PEM = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEhRDUtObD+4pwM5xU8gpCvC3lewhr
oFs/Nwf8oKZq5rAP4RDJHJ1uogvknG+DKjmrzfdjqkUopjNYWDCcB8bwCQ==
-----END PUBLIC KEY-----
`

// vector is the worked example of docs/trust.md, for partners writing a
// reader in another language.
type vector struct {
	Comment              string     `json:"comment"`
	RegistryPublicKeyPEM string     `json:"registry_public_key_pem"`
	RegistryKID          string     `json:"registry_kid"`
	RegistrySeedHex      string     `json:"registry_ed25519_seed_hex"`
	VerifyAt             string     `json:"verify_at"`
	ExpiredAt            string     `json:"expired_at"`
	COSEHex              string     `json:"cose_hex"`
	ProtectedHex         string     `json:"protected_hex"`
	PayloadHex           string     `json:"payload_hex"`
	SigStructureHex      string     `json:"sig_structure_hex"`
	List                 vectorList `json:"list"`
}

type vectorList struct {
	Version   int            `json:"version"`
	Sequence  uint64         `json:"sequence"`
	IssuedAt  string         `json:"issued_at"`
	ExpiresAt string         `json:"expires_at"`
	Members   []vectorMember `json:"members"`
}

type vectorMember struct {
	Division string      `json:"division"`
	Name     string      `json:"name"`
	Province string      `json:"province"`
	Endpoint string      `json:"endpoint"`
	Keys     []vectorKey `json:"keys"`
}

type vectorKey struct {
	KID          string `json:"kid"`
	Algorithm    string `json:"alg"`
	PublicKeyPEM string `json:"public_key_pem"`
	NotBefore    string `json:"not_before"`
	NotAfter     string `json:"not_after"`
}

// vectorTrustList returns the list of the vector: two members, one rotating
// from one Ed25519 key to another, the other with a P-256 key.
func vectorTrustList(t *testing.T) *List {
	t.Helper()
	p256, err := credential.ParsePublicKeyPEM([]byte(vectorP256PEM))
	if err != nil {
		t.Fatal(err)
	}
	return &List{
		Sequence:  12,
		IssuedAt:  time.Date(2026, 6, 1, 9, 0, 0, 0, cstZone),
		ExpiresAt: time.Date(2026, 7, 1, 9, 0, 0, 0, cstZone),
		Members: []Member{
			{Division: "330604", Name: "绍兴市上虞区", Province: "330000", Endpoint: "permitd.330604.example:7700",
				Keys: []IssuerKey{
					{PublicKey: shangyuKey.Public(), NotBefore: keyStart, NotAfter: time.Date(2027, 1, 2, 0, 0, 0, 0, cstZone)},
					{PublicKey: shangyuKey2.Public(), NotBefore: time.Date(2027, 1, 1, 0, 0, 0, 0, cstZone), NotAfter: keyEnd},
				}},
			{Division: "310107", Name: "上海市普陀区", Province: "310000", Endpoint: "[2001:db8::7]:7700",
				Keys: []IssuerKey{{PublicKey: p256, NotBefore: keyStart, NotAfter: keyEnd}}},
		},
	}
}

func rfc3339(t time.Time) string { return t.In(cstZone).Format(time.RFC3339) }

// makeVector signs the vector's list and describes it.
func makeVector(t *testing.T) vector {
	t.Helper()
	data := mustSign(t, vectorTrustList(t))
	var msg cose.Sign1Message
	if err := msg.UnmarshalCBOR(data); err != nil {
		t.Fatal(err)
	}
	// The Sig_structure of RFC 9052, section 4.4, that was signed.
	sig, err := payloadEnc.Marshal([]any{"Signature1", msg.Headers.RawProtected, []byte{}, msg.Payload})
	if err != nil {
		t.Fatal(err)
	}
	regPEM, err := credential.MarshalPublicKeyPEM(registryKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	l, err := Verify(data, registryKey.Public(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	v := vector{
		Comment: "Synthetic trust list for docs/trust.md, signed by a test registry key derived from a fixed seed; " +
			"no key in it belongs to anyone. Regenerate with: go test ./trust -run TestVector -update",
		RegistryPublicKeyPEM: string(regPEM),
		RegistryKID:          mustKID(registryKey.Public()),
		RegistrySeedHex:      hex.EncodeToString(registryKey.Seed()),
		VerifyAt:             rfc3339(testNow),
		ExpiredAt:            rfc3339(l.ExpiresAt),
		COSEHex:              hex.EncodeToString(data),
		ProtectedHex:         hex.EncodeToString(msg.Headers.RawProtected),
		PayloadHex:           hex.EncodeToString(msg.Payload),
		SigStructureHex:      hex.EncodeToString(sig),
		List: vectorList{Version: FormatVersion, Sequence: l.Sequence, IssuedAt: rfc3339(l.IssuedAt),
			ExpiresAt: rfc3339(l.ExpiresAt)},
	}
	for _, m := range l.Members {
		vm := vectorMember{Division: m.Division, Name: m.Name, Province: m.Province, Endpoint: m.Endpoint}
		for _, k := range m.Keys {
			p, err := credential.MarshalPublicKeyPEM(k.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			vm.Keys = append(vm.Keys, vectorKey{KID: k.KID, Algorithm: k.Algorithm, PublicKeyPEM: string(p),
				NotBefore: rfc3339(k.NotBefore), NotAfter: rfc3339(k.NotAfter)})
		}
		v.List.Members = append(v.List.Members, vm)
	}
	return v
}

// TestVector checks testdata/vector.json: it is what signing the vector's
// list gives today, and its COSE verifies to its list, is refused at its
// expiry and with a flipped byte.
func TestVector(t *testing.T) {
	want := makeVector(t)
	encoded, err := json.MarshalIndent(want, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	encoded = append(encoded, '\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(vectorPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorPath, encoded, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	onDisk, err := os.ReadFile(vectorPath)
	if err != nil {
		t.Fatalf("%v (run go test ./trust -run TestVector -update)", err)
	}
	if !bytes.Equal(onDisk, encoded) {
		t.Errorf("%s differs from what signing gives now (go test ./trust -run TestVector -update rewrites it)", vectorPath)
	}
	var v vector
	if err := json.Unmarshal(onDisk, &v); err != nil {
		t.Fatal(err)
	}
	data, _ := hex.DecodeString(v.COSEHex)
	pub, err := ParseRegistryPublic([]byte(v.RegistryPublicKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	at, _ := time.Parse(time.RFC3339, v.VerifyAt)
	l, err := Verify(data, pub, at)
	if err != nil {
		t.Fatal(err)
	}
	if l.Sequence != v.List.Sequence || len(l.Members) != len(v.List.Members) {
		t.Errorf("the vector's COSE holds list %d with %d members", l.Sequence, len(l.Members))
	}
	expired, _ := time.Parse(time.RFC3339, v.ExpiredAt)
	if _, err := Verify(data, pub, expired); err == nil {
		t.Error("the vector verifies at its expiry")
	}
	if _, err := Verify(tamper(data, len(data)-10), pub, at); err == nil {
		t.Error("a tampered vector verifies")
	}
}
