package permit

import (
	"context"
	"time"

	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/server/validate"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Subject is what the scenario router needs to know of the permit a
// service request is for, as of now.
type Subject struct {
	PermitID        string
	IssuingDivision string
	// IssuedHere is true for a permit of this node.
	IssuedHere bool
	// Valid is true only for a permit in force: the verdict VALID.
	Valid bool
	// Status is the permit's status as this node knows it.
	Status epermitv1.PermitStatus
	// Findings say why the permit is not valid, when it is not.
	Findings []*epermitv1.Finding
	// Holder has the name, citizen id, sex and birth date.
	Holder *epermitv1.Holder
	// ResidenceAddress is known for permits of this node only.
	ResidenceAddress string
	// ResidenceMonths is continuous residence across member cities;
	// ResidenceMonthsHere in the issuing city alone.
	ResidenceMonths, ResidenceMonthsHere, ResidenceYears int
}

// Subject reads and checks the permit a service request names: a permit
// of this node by id, or a credential of any member city with the holder's
// citizen id (which the credential masks, so it must match). A permit that
// is not valid is a Subject with Valid false, not an error.
func (s *Service) Subject(ctx context.Context, sp *epermitv1.ServicePermit) (*Subject, error) {
	now := s.cfg.Clock()
	switch subject := sp.GetSubject().(type) {
	case *epermitv1.ServicePermit_PermitId:
		var v apierror.Violations
		id := permitID(&v, "permit.permit_id", subject.PermitId)
		if err := v.Err("invalid permit"); err != nil {
			return nil, err
		}
		p, err := s.cfg.Store.GetPermit(ctx, id)
		if err != nil {
			return nil, s.storeError("read permit", err, id)
		}
		return s.subjectOfRecord(p, now), nil
	case *epermitv1.ServicePermit_CredentialText:
		var v apierror.Violations
		if n := len(subject.CredentialText); n == 0 || n > maxCredentialText {
			v.Add("permit.credential_text", "LENGTH", "must be 1 to 4096 characters")
		}
		holder := citizenID(&v, "permit.citizen_id", sp.GetCitizenId(), today(now))
		if err := v.Err("invalid permit"); err != nil {
			return nil, err
		}
		resp, err := s.verifyCredential(ctx, subject.CredentialText)
		if err != nil {
			return nil, err
		}
		sum := resp.GetPermit()
		if sum != nil && sum.MaskedCitizenId != holder.Mask() {
			return nil, apierror.InvalidField("permit.citizen_id", "MISMATCH", "is not the citizen id of the credential's holder")
		}
		if sum != nil && sum.IssuingDivision == s.cfg.Division {
			if p, err := s.cfg.Store.GetPermit(ctx, sum.PermitId); err == nil {
				sub := s.subjectOfRecord(p, now)
				sub.Valid = sub.Valid && resp.Verdict == epermitv1.Verdict_VERDICT_VALID
				sub.Findings = resp.Findings
				return sub, nil
			}
		}
		sub := &Subject{
			Valid: resp.Verdict == epermitv1.Verdict_VERDICT_VALID, Status: resp.Status, Findings: resp.Findings,
			Holder: &epermitv1.Holder{CitizenId: holder.Number, BirthDate: holder.BirthDateString(), Sex: validate.SexOf(holder)},
		}
		if sum != nil {
			sub.PermitID, sub.IssuingDivision = sum.PermitId, sum.IssuingDivision
			sub.Holder.Name = sum.HolderName
			sub.ResidenceMonths, sub.ResidenceYears = int(sum.ResidenceMonths), int(sum.ResidenceYears)
			if start, err := parseDate(sum.ResidenceStartDate); err == nil {
				sub.ResidenceMonthsHere = fullMonths(start, today(now))
			}
		}
		return sub, nil
	}
	return nil, apierror.InvalidField("permit", "REQUIRED", "give permit_id or credential_text with citizen_id")
}

// subjectOfRecord is the Subject of a permit of this node.
func (s *Service) subjectOfRecord(p *epermitv1.Permit, now time.Time) *Subject {
	d := decorate(p, s.cfg.Rules, now)
	sch := scheduleOf(p, s.cfg.Rules)
	day := today(now)
	here := day
	if here.After(sch.nextDue) {
		here = sch.nextDue
	}
	sub := &Subject{
		PermitID: p.Id, IssuingDivision: p.IssuingDivision, IssuedHere: true,
		Valid: d.Status == epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE, Status: d.Status,
		Holder: d.Holder, ResidenceAddress: p.ResidenceAddress,
		ResidenceMonths: int(d.ResidenceMonths), ResidenceMonthsHere: fullMonths(sch.countStart, here),
		ResidenceYears: int(d.ResidenceYears),
	}
	if !sub.Valid {
		sub.Findings = []*epermitv1.Finding{{Check: epermitv1.Check_CHECK_STATUS, Detail: statusDetail(p, sch, d.Status)}}
	}
	return sub
}
