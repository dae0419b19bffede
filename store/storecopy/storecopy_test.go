package storecopy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/permitid"
	"github.com/yrd-epermit/epermit/statuslist"
	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/bolt"
	"github.com/yrd-epermit/epermit/store/redis"
	"github.com/yrd-epermit/epermit/store/redis/redistest"
	"github.com/yrd-epermit/epermit/store/storecopy"
	"github.com/yrd-epermit/epermit/store/storetest"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// division is the division of every test store.
const division = "330604"

// openBolt opens a new bbolt store in the test's temporary folder.
func openBolt(t testing.TB) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "permits.db"), &bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openRedis opens the division's store on the Redis at url (a Cluster
// when cluster is set).
func openRedis(t testing.TB, url string, cluster bool) *redis.Store {
	t.Helper()
	s, err := redis.Open(context.Background(), redis.Options{URL: url, Cluster: cluster, Division: division})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fill is what populate wrote, for reading it back through the Store
// interface.
type fill struct {
	requestIDs []string
	citizens   []string
	permitIDs  []string
	tokens     [][]byte
}

// hashOf is a request fingerprint for the test's request ids.
func hashOf(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

// entry returns an audit entry of the clerk about target.
func entry(method, target string) *epermitv1.AuditEntry {
	return storetest.NewAuditEntry("clerk1", method, target, time.Date(2026, 5, 2, 9, 0, 0, 0, time.UTC))
}

// populate fills s through its ordinary write methods with n permits
// (active, endorsed, suspended, cancelled with a new permit for the same
// citizen), pending cancellations (one withdrawn, one resolved by the
// cancellation it asked for), accounts, applications in several states,
// service requests (due in the outbox, delivered) with their events, and
// extra audit entries for a long chain.
func populate(t testing.TB, s store.Store, n int) *fill {
	t.Helper()
	ctx := context.Background()
	f := &fill{}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("populate: %s: %v", what, err)
		}
	}
	rid := func(what string) string {
		id := fmt.Sprintf("%013d-%s", len(f.requestIDs), what)
		f.requestIDs = append(f.requestIDs, id)
		return id
	}
	admin := storetest.NewAccount("admin", "admin-token")
	must("create admin", s.CreateAccount(ctx, admin, nil))
	clerk := storetest.NewAccount("clerk1", "clerk-token")
	must("create clerk", s.CreateAccount(ctx, clerk, entry("CreateAccount", "clerk1")))
	_, err := s.UpdateAccount(ctx, "clerk1", func(a *store.Account) error { a.Note = "窗口 3"; return nil }, entry("UpdateAccount", "clerk1"))
	must("update clerk", err)
	f.tokens = [][]byte{admin.TokenHash, clerk.TokenHash}

	gen := citizenid.NewGenerator(42)
	write := func(w store.PermitWrite) {
		t.Helper()
		id := rid("permit")
		w.RequestID, w.RequestHash = id, hashOf(id)
		w.Audit = entry("WritePermit", w.Permit.GetId())
		must("write permit "+w.Permit.GetId(), s.WritePermit(ctx, w))
	}
	next := func(p *epermitv1.Permit, change func(*epermitv1.Permit)) *epermitv1.Permit {
		q := proto.CloneOf(p)
		q.Version++
		change(q)
		return q
	}
	var permits []*epermitv1.Permit
	for i := range n {
		id, err := permitid.New(division)
		must("permit id", err)
		citizen := gen.Next()
		p := storetest.NewPermit(id, citizen)
		index := uint32(7 * i) // a status-list entry, as an issued permit has
		p.StatusIndex = &index
		write(store.PermitWrite{Permit: p})
		f.permitIDs = append(f.permitIDs, id)
		f.citizens = append(f.citizens, citizen)
		switch i % 5 {
		case 1: // endorsed
			p = next(p, func(q *epermitv1.Permit) { q.ResidenceYears++ })
			write(store.PermitWrite{PrevVersion: p.Version - 1, Permit: p})
		case 2: // suspended by hand, without a request id
			p = next(p, func(q *epermitv1.Permit) { q.Status = epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED })
			must("suspend", s.WritePermit(ctx, store.PermitWrite{PrevVersion: p.Version - 1, Permit: p, Audit: entry("SuspendPermit", p.Id)}))
		case 3: // cancelled, and a new permit for the same citizen
			p = next(p, func(q *epermitv1.Permit) { q.Status = epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED })
			write(store.PermitWrite{PrevVersion: p.Version - 1, Permit: p})
			id2, err := permitid.New(division)
			must("permit id", err)
			write(store.PermitWrite{Permit: storetest.NewPermit(id2, citizen)})
			f.permitIDs = append(f.permitIDs, id2)
		}
		permits = append(permits, p)
	}
	at := time.Date(2026, 5, 3, 10, 0, 0, 0, time.UTC)
	for i, p := range []*epermitv1.Permit{permits[0], permits[1], permits[min(5, n-1)]} {
		id := rid("pending")
		pc := storetest.NewPending(fmt.Sprintf("pc-%d", i), p, at)
		must("put pending", s.WritePending(ctx, store.PendingWrite{RequestID: id, RequestHash: hashOf(id), Put: pc, Audit: entry("CancelPermit", p.Id)}))
	}
	id := rid("withdraw")
	must("withdraw pending", s.WritePending(ctx, store.PendingWrite{RequestID: id, RequestHash: hashOf(id), Delete: "pc-0", Audit: entry("WithdrawCancellation", permits[0].Id)}))
	cancelled := next(permits[1], func(q *epermitv1.Permit) { q.Status = epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED })
	write(store.PermitWrite{PrevVersion: cancelled.Version - 1, Permit: cancelled, ResolvePending: "pc-1"})

	for i := range max(n/4, 3) {
		a := storetest.NewApplication(storetest.ApplicationID(i), gen.Next())
		id := rid("application")
		must("write application", s.WriteApplication(ctx, store.ApplicationWrite{RequestID: id, RequestHash: hashOf(id), Application: a, Audit: entry("SubmitApplication", a.Id)}))
		if i%3 == 1 {
			b := proto.CloneOf(a)
			b.Version, b.State = 2, epermitv1.ApplicationState_APPLICATION_STATE_APPROVED
			id := rid("approve")
			must("approve application", s.WriteApplication(ctx, store.ApplicationWrite{RequestID: id, RequestHash: hashOf(id), PrevVersion: 1, Application: b, Audit: entry("ApproveApplication", a.Id)}))
		}
	}
	for i := range max(n/4, 3) {
		r := storetest.NewServiceRequest(storetest.ServiceRequestID(i), permits[i%len(permits)].Id)
		r.NextAttemptTime = timestamppb.New(at.Add(time.Duration(i) * time.Minute))
		id := rid("sr")
		must("write service request", s.WriteServiceRequest(ctx, store.ServiceRequestWrite{RequestID: id, RequestHash: hashOf(id), Request: r, Event: true, Audit: entry("SubmitServiceRequest", r.Id)}))
		if i%2 == 1 { // delivered: out of the outbox
			d := proto.CloneOf(r)
			d.Version, d.State, d.NextAttemptTime = 2, epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_ROUTED, nil
			must("deliver service request", s.WriteServiceRequest(ctx, store.ServiceRequestWrite{PrevVersion: 1, Request: d, Event: true}))
		}
	}
	for i := range n {
		must("append audit", s.AppendAudit(ctx, entry("GetPermit", f.permitIDs[i%len(f.permitIDs)])))
	}
	return f
}

// content is everything a store answers through the Store interface about
// what populate wrote, as text.
func content(t testing.TB, s store.Store, f *fill) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	put := func(what string, m proto.Message, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		js, err := protojson.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s\n", what, js)
	}
	for after := ""; ; {
		ps, err := s.ListPermits(ctx, store.PermitFilter{}, after, 7)
		for _, p := range ps {
			put("permit", p, err)
		}
		if err != nil || len(ps) < 7 {
			put("end of permits", &epermitv1.Permit{}, err)
			break
		}
		after = ps[len(ps)-1].Id
	}
	for _, c := range f.citizens {
		ps, err := s.ListPermits(ctx, store.PermitFilter{CitizenID: c}, "", 100)
		for _, p := range ps {
			put("permit of "+c, p, err)
		}
	}
	for _, id := range f.requestIDs {
		r, err := s.Replay(ctx, id)
		if err != nil {
			t.Fatalf("Replay(%s): %v", id, err)
		}
		fmt.Fprintf(&b, "replay %s %x\n", id, r.RequestHash)
		for _, m := range []proto.Message{r.Permit, r.Pending, r.Application, r.ServiceRequest} {
			if m != nil && !proto.Equal(m, m.ProtoReflect().Type().Zero().Interface()) {
				put("  replayed", m, nil)
			}
		}
	}
	pending, err := s.ListPending(ctx)
	for _, pc := range pending {
		put("pending", pc, err)
	}
	accounts, err := s.ListAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accounts {
		fmt.Fprintf(&b, "account %+v\n", *a)
	}
	for _, h := range f.tokens {
		a, err := s.AccountByTokenHash(ctx, h)
		if err != nil {
			t.Fatalf("AccountByTokenHash: %v", err)
		}
		fmt.Fprintf(&b, "token %x %s\n", h, a.Name)
	}
	apps, err := s.ListApplications(ctx, store.ApplicationFilter{}, "", 1000)
	for _, a := range apps {
		put("application", a, err)
	}
	for _, filter := range []store.ApplicationFilter{
		{State: epermitv1.ApplicationState_APPLICATION_STATE_APPROVED},
		{OverdueAt: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		n, err := s.CountApplications(ctx, filter)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "applications %+v: %d\n", filter, n)
	}
	srs, err := s.ListServiceRequests(ctx, store.ServiceRequestFilter{}, "", 1000)
	for _, r := range srs {
		put("service request", r, err)
		mine, err := s.ListServiceRequests(ctx, store.ServiceRequestFilter{PermitID: r.PermitId}, "", 1000)
		for _, m := range mine {
			put("  of its permit", m, err)
		}
	}
	// Claims are not copied: claim with a lease that has run out by the
	// next call, at a time after every next attempt.
	due, err := s.ClaimDeliveries(ctx, time.Now().AddDate(2, 0, 0), time.Nanosecond, 1000)
	for _, r := range due {
		put("due", r, err)
	}
	events, err := s.ServiceRequestEvents(ctx, 0, 100000)
	for _, e := range events {
		put(fmt.Sprintf("event %d", e.Seq), e.Request, err)
	}
	head, err := s.ServiceRequestEventHead(ctx)
	fmt.Fprintf(&b, "event head %d %v\n", head, err)
	audit, err := s.ListAudit(ctx, store.AuditFilter{}, 0, 1000000)
	for _, e := range audit {
		put("audit", e, err)
	}
	report, err := store.CheckAuditChain(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "chain %+v\n", report)
	return b.String()
}

// mustCopy copies from into to and fails the test unless the check finds
// the copy equal.
func mustCopy(t testing.TB, from, to store.Store, opts storecopy.Options) *storecopy.Report {
	t.Helper()
	opts.Division = division
	r, err := storecopy.Copy(context.Background(), from, to, opts)
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if !r.OK() {
		var b bytes.Buffer
		r.Write(&b)
		t.Fatalf("the copy differs:\n%s", b.String())
	}
	return r
}

// wantSame fails the test unless both stores answer alike.
func wantSame(t testing.TB, f *fill, want string, s store.Store, name string) {
	t.Helper()
	if got := content(t, s, f); got != want {
		t.Fatalf("%s answers differently from the source:\n%s", name, firstDiff(want, got))
	}
}

// firstDiff shows the first line where two texts differ.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\nwant %s\ngot  %s", i+1, wl, gl)
		}
	}
	return "(equal)"
}

// TestRoundTrip copies a populated bbolt store to Redis and that copy to a
// new bbolt file: all three answer alike through the Store interface, and
// the digests of every kind are equal.
func TestRoundTrip(t *testing.T) {
	src := openBolt(t)
	f := populate(t, src, 60)
	want := content(t, src, f)
	// Claims of deliveries stay behind: on each copy the requests are due.
	claimAt := time.Now().AddDate(3, 0, 0) // after content's claims have run out
	claim := func(s store.Store) int {
		t.Helper()
		rs, err := s.ClaimDeliveries(context.Background(), claimAt, time.Hour, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	due := claim(src)
	if due == 0 || claim(src) != 0 {
		t.Fatalf("the source's outbox: %d due, then claimed", due)
	}
	srv := redistest.Start(t)
	mid := openRedis(t, srv.URL(), false)
	r1 := mustCopy(t, src, mid, storecopy.Options{BatchSize: 37})
	wantSame(t, f, want, mid, "the Redis copy")
	wantStatusList(t, src, mid)
	if n := claim(mid); n != due {
		t.Errorf("%d requests due on the Redis copy of a store whose %d were claimed, want %d", n, due, due)
	}
	back := openBolt(t)
	r2 := mustCopy(t, mid, back, storecopy.Options{})
	wantSame(t, f, want, back, "the bbolt copy of the Redis copy")
	if n := claim(back); n != due {
		t.Errorf("%d requests due on the bbolt copy of a store whose %d were claimed, want %d", n, due, due)
	}
	for i, k := range r1.Kinds {
		if k.Source == 0 && k.Kind != store.KindPending {
			t.Errorf("no %s records were copied", k.Kind)
		}
		if !bytes.Equal(k.SourceDigest, r2.Kinds[i].TargetDigest) {
			t.Errorf("%s: the digest of the round trip differs from the source's", k.Kind)
		}
	}
	if r1.TargetHead.Seq < 150 {
		t.Errorf("audit head %d: want a long chain", r1.TargetHead.Seq)
	}
	// The copy works on: the indexes were imported with the records.
	ctx := context.Background()
	p, err := back.GetPermit(ctx, f.permitIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	q := proto.CloneOf(p)
	q.Version++
	fresh := citizenid.NewGenerator(99)
	for _, s := range []store.Store{mid, back} {
		other, err := permitid.New(division)
		if err != nil {
			t.Fatal(err)
		}
		err = s.WritePermit(ctx, store.PermitWrite{Permit: storetest.NewPermit(other, p.Holder.CitizenId)})
		if !errors.Is(err, store.ErrActivePermit) {
			t.Errorf("%T: a second permit for a citizen of the copy: %v, want a refusal", s, err)
		}
		if err := s.WritePermit(ctx, store.PermitWrite{RequestID: f.requestIDs[0], RequestHash: hashOf("x"), PrevVersion: p.Version, Permit: q}); !errors.Is(err, store.ErrDuplicateRequest) {
			t.Errorf("%T: a copied request id used again: %v, want ErrDuplicateRequest", s, err)
		}
		if err := s.WritePermit(ctx, store.PermitWrite{PrevVersion: p.Version, Permit: q, Audit: entry("EndorsePermit", p.Id)}); err != nil {
			t.Errorf("%T: a write on the copy: %v", s, err)
		}
		// The status indices came along: a new permit cannot take one.
		third, err := permitid.New(division)
		if err != nil {
			t.Fatal(err)
		}
		taken := storetest.NewPermit(third, fresh.Next())
		taken.StatusIndex = p.StatusIndex
		if err := s.WritePermit(ctx, store.PermitWrite{Permit: taken}); !errors.Is(err, store.ErrIndexTaken) {
			t.Errorf("%T: a new permit given a copied permit's status index: %v, want ErrIndexTaken", s, err)
		}
		if report, err := store.CheckAuditChain(ctx, s); err != nil || !report.Intact || report.Head.Seq != r1.TargetHead.Seq+1 {
			t.Errorf("%T: audit chain after a write on the copy: %+v, %v", s, report, err)
		}
	}
}

// TestRefusals: a target that holds anything, a source of another
// division, and an empty source are refused, and the target is left as
// it was.
func TestRefusals(t *testing.T) {
	ctx := context.Background()
	src := openBolt(t)
	populate(t, src, 5)
	dst := openBolt(t)
	if err := dst.CreateAccount(ctx, storetest.NewAccount("admin", "another-token"), nil); err != nil {
		t.Fatal(err)
	}
	_, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Division: division})
	if !errors.Is(err, storecopy.ErrNotEmpty) || !strings.Contains(err.Error(), `account "admin"`) {
		t.Errorf("copy into a store with an account: %v, want ErrNotEmpty naming the account", err)
	}
	if ps, _ := dst.ListPermits(ctx, store.PermitFilter{}, "", 10); len(ps) != 0 {
		t.Errorf("the refused copy wrote %d permits", len(ps))
	}
	empty := openBolt(t)
	_, err = storecopy.Copy(ctx, src, empty, storecopy.Options{Division: "310107"})
	if err == nil || !strings.Contains(err.Error(), "of division 330604, not 310107") {
		t.Errorf("copy of a 330604 store as 310107: %v, want a refusal naming both", err)
	}
	if _, err := storecopy.Copy(ctx, openBolt(t), empty, storecopy.Options{Division: division}); err == nil || !strings.Contains(err.Error(), "holds nothing") {
		t.Errorf("copy of an empty store: %v, want a refusal", err)
	}
	n := 0
	if err := empty.Export(ctx, func(store.Record) error { n++; return nil }); err != nil || n != 0 {
		t.Errorf("after the refusals the target holds %d records (%v), want none", n, err)
	}
}

// TestImportRefusesMalformed: a batch with one malformed record writes
// nothing, on either backend, and the error names the record.
func TestImportRefusesMalformed(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	p := storetest.NewPermit(storetest.PermitID(1), storetest.CitizenID(1))
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	good := store.Record{Kind: store.KindPermit, Key: []byte(p.Id), Value: data}
	for name, bad := range map[string]store.Record{
		"key not the value's id": {Kind: store.KindPermit, Key: []byte("330604-other"), Value: data},
		"not protobuf":           {Kind: store.KindApplication, Key: []byte("A1"), Value: []byte{0xff, 0xff}},
		"audit key not 8 bytes":  {Kind: store.KindAudit, Key: []byte{1}, Value: nil},
		"unknown kind":           {Kind: "citizen", Key: []byte("x"), Value: nil},
		"bad request record":     {Kind: store.KindRequest, Key: []byte("r1"), Value: []byte{9, 0}},
	} {
		for _, s := range []store.Store{openBolt(t), openRedis(t, srv.URL(), false)} {
			err := s.(store.Importer).Import(ctx, []store.Record{good, bad})
			if !errors.Is(err, store.ErrMalformedRecord) || !strings.Contains(err.Error(), string(bad.Kind)) {
				t.Errorf("%T: import with a record whose %s: %v, want an error naming it", s, name, err)
			}
			if _, err := s.GetPermit(ctx, p.Id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%T: the refused batch wrote its good record: %v", s, err)
			}
			s.Close()
		}
	}
}

// TestResume interrupts a copy into Redis and into bbolt midway (its
// context is cancelled after the third batch), is refused without
// Resume, and resumed: the copy is then equal, without duplicate audit
// entries or events, and resuming again changes nothing.
func TestResume(t *testing.T) {
	src := openBolt(t)
	f := populate(t, src, 40)
	want := content(t, src, f)
	srv := redistest.Start(t)
	for name, dst := range map[string]store.Store{"redis": openRedis(t, srv.URL(), false), "bolt": openBolt(t)} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			batches := 0
			_, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Division: division, BatchSize: 20, Progress: func(phase string, done, total int64) {
				if phase == "copy" && done > 0 {
					if batches++; batches == 3 {
						cancel()
					}
				}
			}})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted copy: %v, want context.Canceled", err)
			}
			if _, err := storecopy.Copy(context.Background(), src, dst, storecopy.Options{Division: division}); !errors.Is(err, storecopy.ErrNotEmpty) {
				t.Fatalf("copy into the half-copied store without Resume: %v, want ErrNotEmpty", err)
			}
			mustCopy(t, src, dst, storecopy.Options{Resume: true, BatchSize: 20})
			wantSame(t, f, want, dst, "the resumed copy")
			mustCopy(t, src, dst, storecopy.Options{Resume: true})
			wantSame(t, f, want, dst, "the copy resumed again")
		})
	}
}

// TestCluster copies a bbolt store to a Redis Cluster of three masters
// and back.
func TestCluster(t *testing.T) {
	src := openBolt(t)
	f := populate(t, src, 30)
	want := content(t, src, f)
	url := redistest.StartCluster(t, 3)
	mid := openRedis(t, url, true)
	mustCopy(t, src, mid, storecopy.Options{BatchSize: 50})
	wantSame(t, f, want, mid, "the copy on Cluster")
	back := openBolt(t)
	mustCopy(t, mid, back, storecopy.Options{})
	wantSame(t, f, want, back, "the bbolt copy of the Cluster copy")
}

// BenchmarkCopy copies 100,000 permits with their request records and
// audit entries (300,000 records) from bbolt to Redis (appendfsync
// always) and back to a new bbolt file (fsync'd), and reports records and permits a second, the check
// of each copy included; -v logs every run.
func BenchmarkCopy(b *testing.B) {
	const permits = 100_000
	src := openBolt(b)
	fillFast(b, src, permits)
	srv := redistest.Start(b)
	o, err := goredis.ParseURL(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	admin := goredis.NewClient(o)
	defer admin.Close()
	for b.Loop() {
		b.StopTimer()
		if err := admin.FlushAll(context.Background()).Err(); err != nil {
			b.Fatal(err)
		}
		mid := openRedis(b, srv.URL(), false)
		back, err := bolt.Open(filepath.Join(b.TempDir(), "permits.db"), nil) // fsync'd, as permitd copy writes
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for _, leg := range []struct {
			name     string
			from, to store.Store
		}{{"bolt-to-redis", src, mid}, {"redis-to-bolt", mid, back}} {
			start := time.Now()
			r := mustCopy(b, leg.from, leg.to, storecopy.Options{})
			secs := time.Since(start).Seconds()
			var records int64
			for _, k := range r.Kinds {
				records += k.Source
			}
			b.Logf("%s: %d records in %.1f s: %.0f records/s, %.0f permits/s", leg.name, records, secs, float64(records)/secs, permits/secs)
			b.ReportMetric(float64(records)/secs, leg.name+"-records/s")
			b.ReportMetric(permits/secs, leg.name+"-permits/s")
		}
		mid.Close()
		back.Close()
	}
}

// fillFast writes n permits, each with a request id and an audit entry,
// with 32 concurrent writers.
func fillFast(b testing.TB, s store.Store, n int) {
	gen := citizenid.NewGenerator(7)
	citizens := make([]string, n)
	for i := range citizens {
		citizens[i] = gen.Next()
	}
	var wg sync.WaitGroup
	const writers = 32
	for w := range writers {
		wg.Go(func() {
			for i := w; i < n; i += writers {
				id, err := permitid.New(division)
				if err != nil {
					b.Error(err)
					return
				}
				rid := fmt.Sprintf("%013d-fill", i)
				err = s.WritePermit(context.Background(), store.PermitWrite{RequestID: rid, RequestHash: hashOf(rid),
					Permit: storetest.NewPermit(id, citizens[i]), Audit: entry("IssuePermit", id)})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// wantStatusList checks that the status list a Redis store keeps holds
// the entry of every permit of src, and nothing else.
func wantStatusList(t *testing.T, src store.Store, copied store.StatusListKeeper) {
	t.Helper()
	ctx := context.Background()
	packed, _, err := copied.StatusList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint32]statuslist.State{}
	permits, err := src.ListPermits(ctx, store.PermitFilter{}, "", 10_000)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range permits {
		if p.StatusIndex != nil {
			want[p.GetStatusIndex()] = store.ListState(p.GetStatus())
		}
	}
	if len(want) == 0 {
		t.Fatal("the source's permits hold no status index")
	}
	for i := range uint32(len(packed) * 2) {
		got := statuslist.State(packed[i/2] >> (4 * (i % 2)) & 0xf)
		if got != want[i] {
			t.Errorf("status list entry %d of the copy: %v, want %v", i, got, want[i])
		}
		delete(want, i)
	}
	if len(want) > 0 {
		t.Errorf("the copy's status list lacks the entries %v", want)
	}
}
