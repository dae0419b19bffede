package permit

import (
	"context"
	"crypto/rand"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/server/auth"
	"github.com/yrd-epermit/epermit/server/validate"
	"github.com/yrd-epermit/epermit/store"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Dual control (四眼原则): cancelling and confiscating are final, so one
// supervisor requests and a second one approves. The request names the
// permit's version; approving writes the final state only if the permit is
// still at that version, and removes the request in the same transaction.

// pendingPrefix starts every pending cancellation id.
const pendingPrefix = "pc-"

// newPendingID returns a fresh pending cancellation id: "pc-" and 26
// random characters.
func newPendingID() string { return pendingPrefix + rand.Text() }

// pendingID validates a pending cancellation id.
func pendingID(v *apierror.Violations, field, id string) string {
	if len(id) != len(pendingPrefix)+26 || id[:len(pendingPrefix)] != pendingPrefix {
		v.Add(field, "FORMAT", `is not a pending cancellation id ("pc-" and 26 characters)`)
	}
	return id
}

// actor is the account name of the caller, or "" outside the gRPC server.
func actor(ctx context.Context) string {
	if c := auth.CallFrom(ctx); c != nil {
		return c.Principal.Account
	}
	return ""
}

// requestCancellation files a validated CancelPermit request.
func (s *Service) requestCancellation(ctx context.Context, req *epermitv1.CancelPermitRequest, note string) (*epermitv1.CancelPermitResponse, error) {
	var v apierror.Violations
	requestID(&v, req.RequestId)
	id := permitID(&v, "permit_id", req.PermitId)
	version(&v, req.Version)
	if err := v.Err("invalid cancel request"); err != nil {
		return nil, err
	}
	if r, err := s.replay(ctx, req.RequestId, req); r != nil || err != nil {
		if err != nil {
			return nil, err
		}
		return s.cancelResponse(ctx, r.Pending)
	}
	cur, err := s.cfg.Store.GetPermit(ctx, id)
	if err != nil {
		return nil, s.storeError("read permit", err, id)
	}
	if cur.Version != req.Version {
		return nil, apierror.Aborted("permit " + id + " has changed since the version given; read it again and retry")
	}
	if err := mustNotBeFinal(cur); err != nil {
		return nil, err
	}
	pc := &epermitv1.PendingCancellation{
		Id: newPendingID(), PermitId: id, PermitVersion: cur.Version, Reason: req.Reason, Note: note,
		RequestedBy: actor(ctx), RequestTime: timestamppb.New(s.cfg.Clock()),
	}
	call := auth.CallFrom(ctx)
	err = s.cfg.Store.WritePending(ctx, store.PendingWrite{
		RequestID: req.RequestId, RequestHash: validate.Fingerprint(req), Put: pc, Audit: call.Entry(id),
	})
	var exists *store.PendingExistsError
	switch {
	case errors.As(err, &exists):
		return nil, apierror.AlreadyExists("pending cancellation", exists.PendingID,
			"a cancellation of permit "+id+" is already pending ("+exists.PendingID+"); approve or reject it first")
	case errors.Is(err, store.ErrDuplicateRequest):
		r, err := s.replay(ctx, req.RequestId, req)
		if err != nil {
			return nil, err
		}
		return s.cancelResponse(ctx, r.Pending)
	case err != nil:
		return nil, s.storeError("request cancellation", err, id)
	}
	call.Recorded()
	return &epermitv1.CancelPermitResponse{Permit: s.decorateAt(cur, s.cfg.Clock()), Pending: pc}, nil
}

// cancelResponse answers a replayed CancelPermit with the permit as it is.
func (s *Service) cancelResponse(ctx context.Context, pc *epermitv1.PendingCancellation) (*epermitv1.CancelPermitResponse, error) {
	p, err := s.cfg.Store.GetPermit(ctx, pc.GetPermitId())
	if err != nil {
		return nil, s.storeError("read permit", err, pc.GetPermitId())
	}
	return &epermitv1.CancelPermitResponse{Permit: s.decorateAt(p, s.cfg.Clock()), Pending: pc}, nil
}

// ListPendingCancellations implements epermitv1.PermitServiceServer.
func (s *Service) ListPendingCancellations(ctx context.Context, req *epermitv1.ListPendingCancellationsRequest) (*epermitv1.ListPendingCancellationsResponse, error) {
	var v apierror.Violations
	if req.PermitId != "" {
		permitID(&v, "permit_id", req.PermitId)
	}
	if err := v.Err("invalid list request"); err != nil {
		return nil, err
	}
	all, err := s.cfg.Store.ListPending(ctx)
	if err != nil {
		return nil, s.storeError("list pending cancellations", err)
	}
	resp := &epermitv1.ListPendingCancellationsResponse{}
	for _, pc := range all {
		if req.PermitId == "" || pc.PermitId == req.PermitId {
			resp.Pending = append(resp.Pending, pc)
		}
	}
	return resp, nil
}

// ApproveCancellation implements epermitv1.PermitServiceServer.
func (s *Service) ApproveCancellation(ctx context.Context, req *epermitv1.ApproveCancellationRequest) (*epermitv1.ApproveCancellationResponse, error) {
	var v apierror.Violations
	requestID(&v, req.RequestId)
	pid := pendingID(&v, "pending_id", req.PendingId)
	if err := v.Err("invalid approval"); err != nil {
		return nil, err
	}
	if r, err := s.replay(ctx, req.RequestId, req); r != nil || err != nil {
		if err != nil {
			return nil, err
		}
		return &epermitv1.ApproveCancellationResponse{Permit: s.decorateAt(r.Permit, r.Permit.UpdateTime.AsTime())}, nil
	}
	pc, err := s.cfg.Store.GetPending(ctx, pid)
	if err != nil {
		return nil, s.storeError("read pending cancellation", err, pid)
	}
	auth.CallFrom(ctx).SetTarget(pc.PermitId)
	if who := actor(ctx); who == pc.RequestedBy {
		return nil, status.Errorf(codes.PermissionDenied,
			"%s requested this cancellation; a second supervisor must approve it (四眼原则)", pc.RequestedBy)
	}
	cur, err := s.cfg.Store.GetPermit(ctx, pc.PermitId)
	if err != nil {
		return nil, s.storeError("read permit", err, pc.PermitId)
	}
	if cur.Version != pc.PermitVersion {
		return nil, apierror.FailedPrecondition("PERMIT_CHANGED", pc.PermitId,
			"permit "+pc.PermitId+" changed after the cancellation was requested; reject the request and file a new one")
	}
	p, err := s.commit(ctx, req, req.RequestId, cur, pc.Id, func(p *epermitv1.Permit, now time.Time) error {
		if err := mustNotBeFinal(p); err != nil {
			return err
		}
		p.Status = cancelOutcome[pc.Reason]
		p.Suspension = nil
		p.Cancellation = &epermitv1.Cancellation{
			Reason: pc.Reason, Note: pc.Note, Time: timestamppb.New(now),
			RequestedBy: pc.RequestedBy, ApprovedBy: actor(ctx),
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &epermitv1.ApproveCancellationResponse{Permit: s.decorateAt(p, p.UpdateTime.AsTime())}, nil
}

// RejectCancellation implements epermitv1.PermitServiceServer.
func (s *Service) RejectCancellation(ctx context.Context, req *epermitv1.RejectCancellationRequest) (*epermitv1.RejectCancellationResponse, error) {
	var v apierror.Violations
	requestID(&v, req.RequestId)
	pid := pendingID(&v, "pending_id", req.PendingId)
	text(&v, "note", req.Note, 0, maxNote)
	if err := v.Err("invalid rejection"); err != nil {
		return nil, err
	}
	if r, err := s.replay(ctx, req.RequestId, req); r != nil || err != nil {
		if err != nil {
			return nil, err
		}
		return &epermitv1.RejectCancellationResponse{Pending: r.Pending}, nil
	}
	pc, err := s.cfg.Store.GetPending(ctx, pid)
	if err != nil {
		return nil, s.storeError("read pending cancellation", err, pid)
	}
	call := auth.CallFrom(ctx)
	call.SetNote(req.Note)
	err = s.cfg.Store.WritePending(ctx, store.PendingWrite{
		RequestID: req.RequestId, RequestHash: validate.Fingerprint(req), Delete: pid, Audit: call.Entry(pc.PermitId),
	})
	switch {
	case errors.Is(err, store.ErrDuplicateRequest):
		r, err := s.replay(ctx, req.RequestId, req)
		if err != nil {
			return nil, err
		}
		return &epermitv1.RejectCancellationResponse{Pending: r.Pending}, nil
	case err != nil:
		return nil, s.storeError("reject cancellation", err, pid)
	}
	call.Recorded()
	return &epermitv1.RejectCancellationResponse{Pending: pc}, nil
}
