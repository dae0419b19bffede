package permit

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/yrd-epermit/epermit/permitid"
	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/server/auth"
	"github.com/yrd-epermit/epermit/store"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// This file answers the other member nodes (FederationService, partner
// role): the lookup of a citizen's permits, a permit's live status, the
// residence history for a transfer and the supersede that completes one.

// maxCitizenPermits bounds how many permits of one citizen a lookup reads.
const maxCitizenPermits = 100

// FindPermits implements federation.Register.
func (s *Service) FindPermits(ctx context.Context, req *epermitv1.FindPermitsRequest) (*epermitv1.FindPermitsResponse, error) {
	var v apierror.Violations
	id := citizenID(&v, "citizen_id", req.CitizenId, today(s.cfg.Clock()))
	if err := v.Err("invalid find request"); err != nil {
		return nil, err
	}
	auth.CallFrom(ctx).SetTarget(id.Mask())
	permits, err := s.cfg.Store.ListPermits(ctx, store.PermitFilter{CitizenID: id.Number}, "", maxCitizenPermits)
	if err != nil {
		return nil, s.storeError("find permits", err)
	}
	resp := &epermitv1.FindPermitsResponse{}
	for _, p := range permits {
		if !store.IsFinal(p.Status) {
			resp.Permits = append(resp.Permits, refOf(p))
		}
	}
	return resp, nil
}

func refOf(p *epermitv1.Permit) *epermitv1.PermitRef {
	return &epermitv1.PermitRef{PermitId: p.Id, Status: p.Status, TransferredFrom: p.TransferredFrom}
}

// GetPermitStatus implements federation.Register.
func (s *Service) GetPermitStatus(ctx context.Context, req *epermitv1.GetPermitStatusRequest) (*epermitv1.GetPermitStatusResponse, error) {
	p, err := s.ownPermit(ctx, req.PermitId)
	if err != nil {
		return nil, err
	}
	sch := scheduleOf(p, s.cfg.Rules)
	st := statusOn(p, sch, today(s.cfg.Clock()))
	return &epermitv1.GetPermitStatusResponse{Status: st, Detail: statusDetail(p, sch, st)}, nil
}

// GetResidenceHistory implements federation.Register.
func (s *Service) GetResidenceHistory(ctx context.Context, req *epermitv1.GetResidenceHistoryRequest) (*epermitv1.GetResidenceHistoryResponse, error) {
	p, err := s.holderPermit(ctx, req.PermitId, req.CitizenId)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Clock()
	d := decorate(p, s.cfg.Rules, now)
	return &epermitv1.GetResidenceHistoryResponse{
		Holder: d.Holder, Status: d.Status,
		Periods: append(d.PriorResidence, &epermitv1.ResidencePeriod{
			Division: p.IssuingDivision, PermitId: p.Id,
			StartDate: p.ResidenceStartDate, EndDate: formatDate(today(now)),
		}),
	}, nil
}

// SupersedePermit implements federation.Register. The caller's division
// must be the successor's; the permit must be in force (ACTIVE today) and
// have no cancellation pending, or already be superseded by this successor
// (a retry).
func (s *Service) SupersedePermit(ctx context.Context, req *epermitv1.SupersedePermitRequest) (*epermitv1.SupersedePermitResponse, error) {
	var v apierror.Violations
	successor := permitID(&v, "successor_permit_id", req.SuccessorPermitId)
	if err := v.Err("invalid supersede request"); err != nil {
		return nil, err
	}
	_, div, _ := permitid.Parse(successor)
	if call := auth.CallFrom(ctx); call != nil && call.Principal.Division != div {
		return nil, apierror.PermissionDenied("a member may supersede a permit only by a permit of its own division (" +
			call.Principal.Division + "), not of " + div)
	}
	for attempt := 0; ; attempt++ {
		p, err := s.holderPermit(ctx, req.PermitId, req.CitizenId)
		if err != nil {
			return nil, err
		}
		if p.Status == epermitv1.PermitStatus_PERMIT_STATUS_SUPERSEDED && p.SupersededBy == successor {
			return &epermitv1.SupersedePermitResponse{Permit: refOf(p)}, nil
		}
		if err := s.canSupersede(ctx, p, successor); err != nil {
			return nil, err
		}
		next, err := s.commit(ctx, req, "", p, "", func(p *epermitv1.Permit, now time.Time) error {
			p.Status = epermitv1.PermitStatus_PERMIT_STATUS_SUPERSEDED
			p.SupersededBy = successor
			p.Suspension = nil
			return nil
		})
		if status.Code(err) == codes.Aborted && attempt < 3 {
			continue // changed between the read and the write: judge it again
		}
		if err != nil {
			return nil, err
		}
		return &epermitv1.SupersedePermitResponse{Permit: refOf(next)}, nil
	}
}

// canSupersede tells why p cannot be superseded by successor, if so.
func (s *Service) canSupersede(ctx context.Context, p *epermitv1.Permit, successor string) error {
	if p.Status == epermitv1.PermitStatus_PERMIT_STATUS_SUPERSEDED {
		return apierror.FailedPrecondition("PERMIT_SUPERSEDED", p.Id,
			"the permit was already superseded by "+p.SupersededBy+", not by "+successor)
	}
	if err := mustNotBeFinal(p); err != nil {
		return err
	}
	sch := scheduleOf(p, s.cfg.Rules)
	if st := statusOn(p, sch, today(s.cfg.Clock())); st != epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE {
		return apierror.FailedPrecondition("PERMIT_NOT_ACTIVE", p.Id,
			"only a permit in force can be transferred; "+statusDetail(p, sch, st))
	}
	pending, err := s.cfg.Store.ListPending(ctx)
	if err != nil {
		return s.storeError("list pending cancellations", err)
	}
	for _, c := range pending {
		if c.PermitId == p.Id {
			return apierror.FailedPrecondition("CANCELLATION_PENDING", p.Id,
				"a cancellation of the permit is pending with its issuer ("+c.Id+")")
		}
	}
	return nil
}

// ownPermit reads a permit of this node by id.
func (s *Service) ownPermit(ctx context.Context, raw string) (*epermitv1.Permit, error) {
	var v apierror.Violations
	id := permitID(&v, "permit_id", raw)
	if err := v.Err("invalid request"); err != nil {
		return nil, err
	}
	auth.CallFrom(ctx).SetTarget(id)
	p, err := s.cfg.Store.GetPermit(ctx, id)
	if err != nil {
		return nil, s.storeError("read permit", err, id)
	}
	return p, nil
}

// holderPermit reads a permit of this node whose holder has this citizen
// id; NOT_FOUND when either does not match, so the answer reveals nothing
// to a caller who knows only one of them.
func (s *Service) holderPermit(ctx context.Context, rawID, rawCitizen string) (*epermitv1.Permit, error) {
	var v apierror.Violations
	id := permitID(&v, "permit_id", rawID)
	citizen := citizenID(&v, "citizen_id", rawCitizen, today(s.cfg.Clock()))
	if err := v.Err("invalid request"); err != nil {
		return nil, err
	}
	auth.CallFrom(ctx).SetTarget(id)
	p, err := s.cfg.Store.GetPermit(ctx, id)
	if err == nil && p.Holder.GetCitizenId() != citizen.Number {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, s.storeError("read permit", err, id)
	}
	return p, nil
}
