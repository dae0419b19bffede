package credential

import (
	"bytes"
	"compress/zlib"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

var cstZone = time.FixedZone("CST", 8*60*60)

// testSeed is the secret key of RFC 8032, section 7.1, TEST 1: a published
// test key, never an issuer's.
const testSeed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"

func testKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	seed, err := hex.DecodeString(testSeed)
	if err != nil {
		t.Fatal(err)
	}
	return ed25519.NewKeyFromSeed(seed)
}

// testClaims are the synthetic claims of the test vector.
func testClaims() Claims {
	signed := time.Date(2026, 3, 15, 10, 30, 0, 0, cstZone)
	return Claims{
		Issuer:    "330604",
		PermitID:  "330604-TESTVECTOR01H",
		IssuedAt:  signed,
		NotBefore: signed,
		Expiry:    time.Date(2027, 3, 1, 0, 0, 0, 0, cstZone),
		Permit: PermitClaims{
			HolderName:         "测试者甲",
			MaskedCitizenID:    "330602********123X",
			ResidenceStartDate: "2023-03-01",
			ResidenceYears:     3,
			ResidenceMonths:    18,
			NextEndorsementDue: "2027-03-01",
			ValidUntil:         "2031-03-14",
		},
	}
}

// testVerifyAt lies inside the window of testClaims.
var testVerifyAt = time.Date(2026, 6, 1, 9, 0, 0, 0, cstZone)

func newSigner(t testing.TB, key crypto.Signer) *Signer {
	t.Helper()
	s, err := NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sign(t testing.TB, s *Signer, c Claims) string {
	t.Helper()
	text, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// trust returns a resolver that knows exactly the given signers' keys, each
// under its own kid and the issuer.
func trust(issuer string, signers ...*Signer) KeyResolver {
	return KeyResolverFunc(func(iss, kid string) (crypto.PublicKey, bool) {
		for _, s := range signers {
			if iss == issuer && kid == s.KID() {
				return s.Public(), true
			}
		}
		return nil, false
	})
}

// always returns a resolver that gives pub for any issuer and kid.
func always(pub crypto.PublicKey) KeyResolver {
	return KeyResolverFunc(func(string, string) (crypto.PublicKey, bool) { return pub, true })
}

// unpack returns the COSE bytes of a credential text.
func unpack(t testing.TB, text string) []byte {
	t.Helper()
	d := decoders.Get().(*decoder)
	defer decoders.Put(d)
	raw, err := d.inflate(text)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(raw)
}

// pack is the reverse of unpack: it compresses any bytes into a text.
func pack(raw []byte) string {
	return Prefix + string(appendBase45(nil, compress(raw)))
}

func compress(raw []byte) []byte {
	var b bytes.Buffer
	w, _ := zlib.NewWriterLevel(&b, zlib.BestSpeed)
	w.Write(raw)
	w.Close()
	return b.Bytes()
}

// craft builds a COSE_Sign1 by hand with any protected header and payload,
// signed with an Ed25519 key whatever alg says, bypassing Sign's and
// go-cose's checks.
func craft(t testing.TB, key ed25519.PrivateKey, protected map[int]any, payload []byte) string {
	t.Helper()
	prot, err := cbor.Marshal(protected)
	if err != nil {
		t.Fatal(err)
	}
	tbs, err := cbor.Marshal([]any{"Signature1", prot, []byte{}, payload})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := cbor.Marshal(cbor.Tag{Number: 18, Content: []any{prot, map[int]any{}, payload, ed25519.Sign(key, tbs)}})
	if err != nil {
		t.Fatal(err)
	}
	return pack(raw)
}

// wirePayload returns the CBOR payload of testClaims after edit.
func wirePayload(t testing.TB, edit func(w *cwtClaims)) []byte {
	t.Helper()
	c := testClaims()
	raw, err := c.marshal()
	if err != nil {
		t.Fatal(err)
	}
	var w cwtClaims
	if err := payloadDec.Unmarshal(raw, &w); err != nil {
		t.Fatal(err)
	}
	edit(&w)
	raw, err = payloadEnc.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func ptr[T any](v T) *T { return &v }

func TestRoundTrip(t *testing.T) {
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		key     crypto.Signer
		alg     string
		edit    func(*Claims)
		wantLen int // upper bound on the text length
	}{
		{"Ed25519", testKey(t), "EdDSA", func(*Claims) {}, 400},
		{"ES256", p256, "ES256", func(*Claims) {}, 400},
		{"no valid-until, no recognised months", testKey(t), "EdDSA", func(c *Claims) {
			c.Permit.ValidUntil = ""
			c.Permit.ResidenceMonths = 0
		}, 400},
		{"sub-second and non-UTC times", testKey(t), "EdDSA", func(c *Claims) {
			c.IssuedAt = c.IssuedAt.Add(999 * time.Millisecond)
			c.NotBefore = c.NotBefore.Add(time.Nanosecond).In(time.Local)
		}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSigner(t, tt.key)
			if s.Algorithm() != tt.alg {
				t.Errorf("Algorithm() = %q, want %q", s.Algorithm(), tt.alg)
			}
			c := testClaims()
			tt.edit(&c)
			text := sign(t, s, c)
			if !strings.HasPrefix(text, Prefix) || len(text) > tt.wantLen {
				t.Errorf("text of %d characters: %s", len(text), text)
			}
			want := c
			for _, tm := range []*time.Time{&want.IssuedAt, &want.NotBefore, &want.Expiry} {
				*tm = tm.Truncate(time.Second).UTC()
			}
			got, kid, err := Decode(text)
			if err != nil {
				t.Fatal(err)
			}
			if *got != want || kid != s.KID() {
				t.Errorf("Decode = %+v, %s\nwant %+v, %s", *got, kid, want, s.KID())
			}
			res := Verify(text, trust(c.Issuer, s), testVerifyAt)
			if !res.Valid() || res.KID != s.KID() || *res.Claims != want {
				t.Errorf("Verify = %+v", res)
			}
			for _, f := range res.Findings {
				if f.Detail == "" {
					t.Errorf("finding %v has no detail", f.Check)
				}
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	key := testKey(t)
	a, b := newSigner(t, key), newSigner(t, key)
	first := sign(t, a, testClaims())
	for _, s := range []*Signer{a, b} {
		if again := sign(t, s, testClaims()); again != first {
			t.Fatalf("signing twice gave\n%s\n%s", first, again)
		}
	}
	c := testClaims()
	c.Permit.ResidenceMonths++
	if sign(t, a, c) == first {
		t.Fatal("different claims gave the same text")
	}
}

// TestVerifyFailures makes every check fail in turn and checks that the
// findings stop there.
func TestVerifyFailures(t *testing.T) {
	key := testKey(t)
	s := newSigner(t, key)
	good := sign(t, s, testClaims())
	goodCOSE := unpack(t, good)
	keys := trust("330604", s)

	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	es := newSigner(t, p256)
	esText := sign(t, es, testClaims())
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	other := newSigner(t, otherKey)

	protected := map[int]any{1: -8, 4: s.rawKID}
	c := testClaims()
	payload, err := c.marshal()
	if err != nil {
		t.Fatal(err)
	}
	// A credential built by hand, as a partner's library would, verifies.
	if res := Verify(craft(t, key, protected, payload), keys, testVerifyAt); !res.Valid() {
		t.Fatalf("hand-built credential: %+v", res.Findings)
	}
	withClaims := func(edit func(*Claims)) string {
		c := testClaims()
		edit(&c)
		return sign(t, s, c)
	}
	withPayload := func(edit func(*cwtClaims)) string {
		return craft(t, key, protected, wirePayload(t, edit))
	}
	compressed := compress(goodCOSE)
	badSum := bytes.Clone(compressed)
	badSum[len(badSum)-1] ^= 1
	wrongTag := bytes.Clone(goodCOSE)
	wrongTag[0] = 0xd1 // tag 17, COSE_Mac0
	notCOSE, _ := cbor.Marshal("hello")
	tampered := bytes.Replace(goodCOSE, []byte("测试者甲"), []byte("测试者乙"), 1)
	if bytes.Equal(tampered, goodCOSE) {
		t.Fatal("tampering changed nothing")
	}

	tests := []struct {
		name   string
		text   string
		keys   KeyResolver
		now    time.Time
		failed Check
		detail string
	}{
		{"bad prefix", "YRD2:" + strings.TrimPrefix(good, Prefix), keys, testVerifyAt, CheckFormat, "does not start with YRD1:"},
		{"empty", "", keys, testVerifyAt, CheckFormat, "does not start with YRD1:"},
		{"too long", Prefix + strings.Repeat("000", MaxTextLength/3), keys, testVerifyAt, CheckFormat, "more than 4096"},
		{"bad Base45 character", Prefix + "abc", keys, testVerifyAt, CheckFormat, `invalid character "a"`},
		{"Base45 length 1 mod 3", Prefix + "0000", keys, testVerifyAt, CheckFormat, "single character over"},
		{"Base45 overflow", Prefix + ":::", keys, testVerifyAt, CheckFormat, "too large"},
		{"not zlib", Prefix + string(appendBase45(nil, goodCOSE)), keys, testVerifyAt, CheckFormat, "not zlib-compressed"},
		{"zlib checksum", Prefix + string(appendBase45(nil, badSum)), keys, testVerifyAt, CheckFormat, "checksum"},
		{"zlib truncated", Prefix + string(appendBase45(nil, compressed[:len(compressed)-8])), keys, testVerifyAt, CheckFormat, "not zlib-compressed"},
		{"data after zlib", Prefix + string(appendBase45(nil, append(bytes.Clone(compressed), 0))), keys, testVerifyAt, CheckFormat, "follow the zlib stream"},
		{"text truncated", good[:len(good)-6], keys, testVerifyAt, CheckFormat, "not a well-formed credential"},
		{"decompression bomb", pack(make([]byte, MaxCOSELength+1)), keys, testVerifyAt, CheckFormat, "more than 8192 bytes"},
		{"not COSE", pack(notCOSE), keys, testVerifyAt, CheckFormat, "not a tagged COSE_Sign1"},
		{"wrong tag", pack(wrongTag), keys, testVerifyAt, CheckFormat, "not a tagged COSE_Sign1"},
		{"untagged", pack(goodCOSE[1:]), keys, testVerifyAt, CheckFormat, "not a tagged COSE_Sign1"},
		{"COSE truncated", pack(goodCOSE[:len(goodCOSE)-1]), keys, testVerifyAt, CheckFormat, "not a tagged COSE_Sign1"},
		{"COSE with trailing data", pack(append(bytes.Clone(goodCOSE), 0)), keys, testVerifyAt, CheckFormat, "not a tagged COSE_Sign1"},
		{"no alg", craft(t, key, map[int]any{4: s.rawKID}, payload), keys, testVerifyAt, CheckFormat, "no usable alg"},
		{"unsupported alg", craft(t, key, map[int]any{1: -35, 4: s.rawKID}, payload), keys, testVerifyAt, CheckFormat, "ES384 is not supported"},
		{"no kid", craft(t, key, map[int]any{1: -8}, payload), keys, testVerifyAt, CheckFormat, "no 8-byte kid"},
		{"short kid", craft(t, key, map[int]any{1: -8, 4: s.rawKID[:4]}, payload), keys, testVerifyAt, CheckFormat, "no 8-byte kid"},
		{"crit", craft(t, key, map[int]any{1: -8, 2: []int{99}, 4: s.rawKID, 99: "x"}, payload), keys, testVerifyAt, CheckFormat, "critical"},
		{"payload not claims", craft(t, key, protected, []byte("hello")), keys, testVerifyAt, CheckFormat, "not a CWT claims set"},
		{"payload not CBOR map", craft(t, key, protected, []byte{0x83, 1, 2, 3}), keys, testVerifyAt, CheckFormat, "not a CWT claims set"},
		{"key in the wrong case", craft(t, key, protected, bytes.Replace(payload, []byte{0x61, 'n', 0x6c}, []byte{0x61, 'N', 0x6c}, 1)), keys, testVerifyAt, CheckFormat, "n (holder name) is missing"},
		{"duplicate key", craft(t, key, protected, bytes.Replace(payload, []byte{0x62, 'r', 'm'}, []byte{0x62, 'r', 'y'}, 1)), keys, testVerifyAt, CheckFormat, "duplicate"},
		{"exp missing", withPayload(func(w *cwtClaims) { w.Exp = nil }), keys, testVerifyAt, CheckFormat, "exp (4) is missing"},
		{"iss missing", withPayload(func(w *cwtClaims) { w.Iss = "" }), keys, testVerifyAt, CheckFormat, "iss (1) is missing"},
		{"permit claim missing", withPayload(func(w *cwtClaims) { w.Permit = nil }), keys, testVerifyAt, CheckFormat, "-65537"},
		{"version 2", withPayload(func(w *cwtClaims) { w.Permit.Version = ptr(2) }), keys, testVerifyAt, CheckFormat, "version 2 is not supported"},
		{"years missing", withPayload(func(w *cwtClaims) { w.Permit.ResidenceYears = nil }), keys, testVerifyAt, CheckFormat, "ry (residence years) is missing"},
		{"negative months", withPayload(func(w *cwtClaims) { w.Permit.ResidenceMonths = ptr(-1) }), keys, testVerifyAt, CheckFormat, "negative"},
		{"bad date", withPayload(func(w *cwtClaims) { w.Permit.NextEndorsementDue = "2027-02-30" }), keys, testVerifyAt, CheckFormat, "not a YYYY-MM-DD date"},

		{"issuer not a division code", withClaims(func(c *Claims) { c.Issuer = "33060" }), keys, testVerifyAt, CheckIssuer, `issuer "33060" is not a six-digit division code`},
		{"permit id of another division", withClaims(func(c *Claims) { c.PermitID = "310101-TESTVECTOR01H" }), keys, testVerifyAt, CheckIssuer, "does not carry the issuing division 330604"},
		{"unknown kid", sign(t, other, c), keys, testVerifyAt, CheckIssuer, "key " + other.KID() + " of 330604 is not known"},
		{"unknown issuer", good, trust("330602", s), testVerifyAt, CheckIssuer, "is not known"},
		{"no resolver", good, nil, testVerifyAt, CheckIssuer, "no issuer keys are known"},

		{"tampered payload", pack(tampered), keys, testVerifyAt, CheckSignature, "does not verify"},
		{"signed by another key under this kid", craft(t, otherKey, protected, payload), always(s.Public()), testVerifyAt, CheckSignature, "does not verify"},
		{"trust list gives the wrong key", good, always(other.Public()), testVerifyAt, CheckSignature, "has key id " + other.KID()},
		{"ES256 credential, Ed25519 key", esText, always(s.Public()), testVerifyAt, CheckSignature, "signed with ES256 but key " + es.KID() + " of 330604 is an Ed25519 key"},
		{"EdDSA credential, ECDSA key", good, always(es.Public()), testVerifyAt, CheckSignature, "signed with EdDSA but key " + s.KID() + " of 330604 is an ECDSA key"},
		{"ES256 credential, P-384 key", esText, always(p384.Public()), testVerifyAt, CheckSignature, "not a P-256 key"},
		{"unsupported key type", good, always("a string"), testVerifyAt, CheckSignature, "not an Ed25519 or P-256 key"},
		{"malformed Ed25519 key", good, always(ed25519.PublicKey{1, 2, 3}), testVerifyAt, CheckSignature, "not a valid key"},

		{"not yet valid", good, keys, c.NotBefore.Add(-time.Second), CheckTimeWindow, "not valid before 2026-03-15 10:30 CST"},
		{"expired", good, keys, c.Expiry, CheckTimeWindow, "expired on 2027-03-01 00:00 CST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Verify(tt.text, tt.keys, tt.now)
			if len(res.Findings) != int(tt.failed) {
				t.Fatalf("%d findings, want %d: %+v", len(res.Findings), tt.failed, res.Findings)
			}
			for i, f := range res.Findings {
				last := i == len(res.Findings)-1
				if f.Check != Check(i+1) || f.Passed == last || f.Detail == "" {
					t.Errorf("finding %d = %+v", i, f)
				}
			}
			if last := res.Findings[len(res.Findings)-1]; !strings.Contains(last.Detail, tt.detail) {
				t.Errorf("detail %q does not contain %q", last.Detail, tt.detail)
			}
			if res.Valid() {
				t.Error("Valid() = true")
			}
			if (res.Claims == nil) != (tt.failed == CheckFormat) || (res.KID == "") != (tt.failed == CheckFormat) {
				t.Errorf("claims %v, kid %q after failing %v", res.Claims, res.KID, tt.failed)
			}
			if _, _, err := Decode(tt.text); (err != nil) != (tt.failed == CheckFormat) {
				t.Errorf("Decode error %v after failing %v", err, tt.failed)
			}
		})
	}
}

func TestTimeWindowEdges(t *testing.T) {
	s := newSigner(t, testKey(t))
	c := testClaims()
	text := sign(t, s, c)
	for _, tt := range []struct {
		now   time.Time
		valid bool
	}{
		{c.NotBefore.Add(-time.Second), false},
		{c.NotBefore, true},
		{c.Expiry.Add(-time.Second), true},
		{c.Expiry, false},
	} {
		if got := Verify(text, trust(c.Issuer, s), tt.now).Valid(); got != tt.valid {
			t.Errorf("at %v: Valid() = %v, want %v", tt.now, got, tt.valid)
		}
	}
}

func TestSignRejects(t *testing.T) {
	s := newSigner(t, testKey(t))
	tests := []struct {
		name string
		edit func(*Claims)
		want string
	}{
		{"no issuer", func(c *Claims) { c.Issuer = "" }, "iss (1)"},
		{"no permit id", func(c *Claims) { c.PermitID = "" }, "sub (2)"},
		{"no iat", func(c *Claims) { c.IssuedAt = time.Time{} }, "iat (6)"},
		{"no nbf", func(c *Claims) { c.NotBefore = time.Time{} }, "nbf (5)"},
		{"no exp", func(c *Claims) { c.Expiry = time.Time{} }, "exp (4)"},
		{"no name", func(c *Claims) { c.Permit.HolderName = "" }, "holder name"},
		{"no masked id", func(c *Claims) { c.Permit.MaskedCitizenID = "" }, "masked citizen id"},
		{"no start date", func(c *Claims) { c.Permit.ResidenceStartDate = "" }, "residence start date) is missing"},
		{"bad start date", func(c *Claims) { c.Permit.ResidenceStartDate = "2023-3-1" }, "not a YYYY-MM-DD date"},
		{"bad due date", func(c *Claims) { c.Permit.NextEndorsementDue = "2027-13-01" }, "not a YYYY-MM-DD date"},
		{"bad valid-until", func(c *Claims) { c.Permit.ValidUntil = "someday" }, "not a YYYY-MM-DD date"},
		{"negative years", func(c *Claims) { c.Permit.ResidenceYears = -1 }, "negative"},
		{"negative months", func(c *Claims) { c.Permit.ResidenceMonths = -1 }, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testClaims()
			tt.edit(&c)
			if _, err := s.Sign(c); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Sign error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestNewSignerRejects(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []crypto.Signer{nil, p384} {
		if _, err := NewSigner(key); err == nil {
			t.Errorf("NewSigner(%T) succeeded", key)
		}
	}
}

func TestKID(t *testing.T) {
	key := testKey(t)
	kid, err := KID(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	// SHA-256 of the RFC 8032 TEST 1 public key
	// d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a.
	if want := "21fe31dfa154a261"; kid != want {
		t.Errorf("KID = %s, want %s", kid, want)
	}
	if s := newSigner(t, key); s.KID() != kid || !key.Public().(ed25519.PublicKey).Equal(s.Public()) {
		t.Errorf("signer KID %s, public %x", s.KID(), s.Public())
	}

	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecdhPub, err := p256.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	point := ecdhPub.Bytes() // uncompressed: 0x04 || X || Y
	if len(point) != 65 || point[0] != 4 {
		t.Fatalf("point %x", point)
	}
	if kid, err := KID(&p256.PublicKey); err != nil || kid != kidOf(point) {
		t.Errorf("KID(P-256) = %s, %v, want %s", kid, err, kidOf(point))
	}

	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for _, pub := range []crypto.PublicKey{nil, "key", ed25519.PublicKey{1}, &p384.PublicKey, (*ecdsa.PublicKey)(nil)} {
		if kid, err := KID(pub); err == nil {
			t.Errorf("KID(%v) = %s", pub, kid)
		}
	}
}

func TestCheckString(t *testing.T) {
	want := map[Check]string{CheckFormat: "format", CheckIssuer: "issuer", CheckSignature: "signature", CheckTimeWindow: "time window", 0: "Check(0)", 9: "Check(9)"}
	for c, w := range want {
		if c.String() != w {
			t.Errorf("Check(%d).String() = %q, want %q", int(c), c.String(), w)
		}
	}
}

func TestResultValid(t *testing.T) {
	pass := func(c Check) Finding { return Finding{Check: c, Passed: true, Detail: "ok"} }
	tests := []struct {
		name     string
		findings []Finding
		want     bool
	}{
		{"all four passed", []Finding{pass(1), pass(2), pass(3), pass(4)}, true},
		{"none", nil, false},
		{"three", []Finding{pass(1), pass(2), pass(3)}, false},
		{"out of order", []Finding{pass(1), pass(3), pass(2), pass(4)}, false},
		{"one failed", []Finding{pass(1), pass(2), pass(3), {Check: 4}}, false},
		{"five", []Finding{pass(1), pass(2), pass(3), pass(4), pass(4)}, false},
	}
	for _, tt := range tests {
		if got := (Result{Findings: tt.findings}).Valid(); got != tt.want {
			t.Errorf("%s: Valid() = %v", tt.name, got)
		}
	}
}

// TestSigStructure rebuilds the Sig_structure of RFC 9052, section 4.4,
// without go-cose, as a partner would, and checks the signature over it.
func TestSigStructure(t *testing.T) {
	key := testKey(t)
	text := sign(t, newSigner(t, key), testClaims())
	tbs, sig := sigStructure(t, text)
	if !ed25519.Verify(key.Public().(ed25519.PublicKey), tbs, sig) {
		t.Fatal("signature does not verify over the rebuilt Sig_structure")
	}
}

// sigStructure returns the bytes an issuer signs and the signature.
func sigStructure(t testing.TB, text string) (tbs, sig []byte) {
	t.Helper()
	var msg struct {
		_           struct{} `cbor:",toarray"`
		Protected   []byte
		Unprotected map[int]any
		Payload     []byte
		Signature   []byte
	}
	var tag cbor.RawTag
	if err := cbor.Unmarshal(unpack(t, text), &tag); err != nil || tag.Number != 18 {
		t.Fatalf("tag %d: %v", tag.Number, err)
	}
	if err := cbor.Unmarshal(tag.Content, &msg); err != nil {
		t.Fatal(err)
	}
	tbs, err := cbor.Marshal([]any{"Signature1", msg.Protected, []byte{}, msg.Payload})
	if err != nil {
		t.Fatal(err)
	}
	return tbs, msg.Signature
}

// TestConcurrent signs and verifies from many goroutines, for the race
// detector and the pools.
func TestConcurrent(t *testing.T) {
	s := newSigner(t, testKey(t))
	keys := trust("330604", s)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				c := testClaims()
				c.Permit.ResidenceMonths = i*100 + j
				text, err := s.Sign(c)
				if err != nil {
					t.Error(err)
					return
				}
				res := Verify(text, keys, testVerifyAt)
				if !res.Valid() || res.Claims.Permit.ResidenceMonths != c.Permit.ResidenceMonths {
					t.Errorf("Verify = %+v", res)
				}
				Verify(text[:len(text)-3], keys, testVerifyAt)
			}
		})
	}
	wg.Wait()
}

func BenchmarkVerify(b *testing.B) {
	s := newSigner(b, testKey(b))
	text := sign(b, s, testClaims())
	keys := trust("330604", s)
	if !Verify(text, keys, testVerifyAt).Valid() {
		b.Fatal("not valid")
	}
	b.ReportAllocs()
	for b.Loop() {
		Verify(text, keys, testVerifyAt)
	}
}

func BenchmarkEd25519Verify(b *testing.B) {
	key := testKey(b)
	pub := key.Public().(ed25519.PublicKey)
	tbs, sig := sigStructure(b, sign(b, newSigner(b, key), testClaims()))
	if !ed25519.Verify(pub, tbs, sig) {
		b.Fatal("not valid")
	}
	b.ReportAllocs()
	for b.Loop() {
		ed25519.Verify(pub, tbs, sig)
	}
}

func BenchmarkSign(b *testing.B) {
	s := newSigner(b, testKey(b))
	c := testClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(c); err != nil {
			b.Fatal(err)
		}
	}
}
