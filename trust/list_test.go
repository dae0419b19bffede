package trust

import (
	"crypto"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/credential"
)

// verified returns the test list as Verify returns it.
func verified(t *testing.T, seq uint64) *List {
	t.Helper()
	l, err := Verify(mustSign(t, testList(seq)), registryKey.Public(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestKeyWindow(t *testing.T) {
	old, next := mustKID(shangyuKey.Public()), mustKID(shangyuKey2.Public())
	oldEnd := time.Date(2027, 1, 2, 0, 0, 0, 0, cstZone)
	nextStart := time.Date(2027, 1, 1, 0, 0, 0, 0, cstZone)
	tests := []struct {
		name     string
		division string
		kid      string
		at       time.Time
		want     error
		msg      string
	}{
		{"old key at its start", "330604", old, keyStart, nil, ""},
		{"old key before its start", "330604", old, keyStart.Add(-time.Second), ErrKeyNotValid,
			"key " + old + " of 330604 may sign from 2026-01-01 00:00:00 CST until 2027-01-02 00:00:00 CST, not at 2025-12-31 23:59:59 CST"},
		{"old key in the overlap", "330604", old, nextStart.Add(time.Hour), nil, ""},
		{"old key's last second", "330604", old, oldEnd.Add(-time.Second), nil, ""},
		{"old key at its end", "330604", old, oldEnd, ErrKeyNotValid, "not at 2027-01-02 00:00:00 CST"},
		{"new key before its start", "330604", next, nextStart.Add(-time.Second), ErrKeyNotValid, ""},
		{"new key at its start", "330604", next, nextStart, nil, ""},
		{"another member's key", "330604", mustKID(kunshanKey.Public()), testNow, ErrUnknownKey,
			"member 330604 has no key " + mustKID(kunshanKey.Public())},
		{"garbage kid", "330604", "\x00zz", testNow, ErrUnknownKey, `no key "\x00zz"`},
		{"not a member", "330602", old, testNow, ErrUnknownMember, "division 330602 is not a member"},
		{"P-256 key", "310107", mustKID(putuoKey.Public()), testNow, nil, ""},
	}
	// Hand-built lists look members up without an index; verified ones
	// with it. Both must agree.
	lists := map[string]*List{"verified": verified(t, 1), "hand-built": testList(1)}
	for j := range lists["hand-built"].Members {
		for i := range lists["hand-built"].Members[j].Keys {
			k := &lists["hand-built"].Members[j].Keys[i]
			k.KID = mustKID(k.PublicKey)
		}
	}
	for name, l := range lists {
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				pub, err := l.Key(tt.division, tt.kid, tt.at)
				if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
					t.Fatalf("Key = %v, want %v", err, tt.want)
				}
				if err != nil && !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("error %q does not say %q", err, tt.msg)
				}
				if err == nil {
					if kid, _ := credential.KID(pub); kid != tt.kid {
						t.Errorf("got key %s, want %s", kid, tt.kid)
					}
				}
				// The errors are told apart from each other.
				for _, other := range []error{ErrUnknownMember, ErrUnknownKey, ErrKeyNotValid} {
					if other != tt.want && errors.Is(err, other) {
						t.Errorf("error %q is also %q", err, other)
					}
				}
			})
		}
	}
}

func TestNilList(t *testing.T) {
	var l *List
	if _, ok := l.Member("330604"); ok {
		t.Error("a nil list has a member")
	}
	if _, err := l.Key("330604", "21fe31dfa154a261", testNow); !errors.Is(err, ErrUnknownMember) {
		t.Errorf("Key on a nil list: %v", err)
	}
	// A node without a list passes Holder.Current() along: nothing resolves.
	if _, ok := l.Resolver(testNow).PublicKey("330604", "21fe31dfa154a261"); ok {
		t.Error("a nil list resolved a key")
	}
}

func TestCheckEndpoint(t *testing.T) {
	for _, ok := range []string{"permitd.330604.example:7700", "10.0.0.7:443", "[2001:db8::7]:7700", "localhost:1",
		"permitd.example.:65535", "xn--fiqs8s.example:7700"} {
		if err := CheckEndpoint(ok); err != nil {
			t.Errorf("CheckEndpoint(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "permitd.example", ":7700", "permitd.example:", "permitd.example:07700",
		"https://permitd.example:7700", "permitd.example:7700/path", "-bad.example:7700", "a..b:7700",
		"2001:db8::7:7700", "permitd.example:http", "上虞.example:7700", strings.Repeat("a", 64) + ".example:7700"} {
		if err := CheckEndpoint(bad); err == nil {
			t.Errorf("CheckEndpoint(%q) accepted it", bad)
		}
	}
}

func TestCheckDivision(t *testing.T) {
	tests := []struct{ code, province, msg string }{
		{"330604", "330000", ""},
		{"310107", "310000", ""},
		{"340111", "340000", ""},
		{"330699", "330000", ""}, // not in the shipped table: accepted
		{"330600", "330000", "is a prefecture"},
		{"330000", "330000", "is a province"},
		{"310000", "310000", "is a province"},
		{"110101", "110000", "not in a province of the Yangtze River Delta"},
		{"330604", "", "province is \"\""},
		{"330604", "320000", "is in 330000 浙江省"},
		{"33060", "330000", "six-digit"},
		{"３３０６０４", "330000", "six-digit"},
	}
	for _, tt := range tests {
		err := CheckDivision(tt.code, tt.province)
		if (err == nil) != (tt.msg == "") || err != nil && !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("CheckDivision(%q, %q) = %v, want %q", tt.code, tt.province, err, tt.msg)
		}
	}
}

// signCredential signs a synthetic credential of issuer with key at iat.
func signCredential(t *testing.T, issuer string, key crypto.Signer, iat time.Time) string {
	t.Helper()
	s, err := credential.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	text, err := s.Sign(credential.Claims{
		Issuer:    issuer,
		PermitID:  issuer + "-TESTTRUST0001",
		IssuedAt:  iat,
		NotBefore: iat,
		Expiry:    iat.AddDate(1, 0, 0),
		Permit: credential.PermitClaims{
			HolderName:         "测试者甲",
			MaskedCitizenID:    "330602********1231",
			ResidenceStartDate: "2025-03-10",
			ResidenceYears:     1,
			NextEndorsementDue: "2027-03-10",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func TestVerifyCredential(t *testing.T) {
	l := verified(t, 1)
	inWindow := time.Date(2026, 5, 1, 10, 0, 0, 0, cstZone)
	tests := []struct {
		name   string
		list   *List
		text   string
		now    time.Time
		valid  bool
		failed credential.Check
		detail string
	}{
		{name: "Shangyu, old key", list: l, text: signCredential(t, "330604", shangyuKey, inWindow), now: testNow, valid: true},
		{name: "Putuo, P-256", list: l, text: signCredential(t, "310107", putuoKey, inWindow), now: testNow, valid: true},
		{name: "new key before its window", list: l, text: signCredential(t, "330604", shangyuKey2, inWindow), now: testNow,
			failed: credential.CheckIssuer, detail: "may sign from 2027-01-01 00:00:00 CST until 2028-01-01 00:00:00 CST, " +
				"not at 2026-05-01 10:00:00 CST, when the credential was signed"},
		{name: "the list has expired", list: l, now: time.Date(2027, 2, 1, 0, 0, 0, 0, cstZone), valid: false,
			text:   signCredential(t, "330604", shangyuKey2, time.Date(2027, 1, 15, 0, 0, 0, 0, cstZone)),
			failed: credential.CheckIssuer, detail: "the trust list (sequence 1) expired at 2026-07-01 09:00:00 CST"},
		{name: "old key after its window", list: l, now: testNow,
			text:   signCredential(t, "330604", shangyuKey, time.Date(2027, 1, 2, 0, 0, 0, 0, cstZone)),
			failed: credential.CheckIssuer, detail: "not at 2027-01-02 00:00:00 CST, when the credential was signed"},
		{name: "Kunshan key claimed by Shangyu", list: l, text: signCredential(t, "330604", kunshanKey, inWindow), now: testNow,
			failed: credential.CheckIssuer, detail: "member 330604 has no key " + mustKID(kunshanKey.Public())},
		{name: "not a member", list: l, text: signCredential(t, "330602", kunshanKey, inWindow), now: testNow,
			failed: credential.CheckIssuer, detail: "division 330602 is not a member of the trust list"},
		{name: "no list", list: nil, text: signCredential(t, "330604", shangyuKey, inWindow), now: testNow,
			failed: credential.CheckIssuer, detail: "no trust list is loaded"},
		{name: "garbled", list: l, text: "YRD1:NOT A CREDENTIAL", now: testNow, failed: credential.CheckFormat, detail: "Base45"},
		{name: "signed by an outsider", list: l, now: testNow, failed: credential.CheckIssuer,
			text: signCredential(t, "330604", ed25519.NewKeyFromSeed(make([]byte, 32)), inWindow), detail: "has no key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.list.VerifyCredential(tt.text, tt.now)
			if res.Valid() != tt.valid {
				t.Fatalf("Valid() = %v, findings %+v", res.Valid(), res.Findings)
			}
			if tt.valid {
				return
			}
			last := res.Findings[len(res.Findings)-1]
			if last.Check != tt.failed || last.Passed || !strings.Contains(last.Detail, tt.detail) {
				t.Errorf("last finding %+v, want %v failed saying %q", last, tt.failed, tt.detail)
			}
		})
	}
}

func TestVerifyCredentialRotation(t *testing.T) {
	// A list valid in 2027, with the same keys as the test list.
	in := testList(2)
	in.IssuedAt, in.ExpiresAt = time.Date(2027, 1, 1, 0, 0, 0, 0, cstZone), time.Date(2027, 6, 1, 0, 0, 0, 0, cstZone)
	l, err := Verify(mustSign(t, in), registryKey.Public(), time.Date(2027, 1, 10, 0, 0, 0, 0, cstZone))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2027, 3, 1, 0, 0, 0, 0, cstZone)
	// Signed with the old key before the switch: still verifies after the
	// old key's window has closed, until the credential itself expires.
	if res := l.VerifyCredential(signCredential(t, "330604", shangyuKey, time.Date(2026, 12, 1, 0, 0, 0, 0, cstZone)), now); !res.Valid() {
		t.Errorf("old credential: %+v", res.Findings)
	}
	// Signed with the new key after the switch.
	if res := l.VerifyCredential(signCredential(t, "330604", shangyuKey2, time.Date(2027, 2, 1, 0, 0, 0, 0, cstZone)), now); !res.Valid() {
		t.Errorf("new credential: %+v", res.Findings)
	}
	// Signed with the old key after its window.
	res := l.VerifyCredential(signCredential(t, "330604", shangyuKey, time.Date(2027, 2, 1, 0, 0, 0, 0, cstZone)), now)
	if res.Valid() {
		t.Error("a credential signed with the retired key verified")
	}
	// The resolver agrees.
	if _, ok := l.Resolver(time.Date(2027, 2, 1, 0, 0, 0, 0, cstZone)).PublicKey("330604", mustKID(shangyuKey.Public())); ok {
		t.Error("Resolver returned the retired key")
	}
	if _, ok := l.Resolver(time.Date(2027, 2, 1, 0, 0, 0, 0, cstZone)).PublicKey("330604", mustKID(shangyuKey2.Public())); !ok {
		t.Error("Resolver did not return the new key")
	}
}
