package storetest

import (
	"errors"
	"sync"
	"testing"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/statuslist"
	"github.com/yrd-epermit/epermit/store"
)

// withIndex returns a change that gives the permit status index i.
func withIndex(i uint32) func(*epermitv1.Permit) {
	return func(p *epermitv1.Permit) { p.StatusIndex = &i }
}

// testStatusIndex: a status index is held by one permit only, whether
// given at issue or when a pending permit comes into force; a refused
// write changes nothing; an index once written is fixed; the store knows
// the indices held after a reopen.
func testStatusIndex(t *testing.T, b Backend) {
	s := b.Open(t)
	t.Cleanup(func() { s.Close() })
	a := NewPermit(PermitID(1), CitizenID(1))
	withIndex(7)(a)
	mustWrite(t, s, a, "si-a")

	taken := NewPermit(PermitID(2), CitizenID(2))
	withIndex(7)(taken)
	wantErr(t, "a second permit with index 7", write(t, s, taken, "si-taken"), store.ErrIndexTaken)
	if _, err := s.GetPermit(t.Context(), taken.GetId()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused permit was written: %v", err)
	}
	if _, err := s.Replay(t.Context(), "si-taken"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused write recorded its request id: %v", err)
	}
	withIndex(8)(taken)
	mustWrite(t, s, taken, "si-taken")

	a = next(a, withStatus(epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED))
	mustWrite(t, s, a, "") // keeps its index
	for name, change := range map[string]func(*epermitv1.Permit){
		"change":  withIndex(9),
		"removal": func(p *epermitv1.Permit) { p.StatusIndex = nil },
	} {
		if err := write(t, s, next(a, change), ""); err == nil {
			t.Fatalf("the %s of a written status index was accepted", name)
		}
	}
	if got, err := s.GetPermit(t.Context(), a.GetId()); err != nil || got.GetVersion() != a.GetVersion() {
		t.Fatalf("after refused index changes: %v, %v", got, err)
	}

	pending := NewPermit(PermitID(3), CitizenID(3))
	pending.Status = epermitv1.PermitStatus_PERMIT_STATUS_PENDING
	mustWrite(t, s, pending, "")
	active := next(pending, withStatus(epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE))
	withIndex(8)(active)
	wantErr(t, "coming into force with a held index", write(t, s, active, ""), store.ErrIndexTaken)
	withIndex(10)(active)
	mustWrite(t, s, active, "")

	tooFar := NewPermit(PermitID(4), CitizenID(4))
	withIndex(statuslist.MaxSize)(tooFar)
	if err := write(t, s, tooFar, ""); err == nil || errors.Is(err, store.ErrIndexTaken) {
		t.Fatalf("an index beyond the largest list: %v, want a plain error", err)
	}

	s = b.Reopen(t, s)
	t.Cleanup(func() { s.Close() })
	for i, index := range []uint32{7, 8, 10} {
		p := NewPermit(PermitID(10+i), CitizenID(10+i))
		withIndex(index)(p)
		wantErr(t, "after reopen, a held index", write(t, s, p, ""), store.ErrIndexTaken)
	}
}

// testStatusIndexConcurrent: of 20 new permits written at once with one
// index, exactly one is written.
func testStatusIndexConcurrent(t *testing.T, b Backend) {
	s := open(t, b)
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p := NewPermit(PermitID(i), CitizenID(i))
			withIndex(4242)(p)
			errs[i] = write(t, s, p, "")
		})
	}
	wg.Wait()
	written := 0
	for _, err := range errs {
		switch {
		case err == nil:
			written++
		case !errors.Is(err, store.ErrIndexTaken):
			t.Fatalf("concurrent write: %v", err)
		}
	}
	if written != 1 {
		t.Fatalf("%d of %d permits with one index were written, want 1", written, n)
	}
}

// testStatusListKept: a store that keeps the status list
// (store.StatusListKeeper) sets each permit's entry to its state with the
// write that changes it, and moves the version only when an entry
// changes. Other stores skip it.
func testStatusListKept(t *testing.T, b Backend) {
	s := open(t, b)
	k, ok := s.(store.StatusListKeeper)
	if !ok {
		t.Skip("the store does not keep the status list")
	}
	list := func() ([]byte, uint64) {
		t.Helper()
		packed, v, err := k.StatusList(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if cheap, err := k.StatusListVersion(t.Context()); err != nil || cheap != v {
			t.Fatalf("StatusListVersion = %d, %v; StatusList says %d", cheap, err, v)
		}
		return packed, v
	}
	state := func(packed []byte, i uint32) statuslist.State {
		if int(i/2) >= len(packed) {
			return statuslist.Unused
		}
		return statuslist.State(packed[i/2] >> (4 * (i % 2)) & 0xf)
	}
	_, v0 := list()
	if v0 == 0 {
		t.Fatal("a new list has version 0")
	}
	even, odd := NewPermit(PermitID(1), CitizenID(1)), NewPermit(PermitID(2), CitizenID(2))
	withIndex(300)(even)
	withIndex(3001)(odd)
	mustWrite(t, s, even, "")
	mustWrite(t, s, odd, "")
	pending := NewPermit(PermitID(3), CitizenID(3))
	pending.Status = epermitv1.PermitStatus_PERMIT_STATUS_PENDING
	mustWrite(t, s, pending, "")
	packed, v1 := list()
	if state(packed, 300) != statuslist.Valid || state(packed, 3001) != statuslist.Valid || v1 < v0+2 {
		t.Fatalf("after two issues: entries %v %v, version %d -> %d", state(packed, 300), state(packed, 3001), v0, v1)
	}
	if len(packed) != 3001/2+1 {
		t.Fatalf("packed list of %d bytes, want up to the byte of entry 3001 (%d)", len(packed), 3001/2+1)
	}
	for i := range uint32(len(packed) * 2) {
		if i != 300 && i != 3001 && state(packed, i) != statuslist.Unused {
			t.Fatalf("entry %d is %v, want unused", i, state(packed, i))
		}
	}
	even = next(even, func(p *epermitv1.Permit) { p.ResidenceAddress += "（变更）" })
	mustWrite(t, s, even, "")
	if _, v := list(); v != v1 {
		t.Fatalf("a change that keeps the state moved the version %d -> %d", v1, v)
	}
	odd = next(odd, withStatus(epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED))
	mustWrite(t, s, odd, "")
	packed, v2 := list()
	if state(packed, 3001) != statuslist.Cancelled || state(packed, 300) != statuslist.Valid || v2 <= v1 {
		t.Fatalf("after a cancellation: entries %v %v, version %d -> %d", state(packed, 300), state(packed, 3001), v1, v2)
	}
	thief := newFinal(PermitID(4), CitizenID(4), epermitv1.PermitStatus_PERMIT_STATUS_CONFISCATED)
	withIndex(300)(thief)
	wantErr(t, "a write taking a held index", write(t, s, thief, ""), store.ErrIndexTaken)
	if packed, v := list(); v != v2 || state(packed, 300) != statuslist.Valid {
		t.Fatalf("a refused write changed the list: entry %v, version %d -> %d", state(packed, 300), v2, v)
	}
}
