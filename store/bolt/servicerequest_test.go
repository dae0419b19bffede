package bolt

import (
	"context"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/yrd-epermit/epermit/permitid"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/storetest"
)

// TestServiceRequestFailedWriteLandsNothing makes the audit append of
// some writes fail inside the shared transaction (the log's head is
// removed): those writes land nothing (no request, permit index or outbox
// key, event or request record), and the writes batched with them land
// whole, with events numbered without gaps.
func TestServiceRequestFailedWriteLandsNothing(t *testing.T) {
	s := openTest(t, headlessLog(t), nil)
	defer s.Close()
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			w := store.ServiceRequestWrite{
				RequestID:   fmt.Sprintf("submit-%d", i),
				RequestHash: []byte("hash"),
				Request:     storetest.NewServiceRequest(storetest.ServiceRequestID(i), storetest.PermitID(i)),
				Event:       true,
			}
			if i%2 == 0 {
				w.Audit = storetest.NewAuditEntry("clerk.test-01", "/epermit.v1.ScenarioService/SubmitServiceRequest", w.Request.Id, time.Now())
			}
			errs[i] = s.WriteServiceRequest(t.Context(), w)
		})
	}
	wg.Wait()
	var landed []string
	for i, err := range errs {
		id := storetest.ServiceRequestID(i)
		if i%2 == 1 {
			if err != nil {
				t.Fatalf("write %d, without an audit entry: %v", i, err)
			}
			landed = append(landed, id)
			continue
		}
		if err == nil || errors.Is(err, store.ErrConflict) {
			t.Fatalf("write %d, whose audit append fails: %v, want a storage failure", i, err)
		}
		if _, err := s.GetServiceRequest(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetServiceRequest(%s) after its failed write: %v, want ErrNotFound", id, err)
		}
		if _, err := s.Replay(t.Context(), fmt.Sprintf("submit-%d", i)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Replay of failed write %d: %v, want ErrNotFound", i, err)
		}
		// The permit index names it (added before the commit that
		// failed); the list leaves it out.
		if page, err := s.ListServiceRequests(t.Context(), store.ServiceRequestFilter{PermitID: storetest.PermitID(i)}, "", 10); err != nil || len(page) != 0 {
			t.Fatalf("requests of the permit of failed write %d: %v, %v; want none", i, page, err)
		}
	}
	es, err := s.ServiceRequestEvents(t.Context(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var evIDs []string
	for i, e := range es {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i+1, e.Seq)
		}
		evIDs = append(evIDs, e.Request.GetId())
	}
	due, err := s.ClaimDeliveries(t.Context(), time.Now(), time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	var dueIDs []string
	for _, r := range due {
		dueIDs = append(dueIDs, r.GetId())
	}
	slices.Sort(evIDs)
	if !slices.Equal(evIDs, landed) || !slices.Equal(dueIDs, landed) {
		t.Fatalf("events of %q and due %q, want exactly the writes that landed, %q", evIDs, dueIDs, landed)
	}
}

// TestServiceRequestWriteChecks checks the refusals made before any
// transaction.
func TestServiceRequestWriteChecks(t *testing.T) {
	s := tempStore(t, nil)
	ok := storetest.NewServiceRequest(storetest.ServiceRequestID(1), storetest.PermitID(1))
	for _, tt := range []struct {
		name   string
		change func(*epermitv1.ServiceRequest)
		prev   int64
	}{
		{"no id", func(r *epermitv1.ServiceRequest) { r.Id = "" }, 0},
		{"NUL in the id", func(r *epermitv1.ServiceRequest) { r.Id += "\x00" }, 0},
		{"version 2 for a create", func(r *epermitv1.ServiceRequest) { r.Version = 2 }, 0},
		{"version 2 after version 2", func(r *epermitv1.ServiceRequest) { r.Version = 2 }, 2},
		{"negative previous version", func(r *epermitv1.ServiceRequest) { r.Version = 0 }, -1},
	} {
		r := proto.CloneOf(ok)
		tt.change(r)
		if err := s.WriteServiceRequest(t.Context(), store.ServiceRequestWrite{PrevVersion: tt.prev, Request: r}); err == nil {
			t.Errorf("%s: the write succeeded", tt.name)
		}
	}
	if err := s.WriteServiceRequest(t.Context(), store.ServiceRequestWrite{Request: ok}); err != nil {
		t.Fatalf("a good write after the refused ones: %v", err)
	}
	if page, err := s.ListServiceRequests(t.Context(), store.ServiceRequestFilter{PermitID: "x\x00y"}, "", 10); err != nil || len(page) != 0 {
		t.Fatalf("listing a permit id with a NUL byte: %v, %v; want none", page, err)
	}
}

// TestServiceRequestKeys checks the keys a write leaves as the package
// comment documents them, and that a change of next_attempt_time moves
// its outbox key and one that clears it removes the key.
func TestServiceRequestKeys(t *testing.T) {
	s := tempStore(t, nil)
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	r := storetest.NewServiceRequest(storetest.ServiceRequestID(1), storetest.PermitID(1))
	r.NextAttemptTime = timestamppb.New(at)
	if err := s.WriteServiceRequest(t.Context(), store.ServiceRequestWrite{Request: r, Event: true}); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, s, bucketServiceReqs, r.Id+"=")
	wantKeys(t, s, bucketOutbox, string(deadlinePrefix(at))+r.Id+"=")
	wantKeys(t, s, bucketSREvents, string(seqKeyOf(1))+"=")
	v2 := proto.CloneOf(r)
	v2.Version, v2.PermitId, v2.NextAttemptTime = 2, storetest.PermitID(2), timestamppb.New(at.Add(time.Minute))
	if err := s.WriteServiceRequest(t.Context(), store.ServiceRequestWrite{PrevVersion: 1, Request: v2, Event: true}); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, s, bucketOutbox, string(deadlinePrefix(at.Add(time.Minute)))+r.Id+"=")
	wantKeys(t, s, bucketSREvents, string(seqKeyOf(1))+"=", string(seqKeyOf(2))+"=")
	v3 := proto.CloneOf(v2)
	v3.Version, v3.PermitId, v3.NextAttemptTime = 3, "", nil
	if err := s.WriteServiceRequest(t.Context(), store.ServiceRequestWrite{PrevVersion: 2, Request: v3}); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, s, bucketServiceReqs, r.Id+"=")
	wantKeys(t, s, bucketOutbox)
	wantKeys(t, s, bucketSREvents, string(seqKeyOf(1))+"=", string(seqKeyOf(2))+"=")
	// The event holds the request as written.
	err := s.db.View(func(tx *bbolt.Tx) error {
		want, err := marshalOptions.Marshal(v2)
		if err == nil && string(tx.Bucket(bucketSREvents).Get(seqKeyOf(2))) != string(want) {
			err = errors.New("event 2 is not the deterministic encoding of version 2")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkServiceRequestLikeNode mimics the node's SubmitServiceRequest
// at the store: 50 concurrent writers on a store that starts empty, each
// write a new service request with a time-ordered id, in the outbox, with
// its event, a time-ordered request id and one audit entry, for one of
// 30,000 permits at random, every commit fsync'd. The Deliver variant then also writes each request's delivery
// (out of the outbox, with its event), as the outbox worker does, so that
// half the writes move or delete keys. Besides writes/s it reports the
// writes a commit carried and the pages a write dirtied.
func BenchmarkServiceRequestLikeNode(b *testing.B) {
	b.Run("Submit", func(b *testing.B) { benchmarkServiceRequests(b, false) })
	b.Run("SubmitDeliver", func(b *testing.B) { benchmarkServiceRequests(b, true) })
}

func benchmarkServiceRequests(b *testing.B, deliver bool) {
	s := tempStore(b, nil)
	b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
	tx0 := lastTx(b, s)
	st0 := s.db.Stats()
	var written atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			r, err := submit(ctx, s)
			if err == nil && deliver {
				err = deliverRequest(ctx, s, r)
				written.Add(1)
			}
			if err != nil {
				b.Error(err)
				return
			}
			written.Add(1)
		}
	})
	n := float64(written.Load())
	b.ReportMetric(n/b.Elapsed().Seconds(), "writes/s")
	st1 := s.db.Stats()
	d := st1.Sub(&st0)
	b.ReportMetric(n/float64(lastTx(b, s)-tx0), "writes/commit")
	b.ReportMetric(float64(d.TxStats.GetWrite())/n, "pages/write")
}

// submit writes a new service request, due now, with its event, request
// id and audit entry, and returns it.
func submit(ctx context.Context, s *Store) (*epermitv1.ServiceRequest, error) {
	pid, err := heldPermit()
	if err != nil {
		return nil, err
	}
	id, err := permitid.New("330604")
	if err != nil {
		return nil, err
	}
	r := storetest.NewServiceRequest("S"+id, pid)
	now := timestamppb.Now()
	r.NextAttemptTime, r.CreateTime, r.UpdateTime = now, now, now
	requestID := timeRequestID()
	return r, s.WriteServiceRequest(ctx, store.ServiceRequestWrite{
		RequestID:   requestID,
		RequestHash: []byte("0123456789abcdef0123456789abcdef"),
		Request:     r,
		Event:       true,
		Audit: &epermitv1.AuditEntry{
			Time:      now,
			Actor:     "clerk.test-01",
			Roles:     []epermitv1.Role{epermitv1.Role_ROLE_CLERK},
			Division:  "330604",
			Method:    "/epermit.v1.ScenarioService/SubmitServiceRequest",
			Target:    r.Id,
			RequestId: requestID,
			Outcome:   "OK",
			Purpose:   "公共服务",
		},
	})
}

// heldPermits are the permits the benchmark's requests are for: as many
// as the node benchmark's file holds, issued before the requests.
var heldPermits struct {
	once sync.Once
	ids  []string
	err  error
}

// heldPermit returns one of heldPermits at random, so that the permit
// index keys of new requests land at random places, as they will for
// permits issued over years.
func heldPermit() (string, error) {
	heldPermits.once.Do(func() {
		for range nodeFill {
			id, err := permitid.New("330604")
			if err != nil {
				heldPermits.err = err
				return
			}
			heldPermits.ids = append(heldPermits.ids, id)
		}
	})
	if heldPermits.err != nil {
		return "", heldPermits.err
	}
	return heldPermits.ids[mathrand.IntN(len(heldPermits.ids))], nil
}

// deliverRequest writes r's delivery: ROUTED, out of the outbox, with its
// event and no request id, as the outbox worker does.
func deliverRequest(ctx context.Context, s *Store, r *epermitv1.ServiceRequest) error {
	d := proto.CloneOf(r)
	d.Version++
	d.State = epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_ROUTED
	d.Attempts++
	d.NextAttemptTime = nil
	d.UpdateTime = timestamppb.Now()
	d.History = append(d.History, &epermitv1.StateChange{State: d.State, Time: d.UpdateTime, Actor: "outbox"})
	return s.WriteServiceRequest(ctx, store.ServiceRequestWrite{PrevVersion: r.Version, Request: d, Event: true})
}

// TestDeliveryIsSynced: a request's submission, its claim and the record
// of its delivery leave nothing unsynced. A commit with NoSync set would
// leave its meta page and its pages dirty together, and a power cut could
// then leave the file damaged (docs/storage.md, "Group commit").
func TestDeliveryIsSynced(t *testing.T) {
	s := tempStore(t, nil)
	var commits, unsynced int
	s.writes.update = func(fn func(*bbolt.Tx) error) error {
		commits++
		if s.db.NoSync {
			unsynced++
		}
		return s.db.Update(fn)
	}
	ctx := t.Context()
	if _, err := submit(ctx, s); err != nil {
		t.Fatal(err)
	}
	due, err := s.ClaimDeliveries(ctx, time.Now().Add(time.Second), time.Minute, 1)
	if err != nil || len(due) != 1 {
		t.Fatalf("claimed %d, %v; want 1", len(due), err)
	}
	if err := deliverRequest(ctx, s, due[0]); err != nil {
		t.Fatal(err)
	}
	if commits != 2 || unsynced > 0 {
		t.Fatalf("%d commits, %d of them without fdatasync; want 2 synced (the claim commits nothing)", commits, unsynced)
	}
}
