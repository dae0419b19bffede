package statuslist

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/credential"
)

var update = flag.Bool("update", false, "rewrite testdata/vector.json")

const vectorFile = "testdata/vector.json"

// vector is the worked example of docs/statuslist.md.
type vector struct {
	Description    string            `json:"description"`
	Ed25519SeedHex string            `json:"ed25519_seed_hex"`
	PublicKeyPEM   string            `json:"public_key_pem"`
	KID            string            `json:"kid"`
	VerifyAt       string            `json:"verify_at"`
	Issuer         string            `json:"issuer"`
	Version        uint64            `json:"version"`
	Size           uint32            `json:"size"`
	IssuedAt       int64             `json:"issued_at"`
	ExpiresAt      int64             `json:"expires_at"`
	Entries        map[string]string `json:"entries"` // index -> state; every other entry is unused
	SHA256Hex      string            `json:"sha256_hex"`
	ListHex        string            `json:"list_hex"`
	NotModifiedHex string            `json:"not_modified_hex"`
}

// The example's inputs: the key of RFC 8032, section 7.1, TEST 1 (a
// published test key, never an issuer's), and a few entries.
var (
	vectorSeed    = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	vectorAt      = time.Date(2026, 6, 1, 9, 0, 0, 0, time.FixedZone("CST", 8*3600))
	vectorEntries = []struct {
		index uint32
		state State
	}{{0, Cancelled}, {1, Valid}, {2, Suspended}, {3, Valid}, {12345, Valid}, {70000, Confiscated}, {MinSize - 1, Superseded}}
)

func vectorKey(t testing.TB) ed25519.PrivateKey {
	seed, err := hex.DecodeString(vectorSeed)
	if err != nil {
		t.Fatal(err)
	}
	return ed25519.NewKeyFromSeed(seed)
}

func makeVector(t *testing.T) vector {
	key := vectorKey(t)
	l := New(Options{Version: 100})
	for _, e := range vectorEntries {
		if err := l.Set(e.index, e.state); err != nil {
			t.Fatal(err)
		}
	}
	p, err := NewPublisher(PublisherConfig{List: l, Key: key, Issuer: testIssuer, TTL: DefaultTTL, Clock: func() time.Time { return vectorAt }})
	if err != nil {
		t.Fatal(err)
	}
	list, _, err := p.Fetch(0)
	if err != nil {
		t.Fatal(err)
	}
	nm, _, err := p.Fetch(l.Version())
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := credential.MarshalPublicKeyPEM(key.Public())
	kid, _ := credential.KID(key.Public())
	entries := make(map[string]string)
	for _, e := range vectorEntries {
		entries[strconv.Itoa(int(e.index))] = e.state.String()
	}
	return vector{
		Description:    "Synthetic status list of division 330604, signed with the Ed25519 key of RFC 8032 section 7.1 TEST 1, and a not-modified answer about it.",
		Ed25519SeedHex: vectorSeed,
		PublicKeyPEM:   string(pem),
		KID:            kid,
		VerifyAt:       vectorAt.Add(3 * time.Hour).Format(time.RFC3339),
		Issuer:         testIssuer,
		Version:        l.Version(),
		Size:           l.Size(),
		IssuedAt:       vectorAt.Unix(),
		ExpiresAt:      vectorAt.Add(DefaultTTL).Unix(),
		Entries:        entries,
		SHA256Hex:      hex.EncodeToString(p.list.digest[:]),
		ListHex:        hex.EncodeToString(list),
		NotModifiedHex: hex.EncodeToString(nm),
	}
}

// TestVector checks the worked example: it verifies, reads as documented,
// and Publish still produces it byte for byte. Run with -update to
// rewrite it.
func TestVector(t *testing.T) {
	if *update {
		data, err := json.MarshalIndent(makeVector(t), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorFile, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(vectorFile)
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	pub, err := credential.ParsePublicKeyPEM([]byte(v.PublicKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	at, err := time.Parse(time.RFC3339, v.VerifyAt)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := hex.DecodeString(v.ListHex)
	s, err := Verify(list, pub, at)
	if err != nil {
		t.Fatal(err)
	}
	if s.Issuer != v.Issuer || s.KID != v.KID || s.Version != v.Version || s.Size != v.Size ||
		s.IssuedAt.Unix() != v.IssuedAt || s.Expires.Unix() != v.ExpiresAt || hex.EncodeToString(s.Digest[:]) != v.SHA256Hex {
		t.Errorf("snapshot %+v does not match the vector", s)
	}
	for i := range s.Size {
		got, _ := s.Get(i)
		want, ok := v.Entries[strconv.Itoa(int(i))]
		if !ok {
			want = Unused.String()
		}
		if got.String() != want {
			t.Errorf("entry %d = %v, want %s", i, got, want)
		}
	}
	nmBytes, _ := hex.DecodeString(v.NotModifiedHex)
	nm, err := VerifyNotModified(nmBytes, pub, at)
	if err != nil || !nm.Matches(s) {
		t.Errorf("not-modified answer: %+v, %v", nm, err)
	}
	if _, err := Verify(list, pub, time.Unix(v.ExpiresAt, 0)); err == nil {
		t.Error("the list verifies at its expires-at")
	}
	// Publishing is deterministic with Ed25519: a change in the encoding
	// or in compress/flate's output shows here.
	again := makeVector(t)
	if again.ListHex != v.ListHex || again.NotModifiedHex != v.NotModifiedHex {
		t.Error("Publish no longer produces the vector's bytes; rerun with -update only if the change is intended")
	}
	if !bytes.Equal(list[:4], []byte{0xd2, 0x84, 0x58, 0x2e}) {
		t.Errorf("list starts % x", list[:4])
	}
}
