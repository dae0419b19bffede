package trust

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"

	"github.com/yrd-epermit/epermit/credential"
)

// Synthetic test keys, derived from fixed seeds so that signed lists are
// the same on every run. None is anyone's real key.
var (
	registryKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x52}, ed25519.SeedSize)) // 'R'
	otherKey    = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x4f}, ed25519.SeedSize)) // 'O'
	shangyuKey  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x01}, ed25519.SeedSize))
	shangyuKey2 = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x02}, ed25519.SeedSize))
	kunshanKey  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x03}, ed25519.SeedSize))
	putuoKey    = mustP256()
)

func mustP256() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

// cstZone is China Standard Time.
var cstZone = time.FixedZone("CST", 8*60*60)

// Fixed times of the test list.
var (
	issuedAt  = time.Date(2026, 6, 1, 9, 0, 0, 0, cstZone)
	expiresAt = issuedAt.Add(30 * 24 * time.Hour)
	testNow   = issuedAt.Add(time.Hour)
	keyStart  = time.Date(2026, 1, 1, 0, 0, 0, 0, cstZone)
	keyEnd    = time.Date(2028, 1, 1, 0, 0, 0, 0, cstZone)
)

func mustKID(pub crypto.PublicKey) string {
	kid, err := credential.KID(pub)
	if err != nil {
		panic(err)
	}
	return kid
}

// testList returns a list of three members: Shangyu with two Ed25519 keys
// (the second starting in 2027), Kunshan with one, Putuo with a P-256 key.
func testList(seq uint64) *List {
	return &List{
		Sequence:  seq,
		IssuedAt:  issuedAt,
		ExpiresAt: expiresAt,
		Members: []Member{
			{Division: "330604", Name: "绍兴市上虞区", Province: "330000", Endpoint: "permitd.330604.example:7700",
				Keys: []IssuerKey{
					{KID: mustKID(shangyuKey.Public()), Algorithm: AlgorithmEdDSA, PublicKey: shangyuKey.Public(),
						NotBefore: keyStart, NotAfter: time.Date(2027, 1, 2, 0, 0, 0, 0, cstZone)},
					{PublicKey: shangyuKey2.Public(), NotBefore: time.Date(2027, 1, 1, 0, 0, 0, 0, cstZone), NotAfter: keyEnd},
				}},
			{Division: "320583", Name: "苏州市昆山市", Province: "320000", Endpoint: "10.0.0.7:7700",
				Keys: []IssuerKey{{PublicKey: kunshanKey.Public(), NotBefore: keyStart, NotAfter: keyEnd}}},
			{Division: "310107", Name: "上海市普陀区", Province: "310000", Endpoint: "[2001:db8::7]:7700",
				Keys: []IssuerKey{{PublicKey: putuoKey.Public(), NotBefore: keyStart, NotAfter: keyEnd}}},
		},
	}
}

// mustSign signs l with the registry key.
func mustSign(t testing.TB, l *List) []byte {
	t.Helper()
	data, err := Sign(l, registryKey)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// wireOf returns the CBOR form of a valid test list, for tests to break.
func wireOf(t testing.TB, l *List) *wireList {
	t.Helper()
	n, err := l.normalize()
	if err != nil {
		t.Fatal(err)
	}
	payload, err := encodePayload(n)
	if err != nil {
		t.Fatal(err)
	}
	var w wireList
	if err := payloadDec.Unmarshal(payload, &w); err != nil {
		t.Fatal(err)
	}
	return &w
}

// signRaw signs any payload with key, as Sign would, with no checks: for
// lists that Sign refuses to make.
func signRaw(t testing.TB, payload any, key ed25519.PrivateKey) []byte {
	t.Helper()
	raw, ok := payload.([]byte)
	if !ok {
		var err error
		if raw, err = payloadEnc.Marshal(payload); err != nil {
			t.Fatal(err)
		}
	}
	return signCOSE(t, raw, key, cose.AlgorithmEdDSA, mustKID(key.Public()))
}

// signCOSE signs raw as a COSE_Sign1 with the given protected alg and kid.
func signCOSE(t testing.TB, raw []byte, key crypto.Signer, alg cose.Algorithm, kid string) []byte {
	t.Helper()
	signer, err := cose.NewSigner(alg, key)
	if err != nil {
		t.Fatal(err)
	}
	protected := cose.ProtectedHeader{cose.HeaderLabelAlgorithm: alg}
	if kid != "" {
		rawKID, _ := hex.DecodeString(kid)
		protected[cose.HeaderLabelKeyID] = rawKID
	}
	msg := cose.Sign1Message{Headers: cose.Headers{Protected: protected}, Payload: raw}
	if err := msg.Sign(rand.Reader, nil, signer); err != nil {
		t.Fatal(err)
	}
	out, err := msg.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mustCBOR encodes v deterministically.
func mustCBOR(t testing.TB, v any) []byte {
	t.Helper()
	b, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		t.Fatal(err)
	}
	out, err := b.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
