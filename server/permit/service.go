// Package permit implements PermitService: issuing electronic residence
// permits, the yearly endorsement (签注), suspension, cancellation and
// verification, over a store.Store.
//
// # Lifecycle
//
// A permit's status follows from its recorded state and the calendar (China
// Standard Time): the endorsement for each residence anniversary is due in
// the window before it (Rules.EndorsementWindowMonths); on the anniversary
// an unendorsed permit is SUSPENDED. A late endorsement restores it and the
// residence years count afresh from that day. Nothing is flipped by a batch
// job: every read computes the status for today.
//
// # Idempotency and versions
//
// Every mutation carries a request id, stored atomically with the change: a
// retry returns the first result. Changes of an existing permit carry the
// version the caller read; a stale one is answered with ABORTED.
package permit

import (
	"context"
	"crypto"
	"errors"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/server/auth"
	"github.com/yrd-epermit/epermit/server/validate"
	"github.com/yrd-epermit/epermit/statuslist"
	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/trust"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Config names what the service needs.
type Config struct {
	// Store holds the permits.
	Store store.Store
	// Signer signs credentials with this node's issuer key (unless Keys
	// is set).
	Signer *credential.Signer
	// Keys, when set, are the node's issuer keys as they rotate: each
	// credential is signed with the key for its signing time, and the
	// node's own credentials verify with any key it holds. Signer is then
	// unused.
	Keys Keys
	// Division is the issuing division code of this node.
	Division string
	// Authority is the name of the issuing public-security bureau.
	Authority string
	// Rules are this city's lifecycle rules.
	Rules Rules
	// Status, when set, keeps the node's status list: each new permit gets a
	// random entry, and every committed change is recorded in it.
	Status StatusList
	// Statuses, when set, answers from the cached status lists of the other
	// members; StatusMaxAge is how old such an answer may be.
	Statuses     StatusSource
	StatusMaxAge time.Duration
	// Trust, when set, holds the federation's trust list: credentials of
	// other member divisions are verified with the keys it lists.
	Trust *trust.Holder
	// Peers, when set, reaches the other members: issuance then keeps one
	// permit per citizen across the Delta, and residents can transfer.
	Peers Peers
	// Clock tells the time; time.Now when nil. Tests move it across deadlines.
	Clock func() time.Time
	// Logger receives causes hidden from callers; slog.Default when nil.
	Logger *slog.Logger
}

// Keys are a node's issuer keys as they rotate (server/node).
type Keys interface {
	// SignerAt is the signer of credentials signed at t.
	SignerAt(t time.Time) *credential.Signer
	// Public is the public key with this kid, if the node holds it.
	Public(kid string) (crypto.PublicKey, bool)
}

// StatusList is the node's status list as the service keeps it in step
// (server/federation.Status).
type StatusList interface {
	// Assign reserves a random entry for a permit about to be issued. The
	// store may still refuse it (store.ErrIndexTaken) when the list is
	// shared with other replicas; then another is assigned.
	Assign(ctx context.Context) (uint32, error)
	// Release gives back an entry whose permit was not issued.
	Release(index uint32)
	// Record sets the entry of a permit whose change has committed.
	Record(p *epermitv1.Permit)
}

// StatusSource answers from the cached status lists of other members
// (server/federation.Poller).
type StatusSource interface {
	// Status is the state of entry index in issuer's cached list, the age
	// of that statement, and whether it is fresh (younger than maxAge and
	// within the list's signed validity).
	Status(issuer string, index uint32, now time.Time, maxAge time.Duration) (statuslist.State, time.Duration, bool)
}

// Service implements epermitv1.PermitServiceServer.
type Service struct {
	epermitv1.UnsafePermitServiceServer
	cfg     Config
	settler *settler
}

// New returns a Service for cfg.
func New(cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Keys == nil {
		cfg.Keys = oneKey{cfg.Signer}
	}
	return &Service{cfg: cfg, settler: newSettler()}
}

// RegisterService registers svc on s.
func RegisterService(s grpc.ServiceRegistrar, svc *Service) {
	epermitv1.RegisterPermitServiceServer(s, svc)
}

// IssuePermit implements epermitv1.PermitServiceServer.
func (s *Service) IssuePermit(ctx context.Context, req *epermitv1.IssuePermitRequest) (*epermitv1.IssuePermitResponse, error) {
	now := s.cfg.Clock()
	day := today(now)
	var v apierror.Violations
	requestID(&v, req.RequestId)
	h, addr, start := issueFields(&v, req.Holder, req.ResidenceAddress, req.ResidenceStartDate, day)
	if err := v.Err("invalid issue request"); err != nil {
		return nil, err
	}
	if r, err := s.replay(ctx, req.RequestId, req); r != nil || err != nil {
		if err != nil {
			return nil, err
		}
		p, err := s.settle(ctx, r.Permit)
		return s.issueResponse(p, nil, err)
	}
	p := s.newPermit(h, addr, day, now)
	p.ResidenceStartDate = formatDate(start)
	if s.federated() {
		p.Status = epermitv1.PermitStatus_PERMIT_STATUS_PENDING
		p, _, err := s.create(ctx, req, req.RequestId, p, false)
		if err != nil {
			return nil, err
		}
		p, err = s.settle(ctx, p)
		return s.issueResponse(p, nil, err)
	}
	if s.cfg.Status != nil {
		index, err := s.cfg.Status.Assign(ctx)
		if err != nil {
			return nil, s.internal("assign a status list entry", err)
		}
		p.StatusIndex = &index
	}
	created, signed, err := s.create(ctx, req, req.RequestId, p, true)
	if p.StatusIndex != nil && (err != nil || created.GetStatusIndex() != p.GetStatusIndex() || created.Id != p.Id) {
		s.cfg.Status.Release(p.GetStatusIndex()) // not written, or a replay of another write
	}
	return s.issueResponse(created, signed, err)
}

// newPermit is a new ACTIVE permit issued today, residing since today.
func (s *Service) newPermit(h *epermitv1.Holder, addr string, day, now time.Time) *epermitv1.Permit {
	p := &epermitv1.Permit{
		Holder:             h,
		ResidenceAddress:   addr,
		IssuingDivision:    s.cfg.Division,
		IssuingAuthority:   s.cfg.Authority,
		IssueDate:          formatDate(day),
		ResidenceStartDate: formatDate(day),
		Status:             epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE,
		Version:            1,
		CreateTime:         timestamppb.New(now),
		UpdateTime:         timestamppb.New(now),
		CredentialTime:     timestamppb.New(now),
	}
	if y := s.cfg.Rules.CardValidityYears; y > 0 {
		p.ValidUntil = formatDate(day.AddDate(y, 0, -1))
	}
	return p
}

// issueResponse answers with a new permit: with its credential once in
// force (from signed when not nil), without while pending, and with the
// reason when it was withdrawn.
func (s *Service) issueResponse(p *epermitv1.Permit, signed func() (*epermitv1.Credential, error), err error) (*epermitv1.IssuePermitResponse, error) {
	switch {
	case err != nil:
		return nil, err
	case isWithdrawn(p):
		return nil, withdrawnError(p)
	case p.Status == epermitv1.PermitStatus_PERMIT_STATUS_PENDING:
		return &epermitv1.IssuePermitResponse{Permit: s.decorateAt(p, s.cfg.Clock())}, nil
	}
	if signed == nil {
		signed = func() (*epermitv1.Credential, error) { return s.credential(p) }
	}
	c, err := signed()
	if err != nil {
		return nil, err
	}
	return &epermitv1.IssuePermitResponse{Permit: s.decorateAt(p, p.UpdateTime.AsTime()), Credential: c}, nil
}

// GetPermit implements epermitv1.PermitServiceServer.
func (s *Service) GetPermit(ctx context.Context, req *epermitv1.GetPermitRequest) (*epermitv1.GetPermitResponse, error) {
	var v apierror.Violations
	id := permitID(&v, "permit_id", req.PermitId)
	if err := v.Err("invalid get request"); err != nil {
		return nil, err
	}
	p, err := s.cfg.Store.GetPermit(ctx, id)
	if err != nil {
		return nil, s.storeError("get permit", err, id)
	}
	resp := &epermitv1.GetPermitResponse{Permit: s.decorateAt(p, s.cfg.Clock())}
	if inForce(p) {
		if resp.Credential, err = s.credential(p); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// EndorsePermit implements epermitv1.PermitServiceServer.
func (s *Service) EndorsePermit(ctx context.Context, req *epermitv1.EndorsePermitRequest) (*epermitv1.EndorsePermitResponse, error) {
	p, err := s.change(ctx, req, req.RequestId, req.PermitId, req.Version, func(p *epermitv1.Permit, now time.Time) error {
		if err := mustNotBeFinal(p); err != nil {
			return err
		}
		sch := scheduleOf(p, s.cfg.Rules)
		day := today(now)
		switch status := statusOn(p, sch, day); {
		case status == epermitv1.PermitStatus_PERMIT_STATUS_EXPIRED:
			return apierror.FailedPrecondition("PERMIT_EXPIRED", p.Id,
				"the card validity ended on "+p.ValidUntil+"; the holder must apply for a new permit")
		case p.Status == epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED:
			return apierror.FailedPrecondition("PERMIT_SUSPENDED_BY_HAND", p.Id,
				"the permit is suspended by hand ("+p.Suspension.GetReason()+"); reinstate it before endorsing")
		case day.Before(sch.windowOpens):
			return apierror.FailedPrecondition("ENDORSEMENT_NOT_DUE", p.Id,
				"the endorsement for "+formatDate(sch.nextDue)+" can be made from "+formatDate(sch.windowOpens))
		}
		late := !day.Before(sch.nextDue)
		p.Endorsements = append(p.Endorsements, &epermitv1.Endorsement{
			Date: formatDate(day), DueDate: formatDate(sch.nextDue), Late: late,
		})
		if late {
			p.ResidenceStartDate = formatDate(day) // residence years count afresh
		}
		p.CredentialTime = timestamppb.New(now)
		return nil
	})
	if err != nil {
		return nil, err
	}
	c, err := s.credential(p)
	if err != nil {
		return nil, err
	}
	return &epermitv1.EndorsePermitResponse{Permit: s.decorateAt(p, p.UpdateTime.AsTime()), Credential: c}, nil
}

// SuspendPermit implements epermitv1.PermitServiceServer.
func (s *Service) SuspendPermit(ctx context.Context, req *epermitv1.SuspendPermitRequest) (*epermitv1.SuspendPermitResponse, error) {
	var v apierror.Violations
	reason := text(&v, "reason", req.Reason, 1, maxReason)
	if err := v.Err("invalid suspend request"); err != nil {
		return nil, err
	}
	p, err := s.change(ctx, req, req.RequestId, req.PermitId, req.Version, func(p *epermitv1.Permit, now time.Time) error {
		if err := mustNotBeFinal(p); err != nil {
			return err
		}
		if p.Status == epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED {
			return apierror.FailedPrecondition("PERMIT_ALREADY_SUSPENDED", p.Id, "the permit is already suspended by hand")
		}
		p.Status = epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED
		p.Suspension = &epermitv1.Suspension{Reason: reason, Time: timestamppb.New(now)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &epermitv1.SuspendPermitResponse{Permit: s.decorateAt(p, p.UpdateTime.AsTime())}, nil
}

// ReinstatePermit implements epermitv1.PermitServiceServer.
func (s *Service) ReinstatePermit(ctx context.Context, req *epermitv1.ReinstatePermitRequest) (*epermitv1.ReinstatePermitResponse, error) {
	p, err := s.change(ctx, req, req.RequestId, req.PermitId, req.Version, func(p *epermitv1.Permit, now time.Time) error {
		if err := mustNotBeFinal(p); err != nil {
			return err
		}
		if p.Status != epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED {
			return apierror.FailedPrecondition("PERMIT_NOT_SUSPENDED_BY_HAND", p.Id,
				"the permit is not suspended by hand; an overdue endorsement is lifted by endorsing")
		}
		p.Status = epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE
		p.Suspension = nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &epermitv1.ReinstatePermitResponse{Permit: s.decorateAt(p, p.UpdateTime.AsTime())}, nil
}

// CancelPermit implements epermitv1.PermitServiceServer: it validates the
// request and files it for a second supervisor's approval (pending.go).
func (s *Service) CancelPermit(ctx context.Context, req *epermitv1.CancelPermitRequest) (*epermitv1.CancelPermitResponse, error) {
	var v apierror.Violations
	_, ok := cancelOutcome[req.Reason]
	switch {
	case req.Reason == epermitv1.CancelReason_CANCEL_REASON_UNSPECIFIED:
		v.Add("reason", "REQUIRED", "is required: the ground for cancelling or confiscating")
	case !ok:
		v.Add("reason", "UNKNOWN", "is not a known cancellation ground")
	case !s.allowedReason(req.Reason):
		v.Add("reason", "NOT_ALLOWED", "is not a cancellation ground recognised by this city")
	}
	note := text(&v, "note", req.Note, 0, maxNote)
	if req.Reason == epermitv1.CancelReason_CANCEL_REASON_OTHER && note == "" {
		v.Add("note", "REQUIRED", "is required with reason OTHER: name the legal ground")
	}
	if err := v.Err("invalid cancel request"); err != nil {
		return nil, err
	}
	return s.requestCancellation(ctx, req, note)
}

// cancelOutcome maps each cancellation ground to the final status it leads to.
var cancelOutcome = map[epermitv1.CancelReason]epermitv1.PermitStatus{
	epermitv1.CancelReason_CANCEL_REASON_FALSE_MATERIALS:       epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED,
	epermitv1.CancelReason_CANCEL_REASON_CONDITIONS_NOT_MET:    epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED,
	epermitv1.CancelReason_CANCEL_REASON_LOCAL_HUKOU:           epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED,
	epermitv1.CancelReason_CANCEL_REASON_DEATH:                 epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED,
	epermitv1.CancelReason_CANCEL_REASON_EXPIRED:               epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED,
	epermitv1.CancelReason_CANCEL_REASON_OTHER:                 epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED,
	epermitv1.CancelReason_CANCEL_REASON_FORGED:                epermitv1.PermitStatus_PERMIT_STATUS_CONFISCATED,
	epermitv1.CancelReason_CANCEL_REASON_FRAUDULENTLY_OBTAINED: epermitv1.PermitStatus_PERMIT_STATUS_CONFISCATED,
}

func (s *Service) allowedReason(r epermitv1.CancelReason) bool {
	if len(s.cfg.Rules.CancelReasons) == 0 {
		return true
	}
	for _, a := range s.cfg.Rules.CancelReasons {
		if a == r {
			return true
		}
	}
	return false
}

func mustNotBeFinal(p *epermitv1.Permit) error {
	switch {
	case store.IsFinal(p.Status):
		return apierror.FailedPrecondition("PERMIT_FINAL", p.Id, "the permit is "+statusWord(p.Status)+" and can no longer change")
	case p.Status == epermitv1.PermitStatus_PERMIT_STATUS_PENDING:
		return apierror.FailedPrecondition("PERMIT_PENDING", p.Id, "the permit is not in force yet: "+pendingReason(p))
	}
	return nil
}

// inForce reports whether a recorded permit has a credential: it is
// neither final nor pending.
func inForce(p *epermitv1.Permit) bool {
	return !store.IsFinal(p.Status) && p.Status != epermitv1.PermitStatus_PERMIT_STATUS_PENDING
}

// GetIssuerKey implements epermitv1.PermitServiceServer.
func (s *Service) GetIssuerKey(context.Context, *epermitv1.GetIssuerKeyRequest) (*epermitv1.GetIssuerKeyResponse, error) {
	signer := s.cfg.Keys.SignerAt(s.cfg.Clock())
	pub := signer.Public()
	pem, err := credential.MarshalPublicKeyPEM(pub)
	if err != nil {
		return nil, s.internal("marshal public key", err)
	}
	raw, err := rawPublicKey(pub)
	if err != nil {
		return nil, s.internal("marshal public key", err)
	}
	return &epermitv1.GetIssuerKeyResponse{
		Division:     s.cfg.Division,
		Kid:          signer.KID(),
		Algorithm:    signer.Algorithm(),
		PublicKey:    raw,
		PublicKeyPem: string(pem),
	}, nil
}

// change runs one idempotent, versioned change of an existing permit: it
// replays a known request id, checks the version, lets apply change a copy
// of the record and writes it back atomically with the call's audit entry.
// It returns the stored record.
func (s *Service) change(ctx context.Context, req proto.Message, reqID, rawID string, ver int64,
	apply func(p *epermitv1.Permit, now time.Time) error) (*epermitv1.Permit, error) {
	var v apierror.Violations
	requestID(&v, reqID)
	id := permitID(&v, "permit_id", rawID)
	version(&v, ver)
	if err := v.Err("invalid request"); err != nil {
		return nil, err
	}
	if r, err := s.replay(ctx, reqID, req); r != nil || err != nil {
		return r.GetPermit(), err
	}
	cur, err := s.cfg.Store.GetPermit(ctx, id)
	if err != nil {
		return nil, s.storeError("read permit", err, id)
	}
	if cur.Version != ver {
		return nil, apierror.Aborted("permit " + id + " has changed since the version given; read it again and retry")
	}
	return s.commit(ctx, req, reqID, cur, "", apply)
}

// commit applies apply to a copy of cur and writes it with the call's audit
// entry, removing the pending cancellation resolved, if any.
func (s *Service) commit(ctx context.Context, req proto.Message, reqID string, cur *epermitv1.Permit, resolved string,
	apply func(p *epermitv1.Permit, now time.Time) error) (*epermitv1.Permit, error) {
	now := s.cfg.Clock()
	next := cloneProto(cur)
	if err := apply(next, now); err != nil {
		return nil, err
	}
	next.Version = cur.Version + 1
	next.UpdateTime = timestamppb.New(now)
	call := auth.CallFrom(ctx)
	err := s.cfg.Store.WritePermit(ctx, store.PermitWrite{
		RequestID: reqID, RequestHash: validate.Fingerprint(req), PrevVersion: cur.Version, Permit: next,
		ResolvePending: resolved, Audit: call.Entry(cur.Id),
	})
	switch {
	case errors.Is(err, store.ErrDuplicateRequest):
		r, err := s.replay(ctx, reqID, req)
		return r.GetPermit(), err
	case err != nil:
		return nil, s.storeError("write permit", err, cur.Id)
	}
	call.Recorded()
	if s.cfg.Status != nil {
		s.cfg.Status.Record(next)
	}
	return next, nil
}

// replay returns what was written under reqID, nil when the id is new, or
// an error when the id was used for a different request.
func (s *Service) replay(ctx context.Context, reqID string, req proto.Message) (*store.Replayed, error) {
	r, err := s.cfg.Store.Replay(ctx, reqID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, s.storeError("replay request", err)
	case string(r.RequestHash) != string(validate.Fingerprint(req)):
		return nil, apierror.InvalidField("request_id", "REUSED",
			"was already used for a different request; choose a new request id")
	}
	return r, nil
}

// decorateAt fills a record's computed fields as of t.
func (s *Service) decorateAt(p *epermitv1.Permit, t time.Time) *epermitv1.Permit {
	return decorate(p, s.cfg.Rules, t)
}

// storeError maps a store error to the gRPC error callers see; id names the
// permit concerned, if any.
func (s *Service) storeError(op string, err error, id ...string) error {
	var active *store.ActivePermitError
	switch {
	case errors.As(err, &active):
		return apierror.AlreadyExists("permit", active.PermitID,
			"the citizen already holds permit "+active.PermitID+", which is not cancelled, confiscated or superseded")
	case errors.Is(err, store.ErrNotFound) && len(id) > 0:
		return apierror.NotFound("permit", id[0])
	case errors.Is(err, store.ErrConflict):
		return apierror.Aborted("the permit changed concurrently; read it again and retry")
	case errors.Is(err, store.ErrNoPending) && len(id) > 0:
		return apierror.NotFound("pending cancellation", id[len(id)-1])
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	return s.internal(op, err)
}

func (s *Service) internal(op string, err error) error {
	s.cfg.Logger.Error("permit service failure", "op", op, "err", err)
	return apierror.Failure(err)
}

func cloneProto[M proto.Message](m M) M { return proto.Clone(m).(M) }

// oneKey is the Keys of a node with a single issuer key.
type oneKey struct{ s *credential.Signer }

func (k oneKey) SignerAt(time.Time) *credential.Signer { return k.s }

func (k oneKey) Public(kid string) (crypto.PublicKey, bool) {
	if kid != k.s.KID() {
		return nil, false
	}
	return k.s.Public(), true
}
