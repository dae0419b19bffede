package store

import (
	"context"
	"errors"
	"fmt"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/statuslist"
)

// ErrIndexTaken is returned when a permit write gives the permit a
// status-list index that another permit of the division already holds.
// Nothing is written; the caller draws another index and writes again.
var ErrIndexTaken = errors.New("store: status list index held by another permit")

// Status-list indices. A permit's status_index, once written, is its entry
// in the division's status list for good (docs/statuslist.md): every store
// refuses a write that gives a second permit the same index
// (ErrIndexTaken), that changes or removes an index once written, or that
// names an index beyond statuslist.MaxSize.

// CheckStatusIndex refuses, before any transaction, a permit whose status
// index lies beyond the largest status list.
func CheckStatusIndex(p *epermitv1.Permit) error {
	if p.StatusIndex != nil && p.GetStatusIndex() >= statuslist.MaxSize {
		return fmt.Errorf("store: permit %s: status index %d is not below the largest list size %d", p.GetId(), p.GetStatusIndex(), statuslist.MaxSize)
	}
	return nil
}

// StatusIndexChange compares the status index of a permit as stored (old,
// nil for a new permit) and as written (next). It returns the index that
// the write assigns, with assigns true, when next holds one that old did
// not; and an error when the write would change or remove the index old
// holds.
func StatusIndexChange(old, next *epermitv1.Permit) (index uint32, assigns bool, err error) {
	if old != nil && old.StatusIndex != nil {
		if next.StatusIndex == nil || next.GetStatusIndex() != old.GetStatusIndex() {
			return 0, false, fmt.Errorf("store: permit %s: its status index %d is fixed once written", old.GetId(), old.GetStatusIndex())
		}
		return 0, false, nil
	}
	return next.GetStatusIndex(), next.StatusIndex != nil, nil
}

// ListState is the status-list state that a permit's recorded status
// publishes: codes 1 to 5 are the same numbers as the recorded statuses;
// every other status (pending, or one computed on read) is Unused.
func ListState(s epermitv1.PermitStatus) statuslist.State {
	switch s {
	case epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE,
		epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED,
		epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED,
		epermitv1.PermitStatus_PERMIT_STATUS_CONFISCATED,
		epermitv1.PermitStatus_PERMIT_STATUS_SUPERSEDED:
		return statuslist.State(s)
	}
	return statuslist.Unused
}

// StatusListKeeper is an optional capability of a store: it keeps the
// division's status list itself, changing the entry of a permit in the
// same atomic step as each write that assigns or changes the permit's
// status index or status, so that a process loads the list at start
// rather than rebuilding it from every permit, and every process sharing
// the store can publish the same list. store/redis and store/bolt
// implement it.
type StatusListKeeper interface {
	// StatusListVersion returns the version of the stored list: it goes
	// up whenever an entry changes.
	StatusListVersion(ctx context.Context) (uint64, error)
	// StatusList returns the stored entries, packed as statuslist packs
	// them (entry i in byte i/2, an even i in the low four bits) up to
	// the byte of the highest entry ever set, with their version, read in
	// one atomic step.
	StatusList(ctx context.Context) (packed []byte, version uint64, err error)
	// StatusListShared reports whether other processes write the list
	// too (replicas on one Redis): then a process loads it again when
	// its version moves; otherwise it keeps the list it loaded in step
	// with its own writes.
	StatusListShared() bool
}
