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
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

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
	//     is non-final (else an *ActivePermitError);
	//   - when w.Permit gets a status index, no other permit holds it (else
	//     ErrIndexTaken), and a status index once written is neither
	//     changed nor removed (statusindex.go).
	// w.Permit.Version must be w.PrevVersion+1. On success the request id is
	// recorded with the permit as written, for Replay.
	WritePermit(ctx context.Context, w PermitWrite) error

	// WritePermits makes each write of ws as WritePermit would, with the
	// same checks, in order, each checked against the state that the
	// writes before it left (so of two writes in ws with one request id,
	// or giving one citizen two non-final permits, the second is
	// refused). It returns one outcome per write: nil when stored, or the
	// refusal WritePermit would return; a refusal does not stop the
	// others. A write that WritePermit refuses before any transaction (a
	// caller's mistake) fails the whole call before anything is written.
	// A storage failure is returned as err, with nil outcomes: then any
	// of the writes may have been stored, each whole (store/bolt: none),
	// so callers write them again under the same request ids.
	WritePermits(ctx context.Context, ws []PermitWrite) (refusals []error, err error)

	// GetPending returns the pending cancellation with this id, or
	// ErrNoPending.
	GetPending(ctx context.Context, id string) (*epermitv1.PendingCancellation, error)

	// ListPending returns every pending cancellation, oldest request first.
	ListPending(ctx context.Context) ([]*epermitv1.PendingCancellation, error)

	// WritePending adds or removes one pending cancellation atomically with
	// its audit entry, after checking in the same transaction that:
	//   - w.RequestID has not been used before (else ErrDuplicateRequest);
	//   - for Put: the permit exists (else ErrNotFound) at version
	//     Put.PermitVersion (else ErrConflict), and no other cancellation is
	//     pending for it (else a *PendingExistsError);
	//   - for Delete: the pending cancellation exists (else ErrNoPending).
	// On success the request id is recorded with the pending cancellation
	// as added or as removed, for Replay.
	WritePending(ctx context.Context, w PendingWrite) error

	// GetApplication returns the application with this id, or ErrNotFound.
	GetApplication(ctx context.Context, id string) (*epermitv1.Application, error)

	// ListApplications returns up to limit applications whose id sorts
	// after the given id ("" for the start), in id order, that match the
	// filter.
	ListApplications(ctx context.Context, filter ApplicationFilter, after string, limit int) ([]*epermitv1.Application, error)

	// CountApplications returns how many applications match the filter.
	// With only OverdueAt set it reads the deadline index alone.
	CountApplications(ctx context.Context, filter ApplicationFilter) (int, error)

	// WriteApplication stores w.Application atomically with its audit
	// entry, all or nothing, after checking in the same transaction that:
	//   - w.RequestID has not been used before (else ErrDuplicateRequest);
	//   - the application's stored version is w.PrevVersion, where 0 means
	//     it must not exist yet (else ErrConflict; ErrNotFound when
	//     PrevVersion > 0 and there is no such application).
	// w.Application.Version must be w.PrevVersion+1. On success the request
	// id is recorded with the application as written, for Replay.
	WriteApplication(ctx context.Context, w ApplicationWrite) error

	// GetServiceRequest returns the service request with this id, or
	// ErrNotFound.
	GetServiceRequest(ctx context.Context, id string) (*epermitv1.ServiceRequest, error)

	// ListServiceRequests returns up to limit service requests that match
	// the filter, newest first (descending id), starting after the given id
	// ("" for the newest).
	ListServiceRequests(ctx context.Context, filter ServiceRequestFilter, after string, limit int) ([]*epermitv1.ServiceRequest, error)

	// WriteServiceRequest stores w.Request atomically, all or nothing, with
	// its delivery task, its event and its audit entry, after checking in
	// the same transaction that w.RequestID is new (else
	// ErrDuplicateRequest) and that the stored version is w.PrevVersion, 0
	// for a new request (else ErrConflict; ErrNotFound when PrevVersion > 0
	// and there is no such request). w.Request.Version must be
	// w.PrevVersion+1. The delivery task is the request's
	// next_attempt_time: a request with one is in the outbox, due then
	// (ClaimDeliveries); without one it is not. The write ends a claim
	// of the request. On success the request id is recorded with the
	// request as written, for Replay.
	WriteServiceRequest(ctx context.Context, w ServiceRequestWrite) error

	// ClaimDeliveries takes up to limit service requests in the outbox
	// that are due at now (next_attempt_time at or before it) and not
	// held by a claim, earliest next_attempt_time first, then by id, and
	// holds each until now+lease: no claim before then returns it again.
	// Taking and holding is one atomic step, so concurrent claimers, also
	// on other replicas sharing the store, never get the same request
	// within a lease. The next write of a request ends its hold (the
	// outcome written says whether and when it is due again); a hold that
	// runs out leaves the request due at its place, so the request of a
	// claimer that died is taken over. A claim changes nothing else of
	// the request and need not be durable: one lost in a crash only lets
	// the request be claimed again sooner. lease must be positive; a
	// limit below one claims none.
	ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*epermitv1.ServiceRequest, error)

	// ServiceRequestEvents returns up to limit events with seq > afterSeq,
	// in seq order.
	ServiceRequestEvents(ctx context.Context, afterSeq uint64, limit int) ([]ServiceRequestEvent, error)

	// ServiceRequestEventHead returns the seq of the last event, 0 when
	// there is none.
	ServiceRequestEventHead(ctx context.Context) (uint64, error)

	// GetAccount returns the account with this name, or ErrNotFound.
	GetAccount(ctx context.Context, name string) (*Account, error)

	// AccountByTokenHash returns the account whose current token has this
	// SHA-256 hash, or ErrNotFound.
	AccountByTokenHash(ctx context.Context, hash []byte) (*Account, error)

	// ListAccounts returns every account, ordered by name.
	ListAccounts(ctx context.Context) ([]*Account, error)

	// CreateAccount stores a new account atomically with audit (which may be
	// nil, for the bootstrap admin). ErrExists when the name is taken, or the
	// token hash belongs to another account.
	CreateAccount(ctx context.Context, a *Account, audit *epermitv1.AuditEntry) error

	// UpdateAccount applies update to a copy of the stored account and
	// stores the result atomically with audit; update may run more than once
	// and must only change its argument. An error from update is returned
	// and nothing is written. ErrNotFound when there is no such account.
	// The name cannot change. Returns the account as stored.
	UpdateAccount(ctx context.Context, name string, update func(*Account) error, audit *epermitv1.AuditEntry) (*Account, error)

	// AppendAudit appends one entry to the audit log on its own (for reads
	// and refusals); mutations append theirs through their write. The store
	// sets the entry's seq, prev_hash and hash.
	AppendAudit(ctx context.Context, e *epermitv1.AuditEntry) error

	// ListAudit returns up to limit audit entries with seq > afterSeq that
	// match the filter, in seq order.
	ListAudit(ctx context.Context, f AuditFilter, afterSeq uint64, limit int) ([]*epermitv1.AuditEntry, error)

	// ScanAudit calls fn with every stored audit entry in key order, as
	// stored, from one consistent snapshot, until fn returns an error (which
	// ScanAudit returns). It also returns the head recorded with the log.
	ScanAudit(ctx context.Context, fn func(*epermitv1.AuditEntry) error) (AuditHead, error)

	// OutboxStats counts the service requests in the outbox, up to limit,
	// those due at now among them, and says when the earliest due one
	// became due, reading the outbox index alone (for monitoring).
	OutboxStats(ctx context.Context, now time.Time, limit int) (OutboxStats, error)

	// Close releases the store. Writes acknowledged before Close are durable.
	Close() error
}

// PendingWrite adds or removes one pending cancellation. Exactly one of Put
// and Delete is set.
type PendingWrite struct {
	// RequestID is the caller's idempotency key; empty for none.
	RequestID string
	// RequestHash fingerprints the request that carried RequestID.
	RequestHash []byte
	// Put adds this pending cancellation.
	Put *epermitv1.PendingCancellation
	// Delete removes the pending cancellation with this id.
	Delete string
	// Audit is appended to the audit log in the same transaction.
	Audit *epermitv1.AuditEntry
}

// Check refuses a write that sets both or neither of Put and Delete, or a
// Put without an id or a permit id: mistakes of the caller, found before
// any transaction.
func (w PendingWrite) Check() error {
	switch {
	case (w.Put == nil) == (w.Delete == ""):
		return errors.New("store: a pending write must set exactly one of Put and Delete")
	case w.Put != nil && w.Put.GetId() == "":
		return errors.New("store: pending cancellation has no id")
	case w.Put != nil && w.Put.GetPermitId() == "":
		return fmt.Errorf("store: pending cancellation %s has no permit id", w.Put.GetId())
	}
	return nil
}

// SortPending orders pending cancellations as ListPending returns them:
// oldest request first, then by id.
func SortPending(ps []*epermitv1.PendingCancellation) {
	slices.SortStableFunc(ps, func(a, b *epermitv1.PendingCancellation) int {
		return cmp.Or(a.GetRequestTime().AsTime().Compare(b.GetRequestTime().AsTime()), cmp.Compare(a.GetId(), b.GetId()))
	})
}

// Account is one identity allowed to call the node, with the hash of its
// current bearer token.
type Account struct {
	Name     string
	Division string
	Roles    []epermitv1.Role
	Kind     epermitv1.AccountKind
	Disabled bool
	Note     string
	// TokenHash is the SHA-256 hash of the current token; empty for system
	// accounts.
	TokenHash  []byte
	CreateTime time.Time
	UpdateTime time.Time
	// TokenTime is when the current token was issued.
	TokenTime time.Time
}

// AuditFilter narrows ListAudit. The zero value matches every entry.
type AuditFilter struct {
	// Start and End, when not zero, keep entries with Start <= time < End.
	Start, End time.Time
	// Actor, when set, keeps the entries of this account.
	Actor string
	// Target, when set, keeps the entries with this target.
	Target string
}

// AuditHead is the last entry of the audit log as the store recorded it when
// appending: its seq and hash. Zero for an empty log.
type AuditHead struct {
	Seq  uint64
	Hash []byte
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
	// ResolvePending, when set, names a pending cancellation of this permit
	// removed in the same transaction (ErrNoPending when it is gone).
	ResolvePending string
	// Audit, when set, is appended to the audit log in the same
	// transaction: there is no change without its entry.
	Audit *epermitv1.AuditEntry
}

// ApplicationFilter narrows ListApplications and CountApplications. The
// zero value matches every application.
type ApplicationFilter struct {
	// State, when set, keeps applications in this state.
	State epermitv1.ApplicationState
	// Channel, when set, keeps applications that came in this way.
	Channel epermitv1.ApplicationChannel
	// OverdueAt, when not zero, keeps the applications that are overdue at
	// that time: ACCEPTED with a deadline before it.
	OverdueAt time.Time
}

// Matches reports whether a stored application passes the filter.
func (f ApplicationFilter) Matches(a *epermitv1.Application) bool {
	switch {
	case f.State != epermitv1.ApplicationState_APPLICATION_STATE_UNSPECIFIED && a.GetState() != f.State:
		return false
	case f.Channel != epermitv1.ApplicationChannel_APPLICATION_CHANNEL_UNSPECIFIED && a.GetChannel() != f.Channel:
		return false
	case !f.OverdueAt.IsZero() && !IsOverdue(a, f.OverdueAt):
		return false
	}
	return true
}

// IsOverdue reports whether an application is overdue at t: accepted, not
// yet decided, and past its deadline.
func IsOverdue(a *epermitv1.Application, t time.Time) bool {
	return a.GetState() == epermitv1.ApplicationState_APPLICATION_STATE_ACCEPTED &&
		a.GetDeadline() != nil && a.GetDeadline().AsTime().Before(t)
}

// ApplicationWrite is one atomic change of one application.
type ApplicationWrite struct {
	// RequestID is the caller's idempotency key; empty for none.
	RequestID string
	// RequestHash fingerprints the request that carried RequestID.
	RequestHash []byte
	// PrevVersion is the version the change was computed from; 0 creates.
	PrevVersion int64
	// Application is the new state, with Version = PrevVersion+1.
	Application *epermitv1.Application
	// Audit, when set, is appended to the audit log in the same
	// transaction.
	Audit *epermitv1.AuditEntry
}

// ServiceRequestFilter narrows ListServiceRequests. The zero value matches
// every request.
type ServiceRequestFilter struct {
	PermitID   string
	State      epermitv1.ServiceRequestState
	Department string
	// Start and End, when not zero, keep requests created at or after
	// Start and before End.
	Start, End time.Time
}

// Matches reports whether r passes the filter.
func (f ServiceRequestFilter) Matches(r *epermitv1.ServiceRequest) bool {
	created := r.GetCreateTime().AsTime()
	switch {
	case f.PermitID != "" && r.GetPermitId() != f.PermitID,
		f.State != epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_UNSPECIFIED && r.GetState() != f.State,
		f.Department != "" && r.GetDepartment() != f.Department,
		!f.Start.IsZero() && created.Before(f.Start),
		!f.End.IsZero() && !created.Before(f.End):
		return false
	}
	return true
}

// ServiceRequestWrite is one atomic change of one service request.
type ServiceRequestWrite struct {
	// RequestID is the caller's idempotency key; empty for none (changes
	// the node makes by itself, such as deliveries).
	RequestID string
	// RequestHash fingerprints the request that carried RequestID.
	RequestHash []byte
	// PrevVersion is the version the change was computed from; 0 creates.
	PrevVersion int64
	// Request is the new state, with Version = PrevVersion+1.
	Request *epermitv1.ServiceRequest
	// Event, when true, appends an event to the event log: the request
	// changed state, and its last history entry says how.
	Event bool
	// Audit, when set, is appended to the audit log in the same
	// transaction.
	Audit *epermitv1.AuditEntry
}

// ServiceRequestEvent is one change of state of a service request.
type ServiceRequestEvent struct {
	// Seq is the event's position in the log, from 1, without gaps.
	Seq uint64
	// Request is the request as that change wrote it; its last history
	// entry is the change.
	Request *epermitv1.ServiceRequest
}

// Replayed is what a write recorded under its request id.
type Replayed struct {
	// RequestHash is the fingerprint stored with the request id.
	RequestHash []byte
	// Permit is the permit exactly as that write stored it, for a
	// WritePermit.
	Permit *epermitv1.Permit
	// Pending is the pending cancellation as that WritePending added or
	// removed it.
	Pending *epermitv1.PendingCancellation
	// Application is the application exactly as that WriteApplication
	// stored it.
	Application *epermitv1.Application
	// ServiceRequest is the service request exactly as that
	// WriteServiceRequest stored it.
	ServiceRequest *epermitv1.ServiceRequest
}

var (
	// ErrNotFound is returned when the permit, application or request id
	// does not exist.
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
	// ErrExists is returned when creating an account whose name is taken.
	ErrExists = errors.New("store: already exists")
	// ErrNoPending is returned when a pending cancellation does not exist.
	ErrNoPending = errors.New("store: no such pending cancellation")
	// ErrPendingExists is wrapped by *PendingExistsError.
	ErrPendingExists = errors.New("store: a cancellation is already pending for the permit")
	// ErrUnavailable is wrapped around a failure to reach a store that
	// lives in another process (Redis down, restarting or unreachable):
	// the operation may be retried. A write that failed so may or may not
	// have landed; its request id tells on the retry.
	ErrUnavailable = errors.New("store: unavailable")
)

// PendingExistsError is returned when a cancellation is requested for a
// permit that already has one pending. It matches ErrPendingExists.
type PendingExistsError struct {
	// PendingID is the id of the pending cancellation.
	PendingID string
}

func (e *PendingExistsError) Error() string {
	return fmt.Sprintf("%v: %s", ErrPendingExists, e.PendingID)
}

// Unwrap makes errors.Is(err, ErrPendingExists) true.
func (e *PendingExistsError) Unwrap() error { return ErrPendingExists }

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

// GetApplication returns the replayed application; nil for a nil
// *Replayed.
func (r *Replayed) GetApplication() *epermitv1.Application {
	if r == nil {
		return nil
	}
	return r.Application
}

// GetServiceRequest returns the replayed service request; nil for a nil
// *Replayed.
func (r *Replayed) GetServiceRequest() *epermitv1.ServiceRequest {
	if r == nil {
		return nil
	}
	return r.ServiceRequest
}

// GetPermit returns the replayed permit; nil for a nil *Replayed.
func (r *Replayed) GetPermit() *epermitv1.Permit {
	if r == nil {
		return nil
	}
	return r.Permit
}
