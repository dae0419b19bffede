package statuslist

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
	"github.com/yrd-epermit/epermit/credential"
)

func TestPublishVerifyRoundTrip(t *testing.T) {
	for name, key := range testKeys(t) {
		t.Run(name, func(t *testing.T) {
			l := New(Options{Rand: seeded(7), Version: 41})
			want := fill(t, l, 5000, 7)
			data, err := l.Publish(key, testIssuer, t0, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Verify(data, key.Public(), t0.Add(30*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			kid, _ := credential.KID(key.Public())
			if s.Issuer != testIssuer || s.KID != kid || s.Version != l.Version() || s.Size != MinSize ||
				!s.IssuedAt.Equal(t0) || !s.Expires.Equal(t0.Add(time.Hour)) {
				t.Errorf("snapshot %+v", s)
			}
			for i := range uint32(MinSize) {
				got, err := s.Get(i)
				if err != nil || got != want[i] {
					t.Fatalf("Get(%d) = %v, %v; want %v", i, got, err, want[i])
				}
			}
			if _, err := s.Get(MinSize); !errors.Is(err, ErrIndex) {
				t.Errorf("Get(size) = %v, want ErrIndex", err)
			}
			packed, _ := l.snapshot()
			if s.Digest != sha256.Sum256(packed) {
				t.Error("digest is not the SHA-256 of the packed entries")
			}
			if got, err := KeyID(data); err != nil || got != kid {
				t.Errorf("KeyID = %q, %v; want %s", got, err, kid)
			}
		})
	}
}

// TestPublishDeterministic: with Ed25519, the same list at the same time
// gives the same bytes.
func TestPublishDeterministic(t *testing.T) {
	l := New(Options{Rand: seeded(8)})
	fill(t, l, 1000, 8)
	a, err := l.Publish(edKey(1), testIssuer, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := l.Publish(edKey(1), testIssuer, t0, time.Hour)
	if !bytes.Equal(a, b) {
		t.Error("two publications of the same list differ")
	}
}

func TestPublishRefuses(t *testing.T) {
	l := New(Options{})
	tests := []struct {
		name   string
		issuer string
		ttl    time.Duration
	}{
		{"issuer not six digits", "33060", time.Hour},
		{"issuer not digits", "33060x", time.Hour},
		{"ttl below a second", testIssuer, time.Second - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := l.Publish(edKey(1), tt.issuer, t0, tt.ttl); err == nil {
				t.Error("Publish succeeded")
			}
		})
	}
	if _, err := l.Publish(nil, testIssuer, t0, time.Hour); !errors.Is(err, ErrKey) {
		t.Errorf("Publish without a key: %v, want ErrKey", err)
	}
}

// TestFormatLayout decodes a published list with a generic CBOR decoder
// and checks it against docs/statuslist.md.
func TestFormatLayout(t *testing.T) {
	l := New(Options{Rand: seeded(9), Version: 5})
	if err := l.Set(0, Cancelled); err != nil {
		t.Fatal(err)
	}
	if err := l.Set(3, Valid); err != nil {
		t.Fatal(err)
	}
	key := edKey(1)
	data, err := l.Publish(key, testIssuer, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if data[0] != 0xd2 || data[1] != 0x84 {
		t.Fatalf("starts % x, want d2 84 (tag 18, array of 4)", data[:2])
	}
	var msg struct {
		_           struct{} `cbor:",toarray"`
		Protected   []byte
		Unprotected map[any]any
		Payload     []byte
		Signature   []byte
	}
	if err := cbor.Unmarshal(data[1:], &msg); err != nil {
		t.Fatal(err)
	}
	kid, _ := credential.KID(key.Public())
	rawKID, _ := hex.DecodeString(kid)
	wantProt, _ := cbor.CoreDetEncOptions().EncMode()
	prot, _ := wantProt.Marshal(map[int]any{1: -8, 4: rawKID, 16: TypeList})
	if !bytes.Equal(msg.Protected, prot) {
		t.Errorf("protected header % x, want % x", msg.Protected, prot)
	}
	if len(msg.Unprotected) != 0 || len(msg.Signature) != 64 {
		t.Errorf("unprotected %v, signature %d bytes", msg.Unprotected, len(msg.Signature))
	}
	var payload map[int]cbor.RawMessage
	if err := cbor.Unmarshal(msg.Payload, &payload); err != nil {
		t.Fatal(err)
	}
	var claim map[string]any
	if err := cbor.Unmarshal(payload[-65538], &claim); err != nil {
		t.Fatal(err)
	}
	lst, _ := claim["lst"].([]byte)
	packed, err := inflate(lst, MinSize/2)
	if err != nil {
		t.Fatal(err)
	}
	if packed[0] != 0x03 || packed[1] != 0x10 {
		t.Errorf("first bytes % x, want 03 10 (entry 0 = 3 in the low nibble, entry 3 = 1 in the high nibble of byte 1)", packed[:2])
	}
	if claim["v"] != uint64(1) || claim["version"] != uint64(7) || claim["size"] != uint64(MinSize) || claim["bits"] != uint64(4) {
		t.Errorf("claim %v", claim)
	}
	if len(payload) != 4 || string(payload[1]) != "\x66330604" {
		t.Errorf("payload keys %v", payload)
	}
	// Deterministic encoding: re-encoding gives the same bytes.
	var generic any
	if err := cbor.Unmarshal(msg.Payload, &generic); err != nil {
		t.Fatal(err)
	}
	again, _ := wantProt.Marshal(generic)
	if !bytes.Equal(again, msg.Payload) {
		t.Error("payload is not in core deterministic encoding")
	}
}

func TestVerifyRefuses(t *testing.T) {
	key := edKey(1)
	l := New(Options{Rand: seeded(10)})
	fill(t, l, 2000, 10)
	data, err := l.Publish(key, testIssuer, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(at int) []byte {
		b := bytes.Clone(data)
		b[at] ^= 0x01
		return b
	}
	p, _ := NewPublisher(PublisherConfig{List: l, Key: key, Issuer: testIssuer, Clock: func() time.Time { return t0 }})
	nm, isNM, err := p.Fetch(l.Version())
	if err != nil || !isNM {
		t.Fatal(err, isNM)
	}
	cred := credentialCOSE(t, key)
	tests := []struct {
		name string
		data []byte
		key  any
		now  time.Time
		want error
	}{
		{"alg in the protected header", flip(6), key.Public(), t0, ErrKey},
		{"a byte of the kid", flip(9), key.Public(), t0, ErrKey},
		{"a byte of the typ", flip(bytes.Index(data, []byte("+cwt"))), key.Public(), t0, ErrFormat},
		{"a byte of the issuer", flip(bytes.Index(data, []byte(testIssuer))), key.Public(), t0, ErrSignature},
		{"a byte of the entries", flip(len(data) / 2), key.Public(), t0, ErrSignature},
		{"a byte of the signature", flip(len(data) - 1), key.Public(), t0, ErrSignature},
		{"another Ed25519 key", data, edKey(2).Public(), t0, ErrKey},
		{"a P-256 key", data, ecKey(t).Public(), t0, ErrKey},
		{"not a key", data, "key", t0, ErrKey},
		{"at expires-at", data, key.Public(), t0.Add(time.Hour), ErrExpired},
		{"long expired", data, key.Public(), t0.Add(48 * time.Hour), ErrExpired},
		{"signed in the future", data, key.Public(), t0.Add(-MaxClockSkew - time.Second), ErrNotYetValid},
		{"truncated", data[:len(data)-1], key.Public(), t0, ErrFormat},
		{"a byte appended", append(bytes.Clone(data), 0), key.Public(), t0, ErrFormat},
		{"untagged", data[1:], key.Public(), t0, ErrFormat},
		{"empty", nil, key.Public(), t0, ErrFormat},
		{"a not-modified answer", nm, key.Public(), t0, ErrFormat},
		{"a credential's COSE_Sign1", cred, key.Public(), t0, ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Verify(tt.data, tt.key, tt.now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, %v; want %v", s, err, tt.want)
			}
		})
	}
	for _, now := range []time.Time{t0.Add(-MaxClockSkew), t0.Add(time.Hour - time.Second)} {
		if _, err := Verify(data, key.Public(), now); err != nil {
			t.Errorf("at %v: %v", now, err)
		}
	}
}

// credentialCOSE returns a COSE_Sign1 shaped like a credential's (no typ,
// CWT claims with the permit claim) signed with key, which a status list
// verifier must not take for a list.
func credentialCOSE(t *testing.T, key ed25519.PrivateKey) []byte {
	kid, _ := credential.KID(key.Public())
	rawKID, _ := hex.DecodeString(kid)
	payload, _ := payloadEnc.Marshal(map[int]any{1: testIssuer, 2: testIssuer + "-TESTVECTOR01H",
		4: t0.Add(time.Hour).Unix(), 5: t0.Unix(), 6: t0.Unix(), -65537: map[string]any{"v": 1}})
	signer, err := cose.NewSigner(cose.AlgorithmEdDSA, key)
	if err != nil {
		t.Fatal(err)
	}
	msg := cose.Sign1Message{
		Headers: cose.Headers{Protected: cose.ProtectedHeader{
			cose.HeaderLabelAlgorithm: cose.AlgorithmEdDSA,
			cose.HeaderLabelKeyID:     rawKID,
		}},
		Payload: payload,
	}
	if err := msg.Sign(nil, nil, signer); err != nil {
		t.Fatal(err)
	}
	data, err := msg.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	return data
}
