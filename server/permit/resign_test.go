package permit_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"errors"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/server/permit"
	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/bolt"
	"github.com/yrd-epermit/epermit/trust"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// rotatedKeys sign with old before switchAt and with next from then on.
type rotatedKeys struct {
	old, next *credential.Signer
	switchAt  time.Time
}

func (k rotatedKeys) SignerAt(t time.Time) *credential.Signer {
	if t.Before(k.switchAt) {
		return k.old
	}
	return k.next
}

func (k rotatedKeys) Public(kid string) (crypto.PublicKey, bool) {
	for _, s := range []*credential.Signer{k.old, k.next} {
		if s.KID() == kid {
			return s.Public(), true
		}
	}
	return nil, false
}

// racingStore runs race once, just before the first WritePermits reaches
// the store: another call's change lands between the drill's read and its
// write.
type racingStore struct {
	store.Store
	once sync.Once
	race func()
}

func (s *racingStore) WritePermits(ctx context.Context, ws []store.PermitWrite) ([]error, error) {
	s.once.Do(s.race)
	return s.Store.WritePermits(ctx, ws)
}

// TestResignRacingChanges: changes that land between the drill's read of
// a batch and its write are kept. A suspension leaves the credential
// time alone, so the drill reads the permit again and re-signs the
// suspended version; an endorsement gives the permit a credential of the
// new key already, so the drill skips it.
func TestResignRacingChanges(t *testing.T) {
	issued, switchAt, drillAt := at("2025-04-01"), at("2026-03-01"), at("2026-03-15")
	clk := &clock{now: issued}
	bst, err := bolt.Open(filepath.Join(t.TempDir(), "permits.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bst.Close()
	st := &racingStore{Store: bst}
	var keys rotatedKeys
	keys.switchAt = switchAt
	for _, s := range []**credential.Signer{&keys.old, &keys.next} {
		_, k, _ := ed25519.GenerateKey(nil)
		if *s, err = credential.NewSigner(k); err != nil {
			t.Fatal(err)
		}
	}
	registry, _ := trust.NewRegistryKey()
	signed, err := trust.Sign(&trust.List{Sequence: 1, IssuedAt: issued, ExpiresAt: drillAt.AddDate(0, 1, 0),
		Members: []trust.Member{{Division: division, Name: "浙江省绍兴市上虞区", Province: "330000", Endpoint: "127.0.0.1:7700",
			Keys: []trust.IssuerKey{
				{KID: keys.old.KID(), Algorithm: trust.AlgorithmEdDSA, PublicKey: keys.old.Public(), NotBefore: issued.AddDate(-1, 0, 0), NotAfter: switchAt},
				{KID: keys.next.KID(), Algorithm: trust.AlgorithmEdDSA, PublicKey: keys.next.Public(), NotBefore: switchAt, NotAfter: switchAt.AddDate(2, 0, 0)},
			}}}}, registry)
	if err != nil {
		t.Fatal(err)
	}
	holder, _ := trust.NewHolder(trust.HolderConfig{Registry: registry.Public(), Clock: clk.Now})
	if err := holder.Load(signed); err != nil {
		t.Fatal(err)
	}
	svc := permit.New(permit.Config{Store: st, Keys: keys, Division: division, Authority: "绍兴市公安局上虞区分局",
		Rules: permit.DefaultRules(), Clock: clk.Now, Trust: holder})
	ctx := context.Background()
	ids := citizenid.NewGenerator(31)
	var permits []*epermitv1.Permit
	for _, req := range []string{"a", "b", "c", "d"} {
		resp, err := svc.IssuePermit(ctx, &epermitv1.IssuePermitRequest{RequestId: "issue-" + req,
			Holder:           &epermitv1.Holder{Name: "测试者", CitizenId: ids.Next(), Ethnicity: "汉", HukouAddress: "安徽省合肥市蜀山区测试路1号"},
			ResidenceAddress: "浙江省绍兴市上虞区曹娥街道测试小区2幢301室"})
		if err != nil {
			t.Fatal(err)
		}
		permits = append(permits, resp.Permit)
	}
	clk.Set(drillAt)
	suspended, endorsed := permits[0], permits[1]
	st.race = func() {
		if _, err := svc.SuspendPermit(ctx, &epermitv1.SuspendPermitRequest{RequestId: "suspend", PermitId: suspended.Id,
			Version: suspended.Version, Reason: "住址核查"}); err != nil {
			t.Error(err)
		}
		if _, err := svc.EndorsePermit(ctx, &epermitv1.EndorsePermitRequest{RequestId: "endorse", PermitId: endorsed.Id,
			Version: endorsed.Version}); err != nil {
			t.Error(err)
		}
	}

	srv := grpc.NewServer()
	permit.RegisterKeyService(srv, permit.NewResigner(svc))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := epermitv1.NewKeyServiceClient(conn).ResignPermits(ctx, &epermitv1.ResignPermitsRequest{CompromisedKid: keys.old.KID()})
	if err != nil {
		t.Fatal(err)
	}
	var last *epermitv1.ResignPermitsResponse
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		last = resp
	}
	if last.Total != 4 || last.Resigned != 3 || last.Skipped != 1 {
		t.Errorf("last response %v, want total 4, re-signed 3, skipped 1 (the endorsed permit)", last)
	}
	for i, want := range []int64{3, 2, 2, 2} {
		got, err := svc.GetPermit(ctx, &epermitv1.GetPermitRequest{PermitId: permits[i].Id})
		if err != nil {
			t.Fatal(err)
		}
		if got.Permit.Version != want || got.Credential.GetKid() != keys.next.KID() {
			t.Errorf("permit %d: version %d kid %s, want version %d kid %s", i, got.Permit.Version, got.Credential.GetKid(), want, keys.next.KID())
		}
	}
	if got, _ := svc.GetPermit(ctx, &epermitv1.GetPermitRequest{PermitId: suspended.Id}); got.GetPermit().GetSuspension().GetReason() != "住址核查" {
		t.Errorf("the suspension racing the drill was lost: %v", got.GetPermit())
	}
	if got, _ := svc.GetPermit(ctx, &epermitv1.GetPermitRequest{PermitId: endorsed.Id}); len(got.GetPermit().GetEndorsements()) != 1 {
		t.Errorf("the endorsement racing the drill was lost: %v", got.GetPermit())
	}
}
