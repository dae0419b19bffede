package trust

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

func TestRoundTrip(t *testing.T) {
	in := testList(7)
	before := *in
	data := mustSign(t, in)
	if !reflect.DeepEqual(*in, before) || in.Members[0].Keys[1].KID != "" {
		t.Error("Sign modified its argument")
	}
	if again := mustSign(t, testList(7)); !bytes.Equal(again, data) {
		t.Error("signing the same list twice gave different bytes")
	}
	l, err := Verify(data, registryKey.Public(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if l.Sequence != 7 || !l.IssuedAt.Equal(issuedAt) || !l.ExpiresAt.Equal(expiresAt) {
		t.Errorf("header = %d %v %v", l.Sequence, l.IssuedAt, l.ExpiresAt)
	}
	var divisions []string
	for _, m := range l.Members {
		divisions = append(divisions, m.Division)
	}
	if got := strings.Join(divisions, " "); got != "310107 320583 330604" {
		t.Errorf("members in order %s, want division order", got)
	}
	m, ok := l.Member("330604")
	if !ok {
		t.Fatal("Member(330604) not found")
	}
	want := testList(7).Members[0]
	if m.Name != want.Name || m.Province != want.Province || m.Endpoint != want.Endpoint || len(m.Keys) != 2 {
		t.Errorf("member = %+v", m)
	}
	for i, k := range m.Keys {
		w := want.Keys[i]
		if k.KID != mustKID(w.PublicKey) || k.Algorithm != AlgorithmEdDSA ||
			!k.NotBefore.Equal(w.NotBefore) || !k.NotAfter.Equal(w.NotAfter) ||
			!k.PublicKey.(ed25519.PublicKey).Equal(w.PublicKey) {
			t.Errorf("key %d = %+v, want %+v", i, k, w)
		}
	}
	p, _ := l.Member("310107")
	if k := p.Keys[0]; k.Algorithm != AlgorithmES256 || !k.PublicKey.(*ecdsa.PublicKey).Equal(putuoKey.Public()) {
		t.Errorf("P-256 key = %+v", k)
	}
	if _, ok := l.Member("330602"); ok {
		t.Error("Member(330602) found")
	}
}

func TestSignTruncatesToSeconds(t *testing.T) {
	in := testList(1)
	in.IssuedAt = in.IssuedAt.Add(700 * time.Millisecond)
	l, err := Verify(mustSign(t, in), registryKey.Public(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !l.IssuedAt.Equal(issuedAt) || l.IssuedAt.Location() != time.UTC {
		t.Errorf("IssuedAt = %v", l.IssuedAt)
	}
}

func TestSignRefuses(t *testing.T) {
	_, err := Sign(testList(1), putuoKey)
	if err == nil || !strings.Contains(err.Error(), "want Ed25519") {
		t.Errorf("Sign with a P-256 key: %v", err)
	}
	if _, err := Sign(testList(1), nil); err == nil {
		t.Error("Sign with no key succeeded")
	}
	l := testList(1)
	l.Members[1].Division, l.Members[1].Province = "330604", "330000"
	if _, err := Sign(l, registryKey); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "330604 is listed twice") {
		t.Errorf("Sign of a duplicate division: %v", err)
	}
}

// tamper returns data with the byte at i flipped.
func tamper(data []byte, i int) []byte {
	out := bytes.Clone(data)
	out[i] ^= 0x01
	return out
}

func TestVerifyRefuses(t *testing.T) {
	good := mustSign(t, testList(3))
	payload := func(mutate func(w *wireList)) []byte {
		w := wireOf(t, testList(3))
		mutate(w)
		return signRaw(t, w, registryKey)
	}
	key := func(w *wireList, member, key int) *wireKey { return &w.Members[member].Keys[key] }
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	wirePayload := wireOf(t, testList(3))
	bare := mustCBOR(t, wirePayload)
	protected := mustCBOR(t, map[int]any{1: -8, 4: []byte(mustKID(registryKey.Public()))[:8]})
	// Shangyu twice, with different keys.
	twice := testList(3)
	twice.Members = append(twice.Members, Member{Division: "330604", Name: "上虞区", Province: "330000", Endpoint: "10.0.0.9:7700",
		Keys: []IssuerKey{{KID: mustKID(otherKey.Public()), Algorithm: AlgorithmEdDSA, PublicKey: otherKey.Public(),
			NotBefore: keyStart, NotAfter: keyEnd}}})
	for i := range twice.Members[:3] {
		for j := range twice.Members[i].Keys {
			k := &twice.Members[i].Keys[j]
			k.KID, k.Algorithm = mustKID(k.PublicKey), algorithmOf(k.PublicKey)
		}
	}
	dupDivision, err := encodePayload(twice)
	if err != nil {
		t.Fatal(err)
	}
	// {"version": 1, "version": 1}
	dupKey := append(append(append(append([]byte{0xa2}, mustCBOR(t, "version")...), 0x01), mustCBOR(t, "version")...), 0x01)
	// A kid sent as an array of integers rather than a byte string.
	kun := wirePayload.Members[1].Keys[0]
	kidArray := map[string]any{"version": 1, "sequence": 3, "issued_at": *wirePayload.IssuedAt, "expires_at": *wirePayload.ExpiresAt,
		"members": []any{map[string]any{"division": "320583", "name": "昆山市", "province": "320000",
			"endpoint": "10.0.0.7:7700", "keys": []any{map[string]any{
				"kid": []any{1, 2, 3, 4, 5, 6, 7, 8}, "alg": "EdDSA", "public_key": []byte(kun.PublicKey),
				"not_before": *kun.NotBefore, "not_after": *kun.NotAfter}}}}}

	tests := []struct {
		name     string
		data     []byte
		registry crypto.PublicKey
		now      time.Time
		want     error
		msg      string
	}{
		{name: "empty", data: nil, want: ErrMalformed, msg: "empty"},
		{name: "garbage", data: []byte("not a trust list\n"), want: ErrMalformed, msg: "not a tagged COSE_Sign1"},
		{name: "unsigned payload", data: bare, want: ErrMalformed, msg: "an unsigned list"},
		{name: "empty signature", data: mustCBOR(t, cbor.Tag{Number: 18, Content: []any{protected, map[int]any{}, bare, []byte{}}}),
			want: ErrMalformed, msg: "empty signature"},
		{name: "untagged", data: good[1:], want: ErrMalformed, msg: "not a tagged COSE_Sign1"},
		{name: "COSE_Mac0 tag", data: append([]byte{0xd1}, good[1:]...), want: ErrMalformed, msg: "not a tagged COSE_Sign1"},
		{name: "truncated", data: good[:len(good)-1], want: ErrMalformed},
		{name: "trailing byte", data: append(bytes.Clone(good), 0), want: ErrMalformed},
		{name: "too large", data: append(bytes.Clone(good), make([]byte, MaxSize)...), want: ErrMalformed, msg: "more than"},
		{name: "ES256", data: signCOSE(t, bare, putuoKey, cose.AlgorithmES256, mustKID(registryKey.Public())),
			want: ErrMalformed, msg: "want EdDSA"},
		{name: "no kid", data: signCOSE(t, bare, registryKey, cose.AlgorithmEdDSA, ""), want: ErrMalformed, msg: "8-byte kid"},
		{name: "wrong key", data: signRaw(t, wirePayload, otherKey), want: ErrRegistryKey,
			msg: "signed by key " + mustKID(otherKey.Public())},
		{name: "right kid, wrong key", data: signCOSE(t, bare, otherKey, cose.AlgorithmEdDSA, mustKID(registryKey.Public())),
			want: ErrSignature},
		{name: "tampered payload byte", data: tamper(good, len(good)/2), want: ErrSignature},
		{name: "tampered signature", data: tamper(good, len(good)-1), want: ErrSignature},
		{name: "verified with another registry key", data: good, registry: otherKey.Public(), want: ErrRegistryKey},
		{name: "registry key not Ed25519", data: good, registry: putuoKey.Public(), msg: "want an Ed25519 public key"},
		{name: "expired", data: good, now: expiresAt, want: ErrExpired, msg: "list 3 expired at 2026-07-01 09:00:00 CST"},
		{name: "long expired", data: good, now: expiresAt.AddDate(1, 0, 0), want: ErrExpired},
		{name: "version 2", data: payload(func(w *wireList) { w.Version = u64(2) }), want: ErrVersion, msg: "version 2"},
		{name: "no version", data: payload(func(w *wireList) { w.Version = nil }), want: ErrMalformed, msg: "no version"},
		{name: "payload not a map", data: signRaw(t, []any{1, 2}, registryKey), want: ErrMalformed},
		{name: "no sequence", data: payload(func(w *wireList) { w.Sequence = nil }), want: ErrInvalid, msg: "sequence is missing"},
		{name: "sequence 0", data: payload(func(w *wireList) { w.Sequence = u64(0) }), want: ErrInvalid, msg: "sequence is 0"},
		{name: "no expiry", data: payload(func(w *wireList) { w.ExpiresAt = nil }), want: ErrInvalid, msg: "expires_at is missing"},
		{name: "expiry before issue", data: payload(func(w *wireList) { w.ExpiresAt = i64(*w.IssuedAt) }), want: ErrInvalid,
			msg: "is not after issued_at"},
		{name: "time out of range", data: payload(func(w *wireList) { w.ExpiresAt = i64(1 << 62) }), want: ErrInvalid, msg: "out of range"},
		{name: "no members", data: payload(func(w *wireList) { w.Members = []wireMember{} }), want: ErrInvalid, msg: "no members"},
		{name: "members missing", data: payload(func(w *wireList) { w.Members = nil }), want: ErrInvalid, msg: "members is missing"},
		{name: "duplicate division", data: signRaw(t, dupDivision, registryKey), want: ErrInvalid, msg: "330604 is listed twice"},
		{name: "duplicate kid in a member", data: payload(func(w *wireList) {
			w.Members[2].Keys[1] = w.Members[2].Keys[0]
		}), want: ErrInvalid, msg: "lists key " + mustKID(shangyuKey.Public()) + " twice"},
		{name: "duplicate kid across members", data: payload(func(w *wireList) {
			w.Members[1].Keys = append(w.Members[1].Keys, w.Members[2].Keys[0])
		}), want: ErrInvalid, msg: "listed for both"},
		{name: "division not digits", data: payload(func(w *wireList) { w.Members[0].Division = "31010A" }),
			want: ErrInvalid, msg: "not a six-digit code"},
		{name: "prefecture as member", data: payload(func(w *wireList) { w.Members[2].Division = "330600" }),
			want: ErrInvalid, msg: "is a prefecture"},
		{name: "division outside the Delta", data: payload(func(w *wireList) {
			w.Members[0].Division, w.Members[0].Province = "110101", "110000"
		}), want: ErrInvalid, msg: "not in a province of the Yangtze River Delta"},
		{name: "wrong province", data: payload(func(w *wireList) { w.Members[2].Province = "320000" }),
			want: ErrInvalid, msg: "division 330604 is in 330000 浙江省"},
		{name: "empty name", data: payload(func(w *wireList) { w.Members[0].Name = "" }), want: ErrInvalid, msg: "name is empty"},
		{name: "control character in name", data: payload(func(w *wireList) { w.Members[0].Name = "普陀\x1b[31m" }),
			want: ErrInvalid, msg: "control character"},
		{name: "endpoint without port", data: payload(func(w *wireList) { w.Members[0].Endpoint = "permitd.example" }),
			want: ErrInvalid, msg: "not host:port"},
		{name: "endpoint with scheme", data: payload(func(w *wireList) { w.Members[0].Endpoint = "https://permitd.example:443" }),
			want: ErrInvalid, msg: "not host:port"},
		{name: "endpoint port 0", data: payload(func(w *wireList) { w.Members[0].Endpoint = "permitd.example:0" }),
			want: ErrInvalid, msg: "from 1 to 65535"},
		{name: "endpoint port too big", data: payload(func(w *wireList) { w.Members[0].Endpoint = "permitd.example:70000" }),
			want: ErrInvalid, msg: "from 1 to 65535"},
		{name: "endpoint bad host", data: payload(func(w *wireList) { w.Members[0].Endpoint = "permit d:7700" }),
			want: ErrInvalid, msg: "neither a host name nor an IP address"},
		{name: "no keys", data: payload(func(w *wireList) { w.Members[0].Keys = []wireKey{} }), want: ErrInvalid, msg: "no issuer keys"},
		{name: "kid not the key's", data: payload(func(w *wireList) { key(w, 2, 0).KID = key(w, 1, 0).KID }),
			want: ErrInvalid, msg: "but the key's key id is " + mustKID(shangyuKey.Public())},
		{name: "kid too short", data: payload(func(w *wireList) { key(w, 0, 0).KID = []byte{1, 2, 3} }),
			want: ErrInvalid, msg: "kid is 3 bytes"},
		{name: "kid as an array", data: signRaw(t, kidArray, registryKey), want: ErrInvalid, msg: "not a byte string"},
		{name: "alg does not suit the key", data: payload(func(w *wireList) { key(w, 0, 0).Algorithm = "EdDSA" }),
			want: ErrInvalid, msg: "does not suit a ES256 key"},
		{name: "unknown alg", data: payload(func(w *wireList) { key(w, 1, 0).Algorithm = "RS256" }),
			want: ErrInvalid, msg: `algorithm "RS256"`},
		{name: "public key garbled", data: payload(func(w *wireList) { key(w, 1, 0).PublicKey = []byte{0x30, 0x03, 1, 2, 3} }),
			want: ErrInvalid, msg: "not a SubjectPublicKeyInfo"},
		{name: "empty window", data: payload(func(w *wireList) { key(w, 1, 0).NotAfter = key(w, 1, 0).NotBefore }),
			want: ErrInvalid, msg: "not_after"},
		{name: "no not_before", data: payload(func(w *wireList) { key(w, 1, 0).NotBefore = nil }),
			want: ErrInvalid, msg: "not_before is missing"},
		{name: "sequence negative", data: signRaw(t, map[string]any{"version": 1, "sequence": -1}, registryKey),
			want: ErrInvalid},
		{name: "duplicate map key", data: signRaw(t, dupKey, registryKey), want: ErrMalformed, msg: "duplicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			registry, now := tt.registry, tt.now
			if registry == nil {
				registry = registryKey.Public()
			}
			if now.IsZero() {
				now = testNow
			}
			l, err := Verify(tt.data, registry, now)
			if err == nil {
				t.Fatalf("Verify accepted it: %+v", l)
			}
			if l != nil {
				t.Error("Verify returned a list with its error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %q is not %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

func TestVerifyIgnoresUnknownKeys(t *testing.T) {
	w := wireOf(t, testList(3))
	raw, err := payloadEnc.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := cbor.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["comment"] = "a later field of version 1"
	l, err := Verify(signRaw(t, m, registryKey), registryKey.Public(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Members) != 3 {
		t.Errorf("%d members", len(l.Members))
	}
}

func TestVerifyJustBeforeExpiry(t *testing.T) {
	if _, err := Verify(mustSign(t, testList(1)), registryKey.Public(), expiresAt.Add(-time.Second)); err != nil {
		t.Error(err)
	}
}
