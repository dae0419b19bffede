package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// auditStart is the time of the suite's first audit entries.
var auditStart = time.Date(2026, 3, 14, 9, 0, 0, 0, cst)

// NewAuditEntry returns an audit entry of a clerk's call about target at
// time at, without seq, prev_hash and hash.
func NewAuditEntry(actor, method, target string, at time.Time) *epermitv1.AuditEntry {
	return &epermitv1.AuditEntry{
		Time:     timestamppb.New(at),
		Actor:    actor,
		Roles:    []epermitv1.Role{epermitv1.Role_ROLE_CLERK},
		Division: "330604",
		Method:   method,
		Target:   target,
		Outcome:  "OK",
		Purpose:  "居住证办理",
	}
}

// entryFor is the audit entry of a change of the permit with this id.
func entryFor(id string) *epermitv1.AuditEntry {
	return NewAuditEntry("clerk.test-01", "/epermit.v1.PermitService/EndorsePermit", id, auditStart)
}

// appendAudit appends e or fails the test.
func appendAudit(t *testing.T, s store.Store, e *epermitv1.AuditEntry) {
	t.Helper()
	if err := s.AppendAudit(t.Context(), e); err != nil {
		t.Fatalf("AppendAudit(%s): %v", e.GetTarget(), err)
	}
}

// auditLog returns every audit entry, in seq order.
func auditLog(t *testing.T, s store.Store) []*epermitv1.AuditEntry {
	t.Helper()
	es, err := s.ListAudit(t.Context(), store.AuditFilter{}, 0, 1<<30)
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	return es
}

// wantChain fails the test unless the audit log holds exactly n entries,
// seq 1 to n, each linked to the one before, and CheckAuditChain finds it
// intact with the head at entry n. It returns the log.
func wantChain(t *testing.T, s store.Store, n int) []*epermitv1.AuditEntry {
	t.Helper()
	log := auditLog(t, s)
	if len(log) != n {
		t.Fatalf("audit log holds %d entries, want %d", len(log), n)
	}
	prev := store.GenesisHash
	for i, e := range log {
		if e.GetSeq() != uint64(i+1) {
			t.Fatalf("audit entry %d has seq %d", i+1, e.GetSeq())
		}
		if !bytes.Equal(e.GetPrevHash(), prev) {
			t.Fatalf("audit entry %d: prev_hash %x, want %x", i+1, e.GetPrevHash(), prev)
		}
		if !bytes.Equal(e.GetHash(), store.AuditHash(e)) {
			t.Fatalf("audit entry %d: hash %x does not match its content", i+1, e.GetHash())
		}
		prev = e.GetHash()
	}
	r, err := store.CheckAuditChain(t.Context(), s)
	if err != nil {
		t.Fatalf("CheckAuditChain: %v", err)
	}
	want := store.AuditReport{Intact: true, Entries: uint64(n), Head: store.AuditHead{Seq: uint64(n), Hash: prev}}
	if n == 0 {
		want.Head.Hash = store.GenesisHash
	}
	if r.Intact != want.Intact || r.Entries != want.Entries || r.FirstBad != 0 || r.Head.Seq != want.Head.Seq || !bytes.Equal(r.Head.Hash, want.Head.Hash) {
		t.Fatalf("CheckAuditChain = %+v, want %+v", r, want)
	}
	return log
}

// wantEntry fails the test unless the log holds e, exactly as the store
// set it on the caller's entry.
func wantEntry(t *testing.T, s store.Store, e *epermitv1.AuditEntry) {
	t.Helper()
	if e.GetSeq() == 0 || len(e.GetHash()) == 0 || len(e.GetPrevHash()) == 0 {
		t.Fatalf("the store did not set seq, prev_hash and hash on the entry it appended: %v", e)
	}
	got, err := s.ListAudit(t.Context(), store.AuditFilter{}, e.GetSeq()-1, 1)
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	if len(got) != 1 || !proto.Equal(got[0], e) {
		t.Fatalf("audit entry %d =\n%v\nwant\n%v", e.GetSeq(), got, e)
	}
}

func testAuditEmpty(t *testing.T, b Backend) {
	s := open(t, b)
	wantChain(t, s, 0)
	head, err := s.ScanAudit(t.Context(), func(e *epermitv1.AuditEntry) error {
		return fmt.Errorf("an empty log holds entry %d", e.GetSeq())
	})
	if err != nil || head.Seq != 0 || len(head.Hash) != 0 {
		t.Fatalf("ScanAudit of an empty log = %+v, %v; want a zero head", head, err)
	}
}

// testAuditAppend appends entries one by one: each gets the seq, prev_hash
// and hash that store.ChainAudit gives it, on the caller's entry and in
// the log.
func testAuditAppend(t *testing.T, b Backend) {
	s := open(t, b)
	var head store.AuditHead
	for i := range 5 {
		e := NewAuditEntry("clerk.test-01", "/epermit.v1.PermitService/GetPermit", PermitID(i), auditStart.Add(time.Duration(i)*time.Minute))
		want := proto.CloneOf(e)
		head = store.ChainAudit(head, want)
		appendAudit(t, s, e)
		if !proto.Equal(e, want) {
			t.Fatalf("appended entry %d =\n%v\nwant\n%v", i+1, e, want)
		}
		wantEntry(t, s, e)
	}
	wantChain(t, s, 5)
}

// testAuditConcurrent runs 50 goroutines at once, some appending entries on
// their own and some writing permits with entries: the log numbers them
// all from 1 without gaps, in one chain.
func testAuditConcurrent(t *testing.T, b Backend) {
	s := open(t, b)
	const goroutines, appenders, each = 50, 30, 8
	entries := make([][]*epermitv1.AuditEntry, goroutines)
	errs := race(goroutines, func(g int) error {
		for k := range each {
			i := g*each + k
			e := NewAuditEntry(fmt.Sprintf("clerk.test-%02d", g), "/epermit.v1.PermitService/GetPermit", PermitID(i), auditStart.Add(time.Duration(i)*time.Second))
			entries[g] = append(entries[g], e)
			if g < appenders {
				if err := s.AppendAudit(t.Context(), e); err != nil {
					return err
				}
				continue
			}
			e.Method = "/epermit.v1.PermitService/IssuePermit"
			w := store.PermitWrite{RequestID: fmt.Sprintf("issue-%d", i), Permit: NewPermit(PermitID(i), CitizenID(i)), Audit: e}
			w.RequestHash = hashOf(w.RequestID)
			if err := s.WritePermit(t.Context(), w); err != nil {
				return err
			}
		}
		return nil
	})
	for g, err := range errs {
		if err != nil {
			t.Fatalf("goroutine %d: %v", g, err)
		}
	}
	log := wantChain(t, s, goroutines*each)
	seen := make(map[uint64]bool)
	for g := range entries {
		last := uint64(0)
		for _, e := range entries[g] {
			if seen[e.GetSeq()] {
				t.Fatalf("two appended entries got seq %d", e.GetSeq())
			}
			seen[e.GetSeq()] = true
			if e.GetSeq() <= last {
				t.Fatalf("goroutine %d appended entry %d after entry %d", g, e.GetSeq(), last)
			}
			last = e.GetSeq()
			if !proto.Equal(log[e.GetSeq()-1], e) {
				t.Fatalf("audit entry %d =\n%v\nwant the appended\n%v", e.GetSeq(), log[e.GetSeq()-1], e)
			}
		}
	}
}

// testAuditList checks ListAudit's filters and its paging by seq.
func testAuditList(t *testing.T, b Backend) {
	s := open(t, b)
	actors := []string{"clerk.test-01", "clerk.test-02", "auditor.test-01"}
	var all []*epermitv1.AuditEntry
	for i := range 30 {
		e := NewAuditEntry(actors[i%3], "/epermit.v1.PermitService/GetPermit", PermitID(i%5), auditStart.Add(time.Duration(i)*time.Minute))
		appendAudit(t, s, e)
		all = append(all, e)
	}
	at := func(minute int) time.Time { return auditStart.Add(time.Duration(minute) * time.Minute) }
	tests := []struct {
		name   string
		filter store.AuditFilter
	}{
		{"everything", store.AuditFilter{}},
		{"actor", store.AuditFilter{Actor: actors[1]}},
		{"target", store.AuditFilter{Target: PermitID(3)}},
		{"actor and target", store.AuditFilter{Actor: actors[0], Target: PermitID(3)}},
		{"start", store.AuditFilter{Start: at(25)}},
		{"end", store.AuditFilter{End: at(4)}},
		{"start and end", store.AuditFilter{Start: at(10), End: at(20)}},
		{"start between entries", store.AuditFilter{Start: at(10).Add(time.Second), End: at(12)}},
		{"window and actor", store.AuditFilter{Start: at(10), End: at(20), Actor: actors[2]}},
		{"end in another zone", store.AuditFilter{End: at(3).UTC()}},
		{"no such actor", store.AuditFilter{Actor: "nobody"}},
		{"no such target", store.AuditFilter{Target: PermitID(99)}},
		{"empty window", store.AuditFilter{Start: at(10), End: at(10)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []*epermitv1.AuditEntry
			for _, e := range all {
				tm := e.GetTime().AsTime()
				if (tt.filter.Start.IsZero() || !tm.Before(tt.filter.Start)) &&
					(tt.filter.End.IsZero() || tm.Before(tt.filter.End)) &&
					(tt.filter.Actor == "" || e.GetActor() == tt.filter.Actor) &&
					(tt.filter.Target == "" || e.GetTarget() == tt.filter.Target) {
					want = append(want, e)
				}
			}
			for _, limit := range []int{1, 2, 7, 30, 1000} {
				var got []*epermitv1.AuditEntry
				after := uint64(0)
				for {
					page, err := s.ListAudit(t.Context(), tt.filter, after, limit)
					if err != nil {
						t.Fatalf("ListAudit(after %d, limit %d): %v", after, limit, err)
					}
					if len(page) > limit {
						t.Fatalf("ListAudit(after %d, limit %d) returned %d entries", after, limit, len(page))
					}
					for _, e := range page {
						if e.GetSeq() <= after {
							t.Fatalf("ListAudit(after %d) returned entry %d", after, e.GetSeq())
						}
						after = e.GetSeq()
					}
					got = append(got, page...)
					if len(page) < limit {
						break
					}
				}
				if !slices.EqualFunc(got, want, func(a, b *epermitv1.AuditEntry) bool { return proto.Equal(a, b) }) {
					t.Fatalf("pages of %d: got seqs %v, want %v", limit, seqs(got), seqs(want))
				}
			}
		})
	}
	for _, tt := range []struct {
		after uint64
		limit int
		want  []uint64
	}{
		{0, 3, []uint64{1, 2, 3}},
		{27, 10, []uint64{28, 29, 30}},
		{30, 10, nil},
		{1 << 62, 10, nil},
		{^uint64(0), 10, nil},
		{0, 0, nil},
		{0, -1, nil},
	} {
		got, err := s.ListAudit(t.Context(), store.AuditFilter{}, tt.after, tt.limit)
		if err != nil || !slices.Equal(seqs(got), tt.want) {
			t.Fatalf("ListAudit(after %d, limit %d) = %v, %v; want %v", tt.after, tt.limit, seqs(got), err, tt.want)
		}
	}
}

// seqs returns the seqs of es.
func seqs(es []*epermitv1.AuditEntry) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.GetSeq())
	}
	return out
}

// testAuditScan checks that ScanAudit passes every entry in order with the
// head, and stops at the first error of fn.
func testAuditScan(t *testing.T, b Backend) {
	s := open(t, b)
	for i := range 10 {
		appendAudit(t, s, entryFor(PermitID(i)))
	}
	log := auditLog(t, s)
	var got []*epermitv1.AuditEntry
	head, err := s.ScanAudit(t.Context(), func(e *epermitv1.AuditEntry) error {
		got = append(got, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(got, log, func(a, b *epermitv1.AuditEntry) bool { return proto.Equal(a, b) }) {
		t.Fatalf("ScanAudit passed seqs %v, want %v", seqs(got), seqs(log))
	}
	if head.Seq != 10 || !bytes.Equal(head.Hash, log[9].GetHash()) {
		t.Fatalf("ScanAudit head = %d %x, want 10 %x", head.Seq, head.Hash, log[9].GetHash())
	}

	stop := errors.New("stop here")
	calls := 0
	_, err = s.ScanAudit(t.Context(), func(e *epermitv1.AuditEntry) error {
		if calls++; e.GetSeq() == 4 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 4 {
		t.Fatalf("ScanAudit stopped by fn: error %v after %d calls; want fn's error after 4", err, calls)
	}
}

// testAuditWithWrites checks that a permit write appends its entry in the
// same transaction, and that a refused write appends nothing.
func testAuditWithWrites(t *testing.T, b Backend) {
	s := open(t, b)
	ctx := t.Context()
	c1, c2 := CitizenID(1), CitizenID(2)
	p := NewPermit(PermitID(1), c1)
	e := entryFor(p.GetId())
	if err := s.WritePermit(ctx, store.PermitWrite{RequestID: "r1", RequestHash: hashOf("r1"), Permit: p, Audit: e}); err != nil {
		t.Fatal(err)
	}
	wantEntry(t, s, e)
	mustWrite(t, s, NewPermit(PermitID(2), c2), "") // without an entry
	wantChain(t, s, 1)

	refused := []struct {
		name   string
		w      store.PermitWrite
		target error
	}{
		{"duplicate request", store.PermitWrite{RequestID: "r1", RequestHash: hashOf("r1"), PrevVersion: 1, Permit: next(p, nil)}, store.ErrDuplicateRequest},
		{"create over an existing id", store.PermitWrite{Permit: NewPermit(p.GetId(), c2)}, store.ErrConflict},
		{"version conflict", store.PermitWrite{PrevVersion: 2, Permit: next(next(p, nil), nil)}, store.ErrConflict},
		{"missing permit", store.PermitWrite{PrevVersion: 1, Permit: next(NewPermit(PermitID(3), CitizenID(3)), nil)}, store.ErrNotFound},
		{"active permit", store.PermitWrite{Permit: NewPermit(PermitID(4), c1)}, store.ErrActivePermit},
		{"missing pending cancellation", store.PermitWrite{PrevVersion: 1, Permit: next(p, withStatus(epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED)), ResolvePending: "pc-none"}, store.ErrNoPending},
	}
	for _, r := range refused {
		t.Run(r.name, func(t *testing.T) {
			r.w.Audit = entryFor(r.w.Permit.GetId())
			wantErr(t, r.name, s.WritePermit(ctx, r.w), r.target)
			wantChain(t, s, 1)
		})
	}
	wantPermit(t, s, p)

	// A change appends its entry after the earlier ones.
	v2 := next(p, withStatus(epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED))
	e2 := entryFor(p.GetId())
	if err := s.WritePermit(ctx, store.PermitWrite{PrevVersion: 1, Permit: v2, Audit: e2}); err != nil {
		t.Fatal(err)
	}
	wantEntry(t, s, e2)
	log := wantChain(t, s, 2)
	if !bytes.Equal(log[1].GetPrevHash(), e.GetHash()) {
		t.Fatalf("entry 2 does not follow entry 1")
	}
}

// race2 runs a and b at once and returns their errors.
func race2(a, b func() error) (errA, errB error) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	wg.Go(func() { <-start; errA = a() })
	wg.Go(func() { <-start; errB = b() })
	close(start)
	wg.Wait()
	return errA, errB
}
