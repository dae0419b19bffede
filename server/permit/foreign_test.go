package permit_test

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/permitid"
	"github.com/yrd-epermit/epermit/server/permit"
	"github.com/yrd-epermit/epermit/trust"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// foreignCredential signs a credential of a permit issued by 310107
// (Putuo) with that member's own key.
func foreignCredential(t *testing.T, signer *credential.Signer, now time.Time) string {
	t.Helper()
	id, err := permitid.New("310107")
	if err != nil {
		t.Fatal(err)
	}
	text, err := signer.Sign(credential.Claims{
		Issuer: "310107", PermitID: id, IssuedAt: now.Add(-time.Hour), NotBefore: now.Add(-time.Hour),
		Expiry: now.AddDate(1, 0, 0),
		Permit: credential.PermitClaims{HolderName: "测试者丁", MaskedCitizenID: "340104********7311",
			ResidenceStartDate: "2025-06-01", ResidenceYears: 0, ResidenceMonths: 9, NextEndorsementDue: "2026-06-01"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// TestVerifyForeignCredential: a credential of another member verifies
// through the trust list to STATUS_UNKNOWN (its status list is not read
// yet), never VALID; without a trust list, or tampered, it is NOT_VALID.
func TestVerifyForeignCredential(t *testing.T) {
	now := at("2026-03-15")
	_, putuoKey, _ := ed25519.GenerateKey(nil)
	putuo, err := credential.NewSigner(putuoKey)
	if err != nil {
		t.Fatal(err)
	}
	text := foreignCredential(t, putuo, now)
	verify := func(h *harness, text string) *epermitv1.VerifyPermitResponse {
		resp, err := h.client.VerifyPermit(context.Background(), &epermitv1.VerifyPermitRequest{
			Subject: &epermitv1.VerifyPermitRequest_CredentialText{CredentialText: text}})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	alone := start(t, permit.DefaultRules())
	if v := verify(alone, text); v.Verdict != epermitv1.Verdict_VERDICT_NOT_VALID ||
		!strings.Contains(v.Findings[1].Detail, "no trust list") {
		t.Fatalf("without a trust list: %v", v)
	}

	registry, _ := trust.NewRegistryKey()
	list := &trust.List{Sequence: 1, IssuedAt: now.Add(-time.Hour), ExpiresAt: now.Add(30 * 24 * time.Hour),
		Members: []trust.Member{{
			Division: "310107", Name: "上海市普陀区", Province: "310000", Endpoint: "127.0.0.1:7701",
			Keys: []trust.IssuerKey{{KID: putuo.KID(), Algorithm: trust.AlgorithmEdDSA, PublicKey: putuo.Public(),
				NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(1, 0, 0)}},
		}}}
	signed, err := trust.Sign(list, registry)
	if err != nil {
		t.Fatal(err)
	}
	holder, err := trust.NewHolder(trust.HolderConfig{Registry: registry.Public(), Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Load(signed); err != nil {
		t.Fatal(err)
	}
	h := startWithTrust(t, permit.DefaultRules(), holder)
	v := verify(h, text)
	if v.Verdict != epermitv1.Verdict_VERDICT_STATUS_UNKNOWN || v.Permit.GetPermitId() == "" {
		t.Fatalf("foreign credential through the trust list: %v", v)
	}
	for _, f := range v.Findings[:4] {
		if !f.Passed {
			t.Fatalf("check %v failed: %v", f.Check, v)
		}
	}
	tampered := text[:len(text)-3] + flip(text[len(text)-3]) + text[len(text)-2:]
	if v := verify(h, tampered); v.Verdict != epermitv1.Verdict_VERDICT_NOT_VALID {
		t.Fatalf("tampered foreign credential: %v", v)
	}
	// The node's own credentials still verify against its register.
	issued := h.issue(t)
	if v := verify(h, issued.Credential.Text); v.Verdict != epermitv1.Verdict_VERDICT_VALID {
		t.Fatalf("own credential: %v", v)
	}
}

// flip returns a different Base45 character than b.
func flip(b byte) string {
	if b == '0' {
		return "1"
	}
	return "0"
}
