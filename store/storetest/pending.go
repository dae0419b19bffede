package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// NewPending returns a pending cancellation with this id of p at its
// current version, requested at time at.
func NewPending(id string, p *epermitv1.Permit, at time.Time) *epermitv1.PendingCancellation {
	return &epermitv1.PendingCancellation{
		Id:            id,
		PermitId:      p.GetId(),
		PermitVersion: p.GetVersion(),
		Reason:        epermitv1.CancelReason_CANCEL_REASON_LOCAL_HUKOU,
		Note:          "持证人已落户本地",
		RequestedBy:   "supervisor.test-01",
		RequestTime:   timestamppb.New(at),
	}
}

// pendingWrite returns a write of w's Put or Delete under requestID, when
// set, with an audit entry.
func pendingWrite(w store.PendingWrite, requestID string) store.PendingWrite {
	if requestID != "" {
		w.RequestID, w.RequestHash = requestID, hashOf(requestID)
	}
	target := w.Delete
	if w.Put != nil {
		target = w.Put.GetId()
	}
	w.Audit = NewAuditEntry("supervisor.test-01", "/epermit.v1.PermitService/RequestCancellation", target, auditStart)
	return w
}

// mustPut adds pc under requestID or fails the test.
func mustPut(t *testing.T, s store.Store, pc *epermitv1.PendingCancellation, requestID string) {
	t.Helper()
	if err := s.WritePending(t.Context(), pendingWrite(store.PendingWrite{Put: pc}, requestID)); err != nil {
		t.Fatalf("WritePending(put %s): %v", pc.GetId(), err)
	}
}

// mustDelete removes the pending cancellation id under requestID or fails
// the test.
func mustDelete(t *testing.T, s store.Store, id, requestID string) {
	t.Helper()
	if err := s.WritePending(t.Context(), pendingWrite(store.PendingWrite{Delete: id}, requestID)); err != nil {
		t.Fatalf("WritePending(delete %s): %v", id, err)
	}
}

// wantPendingList fails the test unless ListPending returns exactly want,
// in order, and GetPending returns each of them.
func wantPendingList(t *testing.T, s store.Store, want ...*epermitv1.PendingCancellation) {
	t.Helper()
	got, err := s.ListPending(t.Context())
	if err != nil {
		t.Fatalf("ListPending: %v", err)
	}
	if !slices.EqualFunc(got, want, func(a, b *epermitv1.PendingCancellation) bool { return proto.Equal(a, b) }) {
		t.Fatalf("ListPending = %v, want %v", pendingIDs(got), pendingIDs(want))
	}
	for _, w := range want {
		g, err := s.GetPending(t.Context(), w.GetId())
		if err != nil || !proto.Equal(g, w) {
			t.Fatalf("GetPending(%s) = %v, %v; want %v", w.GetId(), g, err, w)
		}
	}
}

// pendingIDs returns the ids of ps.
func pendingIDs(ps []*epermitv1.PendingCancellation) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.GetId())
	}
	return out
}

// wantNoPending fails the test unless there is no pending cancellation id.
func wantNoPending(t *testing.T, s store.Store, id string) {
	t.Helper()
	_, err := s.GetPending(t.Context(), id)
	wantErr(t, "GetPending("+id+")", err, store.ErrNoPending)
}

// wantPendingReplay fails the test unless Replay(requestID) returns the
// request's hash and exactly the pending cancellation want.
func wantPendingReplay(t *testing.T, s store.Store, requestID string, want *epermitv1.PendingCancellation) {
	t.Helper()
	r, err := s.Replay(t.Context(), requestID)
	if err != nil {
		t.Fatalf("Replay(%q): %v", requestID, err)
	}
	if string(r.RequestHash) != string(hashOf(requestID)) || r.Permit != nil || !proto.Equal(r.Pending, want) {
		t.Fatalf("Replay(%q) = hash %x, permit %v, pending %v; want hash %x and pending %v",
			requestID, r.RequestHash, r.Permit, r.Pending, hashOf(requestID), want)
	}
}

// testPending adds, reads, lists and removes pending cancellations.
func testPending(t *testing.T, b Backend) {
	s := open(t, b)
	ps := make([]*epermitv1.Permit, 4)
	for i := range ps {
		ps[i] = NewPermit(PermitID(i), CitizenID(i))
		mustWrite(t, s, ps[i], "")
	}
	wantPendingList(t, s)
	wantNoPending(t, s, "pc-missing")

	// Listed by request time, not by id or by when they were added.
	pa := NewPending("pc-a", ps[0], auditStart.Add(5*time.Minute))
	pb := NewPending("pc-b", ps[1], auditStart.Add(2*time.Minute))
	pc := NewPending("pc-c", ps[2], auditStart.Add(time.Minute))
	for _, p := range []*epermitv1.PendingCancellation{pa, pb, pc} {
		mustPut(t, s, p, "")
	}
	wantPendingList(t, s, pc, pb, pa)
	wantChain(t, s, 3)

	// The store keeps its own copy.
	pa.Note = "changed after the write"
	got, err := s.GetPending(t.Context(), "pc-b")
	if err != nil {
		t.Fatal(err)
	}
	got.PermitVersion = 99
	pa.Note = NewPending("pc-a", ps[0], auditStart).GetNote()
	wantPendingList(t, s, pc, pb, pa)

	// Removed, and the permit may have another one.
	mustDelete(t, s, "pc-b", "")
	wantNoPending(t, s, "pc-b")
	wantPendingList(t, s, pc, pa)
	pd := NewPending("pc-d", ps[1], auditStart)
	mustPut(t, s, pd, "")
	wantPendingList(t, s, pd, pc, pa)
	wantChain(t, s, 5)
}

// testPendingRefusals checks every refusal of WritePending: each returns
// its error and writes nothing, neither the change, nor the request record,
// nor the audit entry.
func testPendingRefusals(t *testing.T, b Backend) {
	s := open(t, b)
	p1 := NewPermit(PermitID(1), CitizenID(1))
	mustWrite(t, s, p1, "used")
	p1 = next(p1, nil)
	mustWrite(t, s, p1, "")
	p2 := NewPermit(PermitID(2), CitizenID(2))
	mustWrite(t, s, p2, "")
	pending2 := NewPending("pc-2", p2, auditStart)
	mustPut(t, s, pending2, "")
	entries := len(auditLog(t, s))

	stale := NewPending("pc-new", p1, auditStart)
	stale.PermitVersion = 1
	ahead := NewPending("pc-new", p1, auditStart)
	ahead.PermitVersion = 3
	missing := NewPending("pc-new", NewPermit(PermitID(9), CitizenID(9)), auditStart)
	tests := []struct {
		name      string
		w         store.PendingWrite
		requestID string
		check     func(t *testing.T, err error) // nil: any error
	}{
		{"permit missing", store.PendingWrite{Put: missing}, "r-1", wantIs(store.ErrNotFound)},
		{"stale version", store.PendingWrite{Put: stale}, "r-2", wantIs(store.ErrConflict)},
		{"version ahead", store.PendingWrite{Put: ahead}, "r-3", wantIs(store.ErrConflict)},
		{"another pending for the permit", store.PendingWrite{Put: NewPending("pc-new", p2, auditStart)}, "r-4", func(t *testing.T, err error) {
			var pe *store.PendingExistsError
			if !errors.As(err, &pe) || pe.PendingID != "pc-2" || !errors.Is(err, store.ErrPendingExists) {
				t.Fatalf("got error %v, want a *store.PendingExistsError naming pc-2", err)
			}
		}},
		{"id of a pending for another permit", store.PendingWrite{Put: NewPending("pc-2", p1, auditStart)}, "r-5", nil},
		{"delete missing", store.PendingWrite{Delete: "pc-none"}, "r-6", wantIs(store.ErrNoPending)},
		{"put under a used request id", store.PendingWrite{Put: NewPending("pc-new", p1, auditStart)}, "used", wantIs(store.ErrDuplicateRequest)},
		{"delete under a used request id", store.PendingWrite{Delete: "pc-2"}, "used", wantIs(store.ErrDuplicateRequest)},
		{"neither put nor delete", store.PendingWrite{}, "r-7", nil},
		{"both put and delete", store.PendingWrite{Put: NewPending("pc-new", p1, auditStart), Delete: "pc-2"}, "r-8", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.WritePending(t.Context(), pendingWrite(tt.w, tt.requestID))
			if err == nil {
				t.Fatal("write succeeded")
			}
			if tt.check != nil {
				tt.check(t, err)
			}
			wantPendingList(t, s, pending2)
			wantNoPending(t, s, "pc-new")
			if tt.requestID != "used" {
				wantNoReplay(t, s, tt.requestID)
			}
			wantReplay(t, s, "used", NewPermit(PermitID(1), CitizenID(1)))
			wantPermit(t, s, p1)
			wantChain(t, s, entries)
		})
	}

	// The refused request ids are still free.
	mustPut(t, s, NewPending("pc-new", p1, auditStart), "r-2")
	wantPendingReplay(t, s, "r-2", NewPending("pc-new", p1, auditStart))
}

// wantIs returns a check that err matches target.
func wantIs(target error) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		wantErr(t, "write", err, target)
	}
}

// testPendingReplay checks that the request ids of pending writes record
// the pending cancellation as added and as removed.
func testPendingReplay(t *testing.T, b Backend) {
	s := open(t, b)
	p := NewPermit(PermitID(1), CitizenID(1))
	mustWrite(t, s, p, "")
	pc := NewPending("pc-1", p, auditStart)
	w := pendingWrite(store.PendingWrite{Put: pc}, "r-put")
	if err := s.WritePending(t.Context(), w); err != nil {
		t.Fatal(err)
	}
	wantEntry(t, s, w.Audit)
	wantPendingReplay(t, s, "r-put", pc)

	// Removed under another request id: that one records it as removed.
	mustDelete(t, s, "pc-1", "r-delete")
	wantPendingReplay(t, s, "r-delete", pc)
	wantPendingList(t, s)

	// A retry of the put is a duplicate, though the put would pass now.
	wantErr(t, "retried put", s.WritePending(t.Context(), pendingWrite(store.PendingWrite{Put: pc}, "r-put")), store.ErrDuplicateRequest)
	wantErr(t, "retried delete", s.WritePending(t.Context(), pendingWrite(store.PendingWrite{Delete: "pc-1"}, "r-delete")), store.ErrDuplicateRequest)
	wantPendingList(t, s)
	wantPendingReplay(t, s, "r-put", pc)
	wantChain(t, s, 2)

	// A pending request id is taken for permit writes too.
	wantErr(t, "permit write under a pending request id", write(t, s, next(p, nil), "r-put"), store.ErrDuplicateRequest)
	mustPut(t, s, NewPending("pc-2", p, auditStart), "")
	wantNoReplay(t, s, "")
}

// testResolvePending checks that a permit write removes the pending
// cancellation it resolves in the same transaction, and writes nothing at
// all when that cancellation is gone.
func testResolvePending(t *testing.T, b Backend) {
	s := open(t, b)
	ctx := t.Context()
	c1, c2, c3 := CitizenID(1), CitizenID(2), CitizenID(3)
	p1 := NewPermit(PermitID(1), c1)
	p2 := NewPermit(PermitID(2), c2)
	p3 := NewPermit(PermitID(3), c3)
	for _, p := range []*epermitv1.Permit{p1, p2, p3} {
		mustWrite(t, s, p, "")
	}
	mustPut(t, s, NewPending("pc-1", p1, auditStart), "")
	mustPut(t, s, NewPending("pc-2", p2, auditStart), "")
	pending3 := NewPending("pc-3", p3, auditStart)
	mustPut(t, s, pending3, "")
	entries := 3

	// Approved: the permit is cancelled and the pending cancellation goes.
	cancelled := next(p1, withStatus(epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED))
	e := entryFor(p1.GetId())
	err := s.WritePermit(ctx, store.PermitWrite{RequestID: "approve-1", RequestHash: hashOf("approve-1"), PrevVersion: 1, Permit: cancelled, ResolvePending: "pc-1", Audit: e})
	if err != nil {
		t.Fatal(err)
	}
	entries++
	wantPermit(t, s, cancelled)
	wantNoPending(t, s, "pc-1")
	wantEntry(t, s, e)
	wantReplay(t, s, "approve-1", cancelled)
	mustWrite(t, s, NewPermit(PermitID(11), c1), "") // the citizen is free again

	// Rejected first: the approval that follows writes nothing.
	mustDelete(t, s, "pc-2", "")
	entries++
	late := next(p2, withStatus(epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED))
	err = s.WritePermit(ctx, store.PermitWrite{RequestID: "approve-2", RequestHash: hashOf("approve-2"), PrevVersion: 1, Permit: late, ResolvePending: "pc-2", Audit: entryFor(p2.GetId())})
	wantErr(t, "approval of a rejected cancellation", err, store.ErrNoPending)
	wantPermit(t, s, p2)
	wantNoReplay(t, s, "approve-2")
	wantActive(t, "new permit for the citizen of the unchanged permit", write(t, s, NewPermit(PermitID(12), c2), ""), p2.GetId())
	wantChain(t, s, entries)

	// A pending cancellation of another permit is not resolved by this one.
	other := next(p2, withStatus(epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED))
	err = s.WritePermit(ctx, store.PermitWrite{PrevVersion: 1, Permit: other, ResolvePending: "pc-3", Audit: entryFor(p2.GetId())})
	if err == nil {
		t.Fatal("a write resolved the pending cancellation of another permit")
	}
	wantPermit(t, s, p2)
	wantPendingList(t, s, pending3)
	wantChain(t, s, entries)
}

// testResolvePendingRace races an approval (a permit write resolving the
// pending cancellation) against a rejection (its removal): exactly one
// wins, every time.
func testResolvePendingRace(t *testing.T, b Backend) {
	s := open(t, b)
	ctx := t.Context()
	approvals := 0
	for i := range 20 {
		p := NewPermit(PermitID(i), CitizenID(i))
		mustWrite(t, s, p, "")
		id := fmt.Sprintf("pc-%d", i)
		mustPut(t, s, NewPending(id, p, auditStart), "")
		cancelled := next(p, withStatus(epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED))
		approve, reject := race2(
			func() error {
				return s.WritePermit(ctx, store.PermitWrite{PrevVersion: 1, Permit: cancelled, ResolvePending: id, Audit: entryFor(p.GetId())})
			},
			func() error {
				return s.WritePending(ctx, pendingWrite(store.PendingWrite{Delete: id}, ""))
			})
		switch {
		case approve == nil && reject == nil:
			t.Fatalf("round %d: approval and rejection both succeeded", i)
		case approve == nil:
			approvals++
			wantErr(t, "rejection after approval", reject, store.ErrNoPending)
			wantPermit(t, s, cancelled)
		case reject == nil:
			wantErr(t, "approval after rejection", approve, store.ErrNoPending)
			wantPermit(t, s, p)
		default:
			t.Fatalf("round %d: approval failed with %v and rejection with %v", i, approve, reject)
		}
		wantNoPending(t, s, id)
	}
	wantChain(t, s, 20*2) // each put, and the winner: the loser appends nothing
	t.Logf("%d of 20 approvals won", approvals)
}
