package federation

import (
	"crypto"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/server/permit"
	"github.com/yrd-epermit/epermit/statuslist"
	"github.com/yrd-epermit/epermit/store/bolt"
	"github.com/yrd-epermit/epermit/store/redis"
	"github.com/yrd-epermit/epermit/store/redis/redistest"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// newIssuer returns a new issuer key and its credential signer.
func newIssuer(t *testing.T) (ed25519.PrivateKey, *credential.Signer) {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	signer, err := credential.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, signer
}

// published is s's list as it publishes it now, verified with the
// issuer's key.
func published(t *testing.T, s *Status, key ed25519.PrivateKey) *statuslist.Snapshot {
	t.Helper()
	data, _, err := s.Publication(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := statuslist.Verify(data, key.Public(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// TestSharedStatusIndexCollision: two replicas of one division on one
// redis-server draw status-list entries from the same seeded random
// sequence, so the second to issue draws the entry the first just gave:
// the store refuses it (store.ErrIndexTaken) and the service draws again.
// Every permit is issued, with an entry of its own, and both replicas
// then publish the same list, which holds every permit as valid.
func TestSharedStatusIndexCollision(t *testing.T) {
	srv := redistest.Start(t)
	ctx := t.Context()
	key, signer := newIssuer(t)
	const division = "330604"
	seed := [32]byte{6}
	var services []*permit.Service
	var statuses []*Status
	for range 2 {
		st, err := redis.Open(ctx, redis.Options{URL: srv.URL(), Division: division})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		s, err := NewStatus(ctx, st, division, func(time.Time) crypto.Signer { return key }, time.Now, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		s.alloc = statuslist.New(statuslist.Options{Rand: rand.NewChaCha8(seed)})
		if err := s.reload(ctx); err != nil {
			t.Fatal(err)
		}
		s.checked = time.Now().Add(time.Hour) // no reload when assigning: only the store knows the other's entries
		statuses = append(statuses, s)
		services = append(services, permit.New(permit.Config{Store: st, Signer: signer, Division: division,
			Authority: "绍兴市公安局上虞区分局", Status: s}))
	}
	first, _ := statuslist.New(statuslist.Options{Rand: rand.NewChaCha8(seed)}).Assign()

	ids := citizenid.NewGenerator(11)
	indices := map[uint32]string{}
	var issued []*epermitv1.Permit
	for i := range 12 {
		resp, err := services[i%2].IssuePermit(ctx, &epermitv1.IssuePermitRequest{
			RequestId: "collide-" + string(rune('a'+i)),
			Holder: &epermitv1.Holder{Name: "测试者庚", CitizenId: ids.Next(), Ethnicity: "汉",
				HukouAddress: "安徽省合肥市蜀山区测试路1号"},
			ResidenceAddress: "浙江省绍兴市上虞区曹娥街道测试小区2幢301室",
		})
		if err != nil {
			t.Fatalf("issue %d: %v", i, err)
		}
		p := resp.Permit
		if p.StatusIndex == nil {
			t.Fatalf("permit %s has no status index", p.Id)
		}
		if other, ok := indices[p.GetStatusIndex()]; ok {
			t.Fatalf("permits %s and %s both hold index %d", other, p.Id, p.GetStatusIndex())
		}
		indices[p.GetStatusIndex()] = p.Id
		issued = append(issued, p)
	}
	if issued[0].GetStatusIndex() != first || issued[1].GetStatusIndex() == first {
		t.Fatalf("first permits hold %d and %d; the seeded first draw is %d: the second replica did not collide",
			issued[0].GetStatusIndex(), issued[1].GetStatusIndex(), first)
	}

	var snaps []*statuslist.Snapshot
	for _, s := range statuses {
		snaps = append(snaps, published(t, s, key))
	}
	if a, b := snaps[0], snaps[1]; a.Version != b.Version || a.Size != b.Size || a.Digest != b.Digest {
		t.Fatalf("the replicas publish different lists: version %d/%d, size %d/%d", a.Version, b.Version, a.Size, b.Size)
	}
	for _, p := range issued {
		if st, err := snaps[0].Get(p.GetStatusIndex()); err != nil || st != statuslist.Valid {
			t.Fatalf("entry %d of %s = %v, %v; want valid", p.GetStatusIndex(), p.Id, st, err)
		}
	}
}

// TestStatusListAfterRestart: on bbolt the node keeps its list in step
// with its writes and, after a restart, loads from the file the same
// entries (a suspension included), published under a higher version.
func TestStatusListAfterRestart(t *testing.T) {
	ctx := t.Context()
	key, signer := newIssuer(t)
	const division = "330604"
	path := filepath.Join(t.TempDir(), "permits.db")
	open := func() (*bolt.Store, *Status) {
		t.Helper()
		st, err := bolt.Open(path, &bolt.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewStatus(ctx, st, division, func(time.Time) crypto.Signer { return key }, time.Now, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return st, s
	}
	st, status := open()
	svc := permit.New(permit.Config{Store: st, Signer: signer, Division: division,
		Authority: "绍兴市公安局上虞区分局", Status: status})
	ids := citizenid.NewGenerator(12)
	var issued []*epermitv1.Permit
	for i := range 5 {
		resp, err := svc.IssuePermit(ctx, &epermitv1.IssuePermitRequest{
			RequestId: fmt.Sprintf("restart-%d", i),
			Holder: &epermitv1.Holder{Name: "测试者辛", CitizenId: ids.Next(), Ethnicity: "汉",
				HukouAddress: "安徽省合肥市蜀山区测试路1号"},
			ResidenceAddress: "浙江省绍兴市上虞区曹娥街道测试小区2幢301室",
		})
		if err != nil {
			t.Fatal(err)
		}
		issued = append(issued, resp.Permit)
	}
	if _, err := svc.SuspendPermit(ctx, &epermitv1.SuspendPermitRequest{RequestId: "restart-suspend",
		PermitId: issued[0].Id, Version: 1, Reason: "住址核查"}); err != nil {
		t.Fatal(err)
	}
	before := published(t, status, key)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, status = open()
	defer st.Close()
	after := published(t, status, key)
	if after.Version <= before.Version || after.Size != before.Size {
		t.Fatalf("after the restart: version %d -> %d, size %d -> %d", before.Version, after.Version, before.Size, after.Size)
	}
	for i, p := range issued {
		want := statuslist.Valid
		if i == 0 {
			want = statuslist.Suspended
		}
		if got, err := after.Get(p.GetStatusIndex()); err != nil || got != want {
			t.Fatalf("entry %d of %s after the restart = %v, %v; want %v", p.GetStatusIndex(), p.Id, got, err, want)
		}
	}
}
