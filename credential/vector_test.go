package credential

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/vector.json")

const vectorFile = "testdata/vector.json"

// vector is the committed test vector, for partners writing a verifier
// and as a check that signing stays byte for byte the same.
type vector struct {
	Description    string       `json:"description"`
	Ed25519Seed    string       `json:"ed25519_seed_hex"`
	PublicKeyPEM   string       `json:"public_key_pem"`
	KID            string       `json:"kid"`
	VerifyAt       string       `json:"verify_at"`
	Text           string       `json:"text"`
	COSE           string       `json:"cose_hex"`
	SigStructure   string       `json:"sig_structure_hex"`
	Claims         vectorClaims `json:"claims"`
	ClaimsReadable vectorTimes  `json:"times_rfc3339"`
}

// vectorClaims are the claims as they are on the wire.
type vectorClaims struct {
	Iss    string       `json:"iss"`
	Sub    string       `json:"sub"`
	Exp    int64        `json:"exp"`
	Nbf    int64        `json:"nbf"`
	Iat    int64        `json:"iat"`
	Permit vectorPermit `json:"-65537"`
}

type vectorPermit struct {
	V  int    `json:"v"`
	N  string `json:"n"`
	ID string `json:"id"`
	RS string `json:"rs"`
	RY int    `json:"ry"`
	RM int    `json:"rm"`
	ED string `json:"ed"`
	VU string `json:"vu,omitempty"`
}

type vectorTimes struct {
	Exp string `json:"exp"`
	Nbf string `json:"nbf"`
	Iat string `json:"iat"`
}

func makeVector(t *testing.T) vector {
	key := testKey(t)
	s := newSigner(t, key)
	c := testClaims()
	text := sign(t, s, c)
	pemBytes, err := MarshalPublicKeyPEM(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	tbs, _ := sigStructure(t, text)
	p := c.Permit
	return vector{
		Description: "Synthetic credential signed with the Ed25519 key of RFC 8032 section 7.1 TEST 1. " +
			"Decode text, verify it at verify_at with public_key_pem, and compare with claims " +
			"(the CWT claims by name, the private claim -65537 by its keys; times are NumericDate seconds).",
		Ed25519Seed:  testSeed,
		PublicKeyPEM: string(pemBytes),
		KID:          s.KID(),
		VerifyAt:     testVerifyAt.Format(time.RFC3339),
		Text:         text,
		COSE:         hex.EncodeToString(unpack(t, text)),
		SigStructure: hex.EncodeToString(tbs),
		Claims: vectorClaims{
			Iss: c.Issuer, Sub: c.PermitID,
			Exp: c.Expiry.Unix(), Nbf: c.NotBefore.Unix(), Iat: c.IssuedAt.Unix(),
			Permit: vectorPermit{V: claimsVersion, N: p.HolderName, ID: p.MaskedCitizenID,
				RS: p.ResidenceStartDate, RY: p.ResidenceYears, RM: p.ResidenceMonths,
				ED: p.NextEndorsementDue, VU: p.ValidUntil},
		},
		ClaimsReadable: vectorTimes{
			Exp: c.Expiry.Format(time.RFC3339),
			Nbf: c.NotBefore.Format(time.RFC3339),
			Iat: c.IssuedAt.Format(time.RFC3339),
		},
	}
}

func readVector(t testing.TB) vector {
	t.Helper()
	data, err := os.ReadFile(vectorFile)
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestVector verifies the committed vector independently of how it was
// made, then checks that signing the same claims again gives it byte for
// byte. Run with -update to rewrite it.
func TestVector(t *testing.T) {
	if *update {
		data, err := json.MarshalIndent(makeVector(t), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(vectorFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorFile, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	v := readVector(t)

	pub, err := ParsePublicKeyPEM([]byte(v.PublicKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	if kid, _ := KID(pub); kid != v.KID {
		t.Errorf("KID of public_key_pem = %s, vector says %s", kid, v.KID)
	}
	at, err := time.Parse(time.RFC3339, v.VerifyAt)
	if err != nil {
		t.Fatal(err)
	}
	keys := KeyResolverFunc(func(iss, kid string) (crypto.PublicKey, bool) {
		return pub, iss == v.Claims.Iss && kid == v.KID
	})
	res := Verify(v.Text, keys, at)
	if !res.Valid() || res.KID != v.KID {
		t.Fatalf("Verify at %s = %+v", at, res.Findings)
	}
	w, p := v.Claims, v.Claims.Permit
	want := Claims{
		Issuer:    w.Iss,
		PermitID:  w.Sub,
		IssuedAt:  time.Unix(w.Iat, 0).UTC(),
		NotBefore: time.Unix(w.Nbf, 0).UTC(),
		Expiry:    time.Unix(w.Exp, 0).UTC(),
		Permit: PermitClaims{HolderName: p.N, MaskedCitizenID: p.ID, ResidenceStartDate: p.RS,
			ResidenceYears: p.RY, ResidenceMonths: p.RM, NextEndorsementDue: p.ED, ValidUntil: p.VU},
	}
	if p.V != claimsVersion {
		t.Errorf("vector claims version %d", p.V)
	}
	if *res.Claims != want {
		t.Errorf("claims = %+v\nwant %+v", *res.Claims, want)
	}
	cose, err := hex.DecodeString(v.COSE)
	if err != nil || !bytes.Equal(cose, unpack(t, v.Text)) {
		t.Errorf("cose_hex is not the COSE of text: %v", err)
	}
	tbs, sig := sigStructure(t, v.Text)
	if hex.EncodeToString(tbs) != v.SigStructure || !ed25519.Verify(pub.(ed25519.PublicKey), tbs, sig) {
		t.Error("sig_structure_hex does not match or does not verify")
	}

	if got := makeVector(t); got != v {
		t.Errorf("signing the vector's claims again gives\n%+v\nwant\n%+v\n"+
			"(if the compressor changed its output, credentials re-created on a retry differ; rerun with -update only after deciding that is acceptable)", got, v)
	}
}
