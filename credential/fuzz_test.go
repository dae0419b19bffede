package credential

import (
	"crypto"
	"strings"
	"testing"
	"time"
)

// fuzzSetup returns the vector's text, a resolver for its key and its
// verification time.
func fuzzSetup(f *testing.F) (string, KeyResolver, time.Time) {
	v := readVector(f)
	pub, err := ParsePublicKeyPEM([]byte(v.PublicKeyPEM))
	if err != nil {
		f.Fatal(err)
	}
	at, err := time.Parse(time.RFC3339, v.VerifyAt)
	if err != nil {
		f.Fatal(err)
	}
	keys := KeyResolverFunc(func(iss, kid string) (crypto.PublicKey, bool) { return pub, kid == v.KID })
	return v.Text, keys, at
}

// checkDecode decodes and verifies text, which must not panic, and checks
// that Decode and Verify agree.
func checkDecode(t *testing.T, text string, keys KeyResolver, at time.Time) {
	claims, kid, err := Decode(text)
	res := Verify(text, keys, at)
	if len(res.Findings) == 0 || len(res.Findings) > 4 {
		t.Fatalf("%d findings", len(res.Findings))
	}
	if (err == nil) != res.Findings[0].Passed {
		t.Fatalf("Decode error %v, format finding %+v", err, res.Findings[0])
	}
	if err == nil && (*claims != *res.Claims || kid != res.KID) {
		t.Fatalf("Decode = %+v %s, Verify = %+v %s", claims, kid, res.Claims, res.KID)
	}
}

func FuzzDecode(f *testing.F) {
	text, keys, at := fuzzSetup(f)
	body := strings.TrimPrefix(text, Prefix)
	f.Add(text)
	f.Add(text[:len(text)-3])
	f.Add(text[:len(text)/2])
	f.Add(Prefix + body[3:])
	f.Add(Prefix + strings.ToLower(body))
	f.Add(Prefix + body[:30] + "000" + body[33:])
	f.Add(Prefix + body + "000")
	f.Add(Prefix)
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		checkDecode(t, s, keys, at)
	})
}

// FuzzDecodeCOSE fuzzes the COSE bytes under the zlib and Base45 layers,
// which random changes to the text rarely get through.
func FuzzDecodeCOSE(f *testing.F) {
	text, keys, at := fuzzSetup(f)
	d := decoders.Get().(*decoder)
	raw, err := d.inflate(text)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append([]byte(nil), raw...))
	decoders.Put(d)
	f.Add([]byte{0xd2, 0x84, 0x40, 0xa0, 0xf6, 0x40})
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > MaxCOSELength {
			return
		}
		checkDecode(t, pack(raw), keys, at)
	})
}
