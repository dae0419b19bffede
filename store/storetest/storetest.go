// Package storetest is the conformance suite that every store.Store backend
// must pass: the one-non-final-permit rule, idempotent request ids,
// optimistic versions, all-or-nothing writes, listing, pending
// cancellations, accounts and their token index, the hash-chained audit
// log, service requests with their outbox and its claims, durability
// across a reopen and behaviour after Close, alone and under concurrency.
//
// A backend's test calls Run with a Backend that opens its stores:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, storetest.Backend{Open: ..., Reopen: ...})
//	}
package storetest

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// Backend opens stores for the suite.
type Backend struct {
	// Open returns a new, empty store; the suite closes it.
	Open func(t *testing.T) store.Store
	// Reopen closes s and opens the same data again (for durability checks).
	Reopen func(t *testing.T, s store.Store) store.Store
}

// Run runs the whole suite as subtests.
func Run(t *testing.T, b Backend) {
	tests := []struct {
		name string
		run  func(*testing.T, Backend)
	}{
		{"CreateGet", testCreateGet},
		{"GetMissing", testGetMissing},
		{"Copies", testCopies},
		{"Versions", testVersions},
		{"VersionsConcurrent", testVersionsConcurrent},
		{"OneActivePermit", testOneActivePermit},
		{"OneActivePermitHolderChange", testOneActivePermitHolderChange},
		{"OneActivePermitConcurrent", testOneActivePermitConcurrent},
		{"Idempotency", testIdempotency},
		{"IdempotencyConcurrent", testIdempotencyConcurrent},
		{"FailedWriteChangesNothing", testFailedWriteChangesNothing},
		{"ListAll", testListAll},
		{"ListPagination", testListPagination},
		{"ListByCitizen", testListByCitizen},
		{"Reopen", testReopen},
		{"Closed", testClosed},
		{"ConcurrentWriters", testConcurrentWriters},
		{"Pending", testPending},
		{"PendingRefusals", testPendingRefusals},
		{"PendingReplay", testPendingReplay},
		{"ResolvePending", testResolvePending},
		{"ResolvePendingRace", testResolvePendingRace},
		{"Accounts", testAccounts},
		{"AccountUpdate", testAccountUpdate},
		{"AuditEmpty", testAuditEmpty},
		{"AuditAppend", testAuditAppend},
		{"AuditConcurrent", testAuditConcurrent},
		{"AuditList", testAuditList},
		{"AuditScan", testAuditScan},
		{"AuditWithWrites", testAuditWithWrites},
		{"Applications", testApplications},
		{"ApplicationIdempotency", testApplicationIdempotency},
		{"ApplicationList", testApplicationList},
		{"ApplicationAudit", testApplicationAudit},
		{"ServiceRequests", testServiceRequests},
		{"ServiceRequestIdempotency", testServiceRequestIdempotency},
		{"ServiceRequestList", testServiceRequestList},
		{"ServiceRequestOutbox", testServiceRequestOutbox},
		{"OutboxStats", testOutboxStats},
		{"ServiceRequestClaims", testServiceRequestClaims},
		{"ServiceRequestClaimsConcurrent", testServiceRequestClaimsConcurrent},
		{"ServiceRequestEvents", testServiceRequestEvents},
		{"ServiceRequestAtomic", testServiceRequestAtomic},
		{"ServiceRequestConcurrent", testServiceRequestConcurrent},
		{"StatusIndex", testStatusIndex},
		{"StatusIndexConcurrent", testStatusIndexConcurrent},
		{"StatusListKept", testStatusListKept},
		{"WritePermits", testWritePermits},
		{"WritePermitsConcurrent", testWritePermitsConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, b) })
	}
}

// open opens a new store that is closed when t ends.
func open(t *testing.T, b Backend) store.Store {
	t.Helper()
	s := b.Open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// hashOf is a request hash for tests.
func hashOf(requestID string) []byte {
	h := sha256.Sum256([]byte("request " + requestID))
	return h[:]
}

// write writes p with PrevVersion p.Version-1, under requestID when set.
func write(t *testing.T, s store.Store, p *epermitv1.Permit, requestID string) error {
	w := store.PermitWrite{PrevVersion: p.GetVersion() - 1, Permit: p}
	if requestID != "" {
		w.RequestID, w.RequestHash = requestID, hashOf(requestID)
	}
	return s.WritePermit(t.Context(), w)
}

// mustWrite is write that fails the test on error.
func mustWrite(t *testing.T, s store.Store, p *epermitv1.Permit, requestID string) {
	t.Helper()
	if err := write(t, s, p, requestID); err != nil {
		t.Fatalf("WritePermit(%s v%d, request %q): %v", p.GetId(), p.GetVersion(), requestID, err)
	}
}

// next returns a copy of p at the next version, changed by change.
func next(p *epermitv1.Permit, change func(*epermitv1.Permit)) *epermitv1.Permit {
	q := proto.CloneOf(p)
	q.Version++
	q.UpdateTime = timestamppb.New(q.GetUpdateTime().AsTime().Add(time.Hour))
	if change != nil {
		change(q)
	}
	return q
}

// withStatus returns a change that sets the recorded status, with the
// suspension or cancellation record that goes with it.
func withStatus(st epermitv1.PermitStatus) func(*epermitv1.Permit) {
	return func(p *epermitv1.Permit) {
		p.Status = st
		switch st {
		case epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED:
			p.Suspension = &epermitv1.Suspension{Reason: "材料核查中", Time: p.GetUpdateTime()}
		case epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED:
			p.Cancellation = &epermitv1.Cancellation{Reason: epermitv1.CancelReason_CANCEL_REASON_LOCAL_HUKOU, Time: p.GetUpdateTime()}
		case epermitv1.PermitStatus_PERMIT_STATUS_CONFISCATED:
			p.Cancellation = &epermitv1.Cancellation{Reason: epermitv1.CancelReason_CANCEL_REASON_FORGED, Time: p.GetUpdateTime()}
		}
	}
}

// finalStatuses are the recorded statuses that store.IsFinal accepts.
var finalStatuses = []epermitv1.PermitStatus{
	epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED,
	epermitv1.PermitStatus_PERMIT_STATUS_CONFISCATED,
	epermitv1.PermitStatus_PERMIT_STATUS_SUPERSEDED,
}

// newFinal returns a new permit (version 1) recorded in a final status.
func newFinal(id, citizenID string, st epermitv1.PermitStatus) *epermitv1.Permit {
	p := NewPermit(id, citizenID)
	withStatus(st)(p)
	return p
}

// wantErr fails the test unless errors.Is(err, target).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// wantActive fails the test unless err is an *store.ActivePermitError naming
// permitID that matches store.ErrActivePermit.
func wantActive(t *testing.T, what string, err error, permitID string) {
	t.Helper()
	var ae *store.ActivePermitError
	if !errors.As(err, &ae) {
		t.Fatalf("%s: got error %v, want *store.ActivePermitError naming %s", what, err, permitID)
	}
	if ae.PermitID != permitID {
		t.Fatalf("%s: ActivePermitError names %s, want %s", what, ae.PermitID, permitID)
	}
	if !errors.Is(err, store.ErrActivePermit) {
		t.Fatalf("%s: errors.Is(%v, ErrActivePermit) is false", what, err)
	}
}

// wantPermit fails the test unless the store holds exactly want.
func wantPermit(t *testing.T, s store.Store, want *epermitv1.Permit) {
	t.Helper()
	got, err := s.GetPermit(t.Context(), want.GetId())
	if err != nil {
		t.Fatalf("GetPermit(%s): %v", want.GetId(), err)
	}
	if !proto.Equal(got, want) {
		t.Fatalf("GetPermit(%s) =\n%v\nwant\n%v", want.GetId(), got, want)
	}
}

// wantMissing fails the test unless the store has no permit with this id.
func wantMissing(t *testing.T, s store.Store, id string) {
	t.Helper()
	_, err := s.GetPermit(t.Context(), id)
	wantErr(t, "GetPermit("+id+")", err, store.ErrNotFound)
}

// wantReplay fails the test unless Replay(requestID) returns the request's
// hash and exactly want.
func wantReplay(t *testing.T, s store.Store, requestID string, want *epermitv1.Permit) {
	t.Helper()
	r, err := s.Replay(t.Context(), requestID)
	if err != nil {
		t.Fatalf("Replay(%q): %v", requestID, err)
	}
	if string(r.RequestHash) != string(hashOf(requestID)) {
		t.Fatalf("Replay(%q) hash = %x, want %x", requestID, r.RequestHash, hashOf(requestID))
	}
	if !proto.Equal(r.Permit, want) {
		t.Fatalf("Replay(%q) permit =\n%v\nwant\n%v", requestID, r.Permit, want)
	}
}

// wantNoReplay fails the test unless no write carried requestID.
func wantNoReplay(t *testing.T, s store.Store, requestID string) {
	t.Helper()
	_, err := s.Replay(t.Context(), requestID)
	wantErr(t, fmt.Sprintf("Replay(%q)", requestID), err, store.ErrNotFound)
}

// list returns every permit that matches filter, read in one page.
func list(t *testing.T, s store.Store, filter store.PermitFilter) []*epermitv1.Permit {
	t.Helper()
	ps, err := s.ListPermits(t.Context(), filter, "", 1<<20)
	if err != nil {
		t.Fatalf("ListPermits(%+v): %v", filter, err)
	}
	return ps
}

// pages lists every permit that matches filter page by page, each page
// starting after the last id of the one before, and returns their ids. It
// fails the test when a page is too long, ends early or does not move on.
func pages(t *testing.T, s store.Store, filter store.PermitFilter, limit int) []string {
	t.Helper()
	var got []string
	after := ""
	for {
		page, err := s.ListPermits(t.Context(), filter, after, limit)
		if err != nil {
			t.Fatalf("ListPermits(%+v, after %q, limit %d): %v", filter, after, limit, err)
		}
		if len(page) > limit {
			t.Fatalf("ListPermits(%+v, after %q, limit %d) returned %d permits", filter, after, limit, len(page))
		}
		for _, p := range page {
			if p.GetId() <= after {
				t.Fatalf("ListPermits(%+v, after %q, limit %d) returned %s, which is not after %q", filter, after, limit, p.GetId(), after)
			}
			after = p.GetId()
		}
		got = append(got, ids(page)...)
		if len(page) < limit {
			return got
		}
	}
}

// ids returns the ids of ps.
func ids(ps []*epermitv1.Permit) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.GetId()
	}
	return out
}

// wantList fails the test unless ListPermits with filter returns exactly
// want, in id order.
func wantList(t *testing.T, s store.Store, filter store.PermitFilter, want ...*epermitv1.Permit) {
	t.Helper()
	want = slices.Clone(want)
	slices.SortFunc(want, func(a, b *epermitv1.Permit) int { return cmp.Compare(a.GetId(), b.GetId()) })
	got := list(t, s, filter)
	if !slices.Equal(ids(got), ids(want)) {
		t.Fatalf("ListPermits(%+v) ids = %v, want %v", filter, ids(got), ids(want))
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("ListPermits(%+v)[%d] =\n%v\nwant\n%v", filter, i, got[i], want[i])
		}
	}
}

// race runs fn(0) … fn(n-1) in n goroutines released together and returns
// their errors by index.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func testCreateGet(t *testing.T, b Backend) {
	s := open(t, b)
	p := NewPermit(PermitID(1), CitizenID(1))
	mustWrite(t, s, p, "")
	wantPermit(t, s, p)

	// A second permit does not disturb the first.
	q := NewPermit(PermitID(2), CitizenID(2))
	mustWrite(t, s, q, "")
	wantPermit(t, s, p)
	wantPermit(t, s, q)
}

func testGetMissing(t *testing.T, b Backend) {
	s := open(t, b)
	wantMissing(t, s, PermitID(1))
	mustWrite(t, s, NewPermit(PermitID(1), CitizenID(1)), "")
	wantMissing(t, s, PermitID(2))
	wantMissing(t, s, PermitID(1)+"0")
	wantMissing(t, s, PermitID(1)[:10])
}

// testCopies checks that the store keeps its own copy: changing a permit
// after writing it, or one that a read returned, changes nothing stored.
func testCopies(t *testing.T, b Backend) {
	s := open(t, b)
	p := NewPermit(PermitID(1), CitizenID(1))
	want := proto.CloneOf(p)
	mustWrite(t, s, p, "r1")
	p.ResidenceAddress = "changed after the write"
	p.Holder.Name = "changed"
	wantPermit(t, s, want)

	got, err := s.GetPermit(t.Context(), want.GetId())
	if err != nil {
		t.Fatal(err)
	}
	got.Holder.CitizenId = "changed"
	got.Endorsements = nil
	wantPermit(t, s, want)

	r, err := s.Replay(t.Context(), "r1")
	if err != nil {
		t.Fatal(err)
	}
	r.Permit.Version = 99
	r.RequestHash[0] ^= 0xff
	wantReplay(t, s, "r1", want)
	wantList(t, s, store.PermitFilter{}, want)
}

func testVersions(t *testing.T, b Backend) {
	s := open(t, b)
	v1 := NewPermit(PermitID(1), CitizenID(1))
	mustWrite(t, s, v1, "")

	// Creating an id that exists is a conflict, whoever the holder.
	for _, citizen := range []string{CitizenID(1), CitizenID(2)} {
		again := NewPermit(PermitID(1), citizen)
		again.ResidenceAddress = "another address"
		wantErr(t, "create existing id", write(t, s, again, ""), store.ErrConflict)
		wantPermit(t, s, v1)
	}

	v2 := next(v1, func(p *epermitv1.Permit) {
		p.ResidenceAddress = "浙江省绍兴市上虞区曹娥街道江扬路 5 号"
	})
	mustWrite(t, s, v2, "")
	wantPermit(t, s, v2)

	// A change computed from version 1 is stale now.
	stale := next(v1, func(p *epermitv1.Permit) { p.ResidenceAddress = "stale" })
	wantErr(t, "stale PrevVersion", write(t, s, stale, ""), store.ErrConflict)
	// So is one from a version that never existed.
	ahead := next(next(v2, nil), nil)
	wantErr(t, "PrevVersion ahead", write(t, s, ahead, ""), store.ErrConflict)
	wantPermit(t, s, v2)

	// Changing a permit that does not exist.
	missing := next(NewPermit(PermitID(2), CitizenID(2)), nil)
	wantErr(t, "PrevVersion > 0 on missing permit", write(t, s, missing, ""), store.ErrNotFound)
	wantMissing(t, s, PermitID(2))

	v3 := next(v2, withStatus(epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED))
	mustWrite(t, s, v3, "")
	wantPermit(t, s, v3)
	v4 := next(v3, withStatus(epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED))
	mustWrite(t, s, v4, "")
	wantPermit(t, s, v4)
}

// testVersionsConcurrent races changes computed from one version: exactly
// one lands.
func testVersionsConcurrent(t *testing.T, b Backend) {
	s := open(t, b)
	v1 := NewPermit(PermitID(1), CitizenID(1))
	mustWrite(t, s, v1, "")
	const n = 32
	changes := make([]*epermitv1.Permit, n)
	for i := range changes {
		changes[i] = next(v1, func(p *epermitv1.Permit) { p.ResidenceAddress = fmt.Sprintf("address %d", i) })
	}
	errs := race(n, func(i int) error { return write(t, s, changes[i], fmt.Sprintf("r%d", i)) })
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("changes %d and %d from version 1 both landed", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrConflict):
			t.Fatalf("change %d: got error %v, want ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no change landed")
	}
	wantPermit(t, s, changes[winner])
	for i := range n {
		if i != winner {
			wantNoReplay(t, s, fmt.Sprintf("r%d", i))
		}
	}
}

func testOneActivePermit(t *testing.T, b Backend) {
	for k, final := range finalStatuses {
		t.Run(final.String(), func(t *testing.T) {
			s := open(t, b)
			citizen := CitizenID(k)
			first := NewPermit(PermitID(1), citizen)
			mustWrite(t, s, first, "")

			second := NewPermit(PermitID(2), citizen)
			wantActive(t, "second permit", write(t, s, second, ""), first.GetId())
			wantMissing(t, s, second.GetId())

			// Changing the active permit itself is fine, and a suspended
			// permit still counts.
			first = next(first, withStatus(epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED))
			mustWrite(t, s, first, "")
			wantActive(t, "second permit while first suspended", write(t, s, second, ""), first.GetId())
			first = next(first, withStatus(epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE))
			mustWrite(t, s, first, "")

			// A final permit never counts, even when the citizen holds an
			// active one.
			old := newFinal(PermitID(0), citizen, final)
			mustWrite(t, s, old, "")
			wantPermit(t, s, old)
			wantActive(t, "second permit after a final one", write(t, s, second, ""), first.GetId())

			// Other citizens are not affected.
			other := NewPermit(PermitID(9), CitizenID(100+k))
			mustWrite(t, s, other, "")

			// Once the first is final, a new one may be issued.
			first = next(first, withStatus(final))
			mustWrite(t, s, first, "")
			mustWrite(t, s, second, "")
			wantPermit(t, s, second)

			// The new one now blocks, even to the old one coming back.
			third := NewPermit(PermitID(3), citizen)
			wantActive(t, "third permit", write(t, s, third, ""), second.GetId())
			revived := next(first, withStatus(epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE))
			wantActive(t, "final permit made active again", write(t, s, revived, ""), second.GetId())
			wantPermit(t, s, first)
			wantList(t, s, store.PermitFilter{CitizenID: citizen}, old, first, second)
		})
	}
}

// testOneActivePermitHolderChange moves a permit to another citizen id: the
// rule follows the permit.
func testOneActivePermitHolderChange(t *testing.T, b Backend) {
	s := open(t, b)
	c1, c2, c3 := CitizenID(1), CitizenID(2), CitizenID(3)
	a := NewPermit(PermitID(1), c1)
	x := NewPermit(PermitID(3), c3)
	mustWrite(t, s, a, "")
	mustWrite(t, s, x, "")

	// To a citizen who holds an active permit: refused.
	toC3 := next(a, func(p *epermitv1.Permit) { p.Holder.CitizenId = c3 })
	wantActive(t, "move to citizen with active permit", write(t, s, toC3, ""), x.GetId())
	wantPermit(t, s, a)

	// To a citizen with none: c1 is free, c2 is taken.
	a = next(a, func(p *epermitv1.Permit) { p.Holder.CitizenId = c2 })
	mustWrite(t, s, a, "")
	wantList(t, s, store.PermitFilter{CitizenID: c1})
	wantList(t, s, store.PermitFilter{CitizenID: c2}, a)
	b1 := NewPermit(PermitID(2), c1)
	mustWrite(t, s, b1, "")
	wantActive(t, "new permit for c2", write(t, s, NewPermit(PermitID(4), c2), ""), a.GetId())

	// A final permit moved away frees nobody and takes nothing.
	a = next(a, withStatus(epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED))
	mustWrite(t, s, a, "")
	a = next(a, func(p *epermitv1.Permit) { p.Holder.CitizenId = c3 })
	mustWrite(t, s, a, "")
	wantList(t, s, store.PermitFilter{CitizenID: c2})
	wantList(t, s, store.PermitFilter{CitizenID: c3}, a, x)
	mustWrite(t, s, NewPermit(PermitID(4), c2), "")
	wantActive(t, "new permit for c3", write(t, s, NewPermit(PermitID(5), c3), ""), x.GetId())
}

// testOneActivePermitConcurrent races many new permits for each of several
// citizens at once: exactly one per citizen lands.
func testOneActivePermitConcurrent(t *testing.T, b Backend) {
	s := open(t, b)
	const citizens, perCitizen = 4, 32
	permits := make([]*epermitv1.Permit, citizens*perCitizen)
	for i := range permits {
		permits[i] = NewPermit(PermitID(i), CitizenID(i%citizens))
	}
	errs := race(len(permits), func(i int) error { return write(t, s, permits[i], fmt.Sprintf("r%d", i)) })

	winners := make([]*epermitv1.Permit, citizens)
	for i, err := range errs {
		c := i % citizens
		if err == nil {
			if winners[c] != nil {
				t.Fatalf("citizen %d got two non-final permits: %s and %s", c, winners[c].GetId(), permits[i].GetId())
			}
			winners[c] = permits[i]
		}
	}
	for c, w := range winners {
		if w == nil {
			t.Fatalf("citizen %d got no permit", c)
		}
	}
	for i, err := range errs {
		w := winners[i%citizens]
		if w == permits[i] {
			wantPermit(t, s, w)
			wantReplay(t, s, fmt.Sprintf("r%d", i), w)
			continue
		}
		wantActive(t, "racing permit "+permits[i].GetId(), err, w.GetId())
		wantMissing(t, s, permits[i].GetId())
		wantNoReplay(t, s, fmt.Sprintf("r%d", i))
	}
	for c, w := range winners {
		wantList(t, s, store.PermitFilter{CitizenID: CitizenID(c)}, w)
	}
	wantList(t, s, store.PermitFilter{}, winners...)
}

func testIdempotency(t *testing.T, b Backend) {
	s := open(t, b)
	v1 := NewPermit(PermitID(1), CitizenID(1))
	mustWrite(t, s, v1, "r1")
	wantReplay(t, s, "r1", v1)

	// The same request id on another write: refused, nothing changes.
	other := NewPermit(PermitID(2), CitizenID(2))
	wantErr(t, "new permit with used request id", write(t, s, other, "r1"), store.ErrDuplicateRequest)
	wantMissing(t, s, other.GetId())
	wantList(t, s, store.PermitFilter{CitizenID: CitizenID(2)})
	v2 := next(v1, withStatus(epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED))
	wantErr(t, "change with used request id", write(t, s, v2, "r1"), store.ErrDuplicateRequest)
	// The request id is checked first: a plain retry of the first write
	// is a duplicate, not a conflict.
	wantErr(t, "retry of the first write", write(t, s, v1, "r1"), store.ErrDuplicateRequest)
	wantPermit(t, s, v1)
	wantReplay(t, s, "r1", v1)

	// Replay keeps what each write stored, after later changes too.
	mustWrite(t, s, v2, "r2")
	v3 := next(v2, withStatus(epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED))
	mustWrite(t, s, v3, "r3")
	wantPermit(t, s, v3)
	wantReplay(t, s, "r1", v1)
	wantReplay(t, s, "r2", v2)
	wantReplay(t, s, "r3", v3)

	// The refused write left its citizen free.
	mustWrite(t, s, other, "r4")
	wantReplay(t, s, "r4", other)

	wantNoReplay(t, s, "unknown")

	// Writes without a request id record none and never collide.
	mustWrite(t, s, NewPermit(PermitID(3), CitizenID(3)), "")
	mustWrite(t, s, NewPermit(PermitID(4), CitizenID(4)), "")
	wantNoReplay(t, s, "")
}

// testIdempotencyConcurrent races different writes under one request id:
// exactly one lands.
func testIdempotencyConcurrent(t *testing.T, b Backend) {
	s := open(t, b)
	const n = 32
	permits := make([]*epermitv1.Permit, n)
	for i := range permits {
		permits[i] = NewPermit(PermitID(i), CitizenID(i))
	}
	errs := race(n, func(i int) error { return write(t, s, permits[i], "same") })
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writes %d and %d with one request id both landed", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrDuplicateRequest):
			t.Fatalf("write %d: got error %v, want ErrDuplicateRequest", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no write landed")
	}
	wantReplay(t, s, "same", permits[winner])
	wantList(t, s, store.PermitFilter{}, permits[winner])
}

// testFailedWriteChangesNothing checks that every refused write leaves the
// permits, both indexes and the request ids as they were.
func testFailedWriteChangesNothing(t *testing.T, b Backend) {
	s := open(t, b)
	c1, c2 := CitizenID(1), CitizenID(2)
	a1 := NewPermit(PermitID(1), c1)
	x := NewPermit(PermitID(2), c2)
	oldA := newFinal(PermitID(0), c1, epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED)
	mustWrite(t, s, a1, "used")
	mustWrite(t, s, x, "")
	mustWrite(t, s, oldA, "")
	a := next(a1, nil)
	mustWrite(t, s, a, "")

	unchanged := func(t *testing.T) {
		t.Helper()
		wantList(t, s, store.PermitFilter{}, oldA, a, x)
		wantList(t, s, store.PermitFilter{CitizenID: c1}, oldA, a)
		wantList(t, s, store.PermitFilter{CitizenID: c2}, x)
		wantActive(t, "probe c1", write(t, s, NewPermit(PermitID(90), c1), ""), a.GetId())
		wantActive(t, "probe c2", write(t, s, NewPermit(PermitID(91), c2), ""), x.GetId())
		wantReplay(t, s, "used", a1)
	}

	cancelA := next(a, withStatus(epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED))
	failures := []struct {
		name  string
		write *epermitv1.Permit
		check func(t *testing.T, err error)
	}{
		{"second active permit", NewPermit(PermitID(3), c1), func(t *testing.T, err error) {
			wantActive(t, "second active permit", err, a.GetId())
		}},
		{"stale cancellation", next(a1, withStatus(epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED)), func(t *testing.T, err error) {
			wantErr(t, "stale cancellation", err, store.ErrConflict)
		}},
		{"move to a citizen with an active permit", next(a, func(p *epermitv1.Permit) { p.Holder.CitizenId = c2 }), func(t *testing.T, err error) {
			wantActive(t, "move", err, x.GetId())
		}},
		{"change of a missing permit", next(NewPermit(PermitID(4), CitizenID(4)), nil), func(t *testing.T, err error) {
			wantErr(t, "missing", err, store.ErrNotFound)
		}},
		{"create over an existing id", newFinal(PermitID(2), CitizenID(5), epermitv1.PermitStatus_PERMIT_STATUS_SUPERSEDED), func(t *testing.T, err error) {
			wantErr(t, "existing id", err, store.ErrConflict)
		}},
	}
	for i, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			requestID := fmt.Sprintf("failed-%d", i)
			f.check(t, write(t, s, f.write, requestID))
			wantNoReplay(t, s, requestID)
			unchanged(t)
		})
	}
	t.Run("used request id", func(t *testing.T) {
		wantErr(t, "used request id", write(t, s, cancelA, "used"), store.ErrDuplicateRequest)
		unchanged(t)
	})

	// The request ids of the failed writes are still free.
	mustWrite(t, s, cancelA, "failed-0")
	wantReplay(t, s, "failed-0", cancelA)
	mustWrite(t, s, NewPermit(PermitID(3), c1), "failed-1")
}

// fill writes n permits with ids 0..n-1 in random order, for citizens that
// each hold one active permit and some final ones, and returns them by id.
func fill(t *testing.T, s store.Store, n int) []*epermitv1.Permit {
	t.Helper()
	permits := make([]*epermitv1.Permit, n)
	for i := range permits {
		// Every citizen c holds ids c, c+10, c+20, …; the last is active.
		citizen := CitizenID(i % 10)
		if i+10 < n {
			permits[i] = newFinal(PermitID(i), citizen, finalStatuses[i%len(finalStatuses)])
		} else {
			permits[i] = NewPermit(PermitID(i), citizen)
		}
	}
	for _, i := range rand.Perm(n) {
		mustWrite(t, s, permits[i], "")
	}
	return permits
}

func testListAll(t *testing.T, b Backend) {
	s := open(t, b)
	wantList(t, s, store.PermitFilter{})
	permits := fill(t, s, 37)
	wantList(t, s, store.PermitFilter{}, permits...)

	// A change shows in the list.
	permits[30] = next(permits[30], withStatus(epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED))
	mustWrite(t, s, permits[30], "")
	wantList(t, s, store.PermitFilter{}, permits...)
}

func testListPagination(t *testing.T, b Backend) {
	s := open(t, b)
	const n = 37
	permits := fill(t, s, n)
	want := ids(permits)
	ctx := t.Context()

	for _, limit := range []int{1, 2, 3, 7, 10, n - 1, n, n + 1, 1000} {
		if got := pages(t, s, store.PermitFilter{}, limit); !slices.Equal(got, want) {
			t.Fatalf("pages of %d: got ids %v, want %v", limit, got, want)
		}
	}

	// after need not be a stored id; the page starts at the next one.
	page, err := s.ListPermits(ctx, store.PermitFilter{}, PermitID(5)+"0", 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(page); !slices.Equal(got, want[6:9]) {
		t.Fatalf("after a missing id: got %v, want %v", got, want[6:9])
	}
	for _, after := range []string{PermitID(n - 1), "~"} {
		page, err = s.ListPermits(ctx, store.PermitFilter{}, after, 5)
		if err != nil || len(page) != 0 {
			t.Fatalf("ListPermits(after %q) = %v, %v; want nothing", after, ids(page), err)
		}
	}
	page, err = s.ListPermits(ctx, store.PermitFilter{}, "", 5)
	if err != nil || !slices.Equal(ids(page), want[:5]) {
		t.Fatalf("ListPermits(limit 5) = %v, %v; want %v", ids(page), err, want[:5])
	}
}

func testListByCitizen(t *testing.T, b Backend) {
	s := open(t, b)
	permits := fill(t, s, 37)
	// Citizen 3 holds ids 3, 13, 23 (final) and 33 (active).
	mine := []*epermitv1.Permit{permits[3], permits[13], permits[23], permits[33]}
	filter := store.PermitFilter{CitizenID: CitizenID(3)}
	wantList(t, s, filter, mine...)
	wantList(t, s, store.PermitFilter{CitizenID: CitizenID(99)})

	for _, limit := range []int{1, 2, 3, 4, 5} {
		if got := pages(t, s, filter, limit); !slices.Equal(got, ids(mine)) {
			t.Fatalf("pages of %d: got ids %v, want %v", limit, got, ids(mine))
		}
	}
	page, err := s.ListPermits(t.Context(), filter, PermitID(13), 10)
	if err != nil || !slices.Equal(ids(page), ids(mine[2:])) {
		t.Fatalf("after %s: got %v, %v; want %v", PermitID(13), ids(page), err, ids(mine[2:]))
	}

	// A citizen id that is a prefix of another is a different citizen.
	longer := NewPermit(PermitID(100), CitizenID(3)+"0")
	mustWrite(t, s, longer, "")
	wantList(t, s, filter, mine...)
	wantList(t, s, store.PermitFilter{CitizenID: CitizenID(3) + "0"}, longer)
	wantList(t, s, store.PermitFilter{CitizenID: CitizenID(3)[:17]})
}

func testReopen(t *testing.T, b Backend) {
	s := b.Open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	c1, c2 := CitizenID(1), CitizenID(2)
	a1 := NewPermit(PermitID(1), c1)
	mustWrite(t, s, a1, "r1")
	a2 := next(a1, withStatus(epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED))
	mustWrite(t, s, a2, "r2")
	old := NewPermit(PermitID(2), c2)
	mustWrite(t, s, old, "r3")
	old = next(old, withStatus(epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED))
	mustWrite(t, s, old, "")
	x := NewPermit(PermitID(3), c2)
	mustWrite(t, s, x, "r4")
	pending := NewPending("pc-1", x, auditStart)
	mustPut(t, s, pending, "r-pending")
	clerk, partner := NewAccount("clerk.test-02", "token-clerk"), NewAccount("partner.test-320506", "")
	mustCreate(t, s, clerk)
	mustCreate(t, s, partner)
	clerk, err := s.UpdateAccount(t.Context(), clerk.Name, func(a *store.Account) error {
		a.TokenHash = tokenHash("token-rotated")
		return nil
	}, accountEntry(clerk.Name))
	if err != nil {
		t.Fatal(err)
	}
	appendAudit(t, s, entryFor(a2.GetId()))
	log := wantChain(t, s, 5)

	check := func(t *testing.T) {
		t.Helper()
		wantPermit(t, s, a2)
		wantList(t, s, store.PermitFilter{}, a2, old, x)
		wantList(t, s, store.PermitFilter{CitizenID: c1}, a2)
		wantList(t, s, store.PermitFilter{CitizenID: c2}, old, x)
		wantReplay(t, s, "r1", a1)
		wantReplay(t, s, "r2", a2)
		wantReplay(t, s, "r4", x)
		wantErr(t, "used request id", write(t, s, NewPermit(PermitID(8), CitizenID(8)), "r3"), store.ErrDuplicateRequest)
		wantActive(t, "second permit for c1", write(t, s, NewPermit(PermitID(9), c1), ""), a2.GetId())
		wantActive(t, "second permit for c2", write(t, s, NewPermit(PermitID(9), c2), ""), x.GetId())
		wantErr(t, "stale version", write(t, s, next(a1, nil), ""), store.ErrConflict)
		wantPendingList(t, s, pending)
		wantPendingReplay(t, s, "r-pending", pending)
		var pe *store.PendingExistsError
		if err := s.WritePending(t.Context(), pendingWrite(store.PendingWrite{Put: NewPending("pc-2", x, auditStart)}, "")); !errors.As(err, &pe) {
			t.Fatalf("second pending cancellation: %v, want a *store.PendingExistsError", err)
		}
		wantAccounts(t, s, clerk, partner)
		wantToken(t, s, "token-rotated", clerk)
		wantToken(t, s, "token-clerk", nil)
		wantErr(t, "taken name", s.CreateAccount(t.Context(), NewAccount(clerk.Name, "token-x"), nil), store.ErrExists)
		got := wantChain(t, s, len(log))
		for i := range log {
			if !proto.Equal(got[i], log[i]) {
				t.Fatalf("audit entry %d changed across a reopen", i+1)
			}
		}
	}
	s = b.Reopen(t, s)
	check(t)

	// Writes after a reopen last too.
	a3 := next(a2, withStatus(epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED))
	mustWrite(t, s, a3, "r5")
	y := NewPermit(PermitID(4), c1)
	mustWrite(t, s, y, "r6")
	s = b.Reopen(t, s)
	wantReplay(t, s, "r5", a3)
	wantReplay(t, s, "r6", y)
	wantList(t, s, store.PermitFilter{CitizenID: c1}, a3, y)
	wantActive(t, "another permit for c1", write(t, s, NewPermit(PermitID(9), c1), ""), y.GetId())
	wantList(t, s, store.PermitFilter{}, a3, old, x, y)
	wantPermit(t, s, a3)
	wantPendingList(t, s, pending)
	wantAccounts(t, s, clerk, partner)

	// The audit log goes on from where it was.
	e := entryFor(y.GetId())
	appendAudit(t, s, e)
	if e.GetSeq() != uint64(len(log))+1 || !bytes.Equal(e.GetPrevHash(), log[len(log)-1].GetHash()) {
		t.Fatalf("entry appended after a reopen: seq %d prev_hash %x; want seq %d after %x", e.GetSeq(), e.GetPrevHash(), len(log)+1, log[len(log)-1].GetHash())
	}
	wantChain(t, s, len(log)+1)
}

func testClosed(t *testing.T, b Backend) {
	s := b.Open(t)
	p := NewPermit(PermitID(1), CitizenID(1))
	mustWrite(t, s, p, "r1")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := t.Context()
	_, err := s.GetPermit(ctx, p.GetId())
	wantErr(t, "GetPermit after Close", err, store.ErrClosed)
	_, err = s.ListPermits(ctx, store.PermitFilter{}, "", 10)
	wantErr(t, "ListPermits after Close", err, store.ErrClosed)
	_, err = s.ListPermits(ctx, store.PermitFilter{CitizenID: CitizenID(1)}, "", 10)
	wantErr(t, "ListPermits by citizen after Close", err, store.ErrClosed)
	_, err = s.Replay(ctx, "r1")
	wantErr(t, "Replay after Close", err, store.ErrClosed)
	wantErr(t, "WritePermit after Close", write(t, s, next(p, nil), ""), store.ErrClosed)
	wantErr(t, "new permit after Close", write(t, s, NewPermit(PermitID(2), CitizenID(2)), ""), store.ErrClosed)
	_, err = s.GetPending(ctx, "pc-1")
	wantErr(t, "GetPending after Close", err, store.ErrClosed)
	_, err = s.ListPending(ctx)
	wantErr(t, "ListPending after Close", err, store.ErrClosed)
	wantErr(t, "WritePending after Close", s.WritePending(ctx, pendingWrite(store.PendingWrite{Put: NewPending("pc-1", p, auditStart)}, "")), store.ErrClosed)
	_, err = s.GetAccount(ctx, "clerk.test-02")
	wantErr(t, "GetAccount after Close", err, store.ErrClosed)
	_, err = s.AccountByTokenHash(ctx, tokenHash("token"))
	wantErr(t, "AccountByTokenHash after Close", err, store.ErrClosed)
	_, err = s.ListAccounts(ctx)
	wantErr(t, "ListAccounts after Close", err, store.ErrClosed)
	wantErr(t, "CreateAccount after Close", s.CreateAccount(ctx, NewAccount("clerk.test-02", "token"), nil), store.ErrClosed)
	_, err = s.UpdateAccount(ctx, "clerk.test-02", func(*store.Account) error { return nil }, nil)
	wantErr(t, "UpdateAccount after Close", err, store.ErrClosed)
	wantErr(t, "AppendAudit after Close", s.AppendAudit(ctx, entryFor(p.GetId())), store.ErrClosed)
	_, err = s.ListAudit(ctx, store.AuditFilter{}, 0, 10)
	wantErr(t, "ListAudit after Close", err, store.ErrClosed)
	_, err = s.ScanAudit(ctx, func(*epermitv1.AuditEntry) error { return nil })
	wantErr(t, "ScanAudit after Close", err, store.ErrClosed)
}

// testConcurrentWriters runs many writers on distinct permits, with readers
// beside them: every write lands.
func testConcurrentWriters(t *testing.T, b Backend) {
	s := open(t, b)
	const writers, each = 50, 8
	final := make([]*epermitv1.Permit, writers*each)
	errs := race(writers+2, func(w int) error {
		if w >= writers {
			// Readers.
			for range each * 4 {
				if _, err := s.ListPermits(t.Context(), store.PermitFilter{}, PermitID(rand.IntN(writers*each)), 20); err != nil {
					return err
				}
				_, err := s.GetPermit(t.Context(), PermitID(rand.IntN(writers*each)))
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
			return nil
		}
		for k := range each {
			i := w*each + k
			p := NewPermit(PermitID(i), CitizenID(i))
			if err := write(t, s, p, fmt.Sprintf("create-%d", i)); err != nil {
				return fmt.Errorf("create %s: %w", p.GetId(), err)
			}
			p = next(p, withStatus(epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED))
			if err := write(t, s, p, fmt.Sprintf("suspend-%d", i)); err != nil {
				return fmt.Errorf("suspend %s: %w", p.GetId(), err)
			}
			final[i] = p
		}
		return nil
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("goroutine %d: %v", i, err)
		}
	}
	wantList(t, s, store.PermitFilter{}, final...)
	for i, p := range final {
		wantReplay(t, s, fmt.Sprintf("suspend-%d", i), p)
	}
}
