// Package store defines the only way epermit reaches persistent state: the
// Store interface, the errors its implementations return, and the rules they
// all enforce atomically (one non-final permit per citizen id, idempotent
// request ids, optimistic versions).
//
// Implementations live in sub-packages (store/bolt) and must pass the
// conformance suite in store/storetest.
//
// # Recorded and computed status
//
// A stored permit's status field holds its recorded state: ACTIVE, SUSPENDED
// (by hand), CANCELLED, CONFISCATED or SUPERSEDED. States that follow from
// dates alone (an overdue endorsement, an expired card) are computed when a
// permit is read and never stored, so no batch job has to flip them.
package store

import (
	"context"
	"errors"
	"fmt"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Store is persistent state of one division's node. All methods are safe for
// concurrent use.
type Store interface {
	// GetPermit returns the permit with this id, or ErrNotFound.
	GetPermit(ctx context.Context, id string) (*epermitv1.Permit, error)

	// ListPermits returns up to limit permits whose id sorts after the given
	// id ("" for the start), in id order, that match the filter.
	ListPermits(ctx context.Context, filter PermitFilter, after string, limit int) ([]*epermitv1.Permit, error)

	// Replay returns what the write with this request id recorded, or
	// ErrNotFound when no write carried it.
	Replay(ctx context.Context, requestID string) (*Replayed, error)

	// WritePermit stores w.Permit atomically, all or nothing, after checking
	// in the same transaction that:
	//   - w.RequestID has not been used before (else ErrDuplicateRequest);
	//   - the permit's stored version is w.PrevVersion, where 0 means it must
	//     not exist yet (else ErrConflict; ErrNotFound when PrevVersion > 0
	//     and there is no such permit);
	//   - when w.Permit is not final, no other permit of the same citizen id
	//     is non-final (else an *ActivePermitError).
	// w.Permit.Version must be w.PrevVersion+1. On success the request id is
	// recorded with the permit as written, for Replay.
	WritePermit(ctx context.Context, w PermitWrite) error

	// Close releases the store. Writes acknowledged before Close are durable.
	Close() error
}

// PermitFilter narrows ListPermits. The zero value matches every permit.
type PermitFilter struct {
	// CitizenID, when set, keeps only permits of this citizen id.
	CitizenID string
}

// PermitWrite is one atomic change of one permit.
type PermitWrite struct {
	// RequestID is the caller's idempotency key; empty for none.
	RequestID string
	// RequestHash fingerprints the request that carried RequestID, so a
	// reused id with a different request can be told apart.
	RequestHash []byte
	// PrevVersion is the version the change was computed from; 0 creates.
	PrevVersion int64
	// Permit is the new state, with Version = PrevVersion+1.
	Permit *epermitv1.Permit
}

// Replayed is what a write recorded under its request id.
type Replayed struct {
	// RequestHash is the fingerprint stored with the request id.
	RequestHash []byte
	// Permit is the permit exactly as that write stored it.
	Permit *epermitv1.Permit
}

var (
	// ErrNotFound is returned when the permit or request id does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict is returned when a write's PrevVersion is not the stored
	// version (a concurrent change won), or a new permit's id is taken.
	ErrConflict = errors.New("store: version conflict")
	// ErrDuplicateRequest is returned when a write's request id was used by an
	// earlier write; Replay tells what that write recorded.
	ErrDuplicateRequest = errors.New("store: request id already used")
	// ErrActivePermit is wrapped by *ActivePermitError.
	ErrActivePermit = errors.New("store: citizen already holds a non-final permit")
	// ErrClosed is returned by a store after Close.
	ErrClosed = errors.New("store: closed")
)

// ActivePermitError is returned when a write would give a citizen a second
// non-final permit. It matches ErrActivePermit with errors.Is.
type ActivePermitError struct {
	// PermitID is the citizen's existing non-final permit.
	PermitID string
}

func (e *ActivePermitError) Error() string {
	return fmt.Sprintf("%v: %s", ErrActivePermit, e.PermitID)
}

// Unwrap makes errors.Is(err, ErrActivePermit) true.
func (e *ActivePermitError) Unwrap() error { return ErrActivePermit }

// IsFinal reports whether a recorded status is final: such a permit never
// changes again and does not count toward the one-permit rule.
func IsFinal(s epermitv1.PermitStatus) bool {
	switch s {
	case epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED,
		epermitv1.PermitStatus_PERMIT_STATUS_CONFISCATED,
		epermitv1.PermitStatus_PERMIT_STATUS_SUPERSEDED:
		return true
	}
	return false
}
