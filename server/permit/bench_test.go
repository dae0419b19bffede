package permit_test

import (
	"context"
	"crypto/ed25519"
	"path/filepath"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/permitid"
	"github.com/yrd-epermit/epermit/server/permit"
	"github.com/yrd-epermit/epermit/statuslist"
	"github.com/yrd-epermit/epermit/store/bolt"
	"github.com/yrd-epermit/epermit/trust"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// BenchmarkVerify compares verifying a credential of this node (signature,
// then the permit's status in the local register) with one of another
// member whose status list is cached (trust list key, signature, cached
// status list entry) and with a permit id of this node (the register
// only), in the same service, without gRPC.
func BenchmarkVerify(b *testing.B) {
	now := at("2026-03-15")
	clock := func() time.Time { return now }
	st, err := bolt.Open(filepath.Join(b.TempDir(), "permits.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	_, ownKey, _ := ed25519.GenerateKey(nil)
	own, _ := credential.NewSigner(ownKey)
	_, putuoKey, _ := ed25519.GenerateKey(nil)
	putuo, _ := credential.NewSigner(putuoKey)

	// Putuo's status list with one valid permit, cached here.
	list := statuslist.New(statuslist.Options{})
	index, _ := list.Assign()
	list.Set(index, statuslist.Valid)
	published, err := list.Publish(putuoKey, "310107", now, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	registry, _ := trust.NewRegistryKey()
	signed, err := trust.Sign(&trust.List{Sequence: 1, IssuedAt: now.Add(-time.Hour), ExpiresAt: now.Add(24 * time.Hour),
		Members: []trust.Member{{Division: "310107", Name: "上海市普陀区", Province: "310000", Endpoint: "127.0.0.1:7701",
			Keys: []trust.IssuerKey{{KID: putuo.KID(), Algorithm: trust.AlgorithmEdDSA, PublicKey: putuo.Public(),
				NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(1, 0, 0)}}}}}, registry)
	if err != nil {
		b.Fatal(err)
	}
	holder, _ := trust.NewHolder(trust.HolderConfig{Registry: registry.Public(), Clock: clock})
	if err := holder.Load(signed); err != nil {
		b.Fatal(err)
	}
	cache := statuslist.NewCache()
	if err := cache.Update("310107", holder.Current().Resolver(now), published, false, now); err != nil {
		b.Fatal(err)
	}

	svc := permit.New(permit.Config{Store: st, Signer: own, Division: division, Authority: "绍兴市公安局上虞区分局",
		Rules: permit.DefaultRules(), Clock: clock, Trust: holder, Statuses: cache, StatusMaxAge: time.Hour})
	ctx := context.Background()
	issued, err := svc.IssuePermit(ctx, &epermitv1.IssuePermitRequest{RequestId: "bench-1",
		Holder: &epermitv1.Holder{Name: "测试者甲", CitizenId: citizenid.NewGenerator(3).Next(), Ethnicity: "汉",
			HukouAddress: "安徽省合肥市蜀山区测试路1号"},
		ResidenceAddress: "浙江省绍兴市上虞区曹娥街道测试小区2幢301室"})
	if err != nil {
		b.Fatal(err)
	}
	foreign := foreignCredentialAt(b, putuo, now, index)

	byText := func(text string) *epermitv1.VerifyPermitRequest {
		return &epermitv1.VerifyPermitRequest{Subject: &epermitv1.VerifyPermitRequest_CredentialText{CredentialText: text}}
	}
	for _, bc := range []struct {
		name string
		req  *epermitv1.VerifyPermitRequest
	}{
		{"Local", byText(issued.Credential.Text)},
		{"CrossCityCached", byText(foreign)},
		{"ByID", &epermitv1.VerifyPermitRequest{Subject: &epermitv1.VerifyPermitRequest_PermitId{PermitId: issued.Permit.Id}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := bc.req
			for b.Loop() {
				v, err := svc.VerifyPermit(ctx, req)
				if err != nil || v.Verdict != epermitv1.Verdict_VERDICT_VALID {
					b.Fatalf("verify = %v, %v", v, err)
				}
			}
		})
	}
}

// foreignCredentialAt signs a 310107 credential naming status list entry index.
func foreignCredentialAt(tb testing.TB, signer *credential.Signer, now time.Time, index uint32) string {
	id, err := permitid.New("310107")
	if err != nil {
		tb.Fatal(err)
	}
	text, err := signer.Sign(credential.Claims{
		Issuer: "310107", PermitID: id, IssuedAt: now.Add(-time.Hour), NotBefore: now.Add(-time.Hour),
		Expiry: now.AddDate(1, 0, 0),
		Permit: credential.PermitClaims{HolderName: "测试者丁", MaskedCitizenID: "340104********7311",
			ResidenceStartDate: "2025-06-01", ResidenceMonths: 9, NextEndorsementDue: "2026-06-01", StatusIndex: &index},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return text
}
