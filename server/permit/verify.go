package permit

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/server/auth"
	"github.com/yrd-epermit/epermit/statuslist"
	"github.com/yrd-epermit/epermit/store"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// maxCredentialText bounds the credential text a caller may send.
const maxCredentialText = 4096

// VerifyPermit implements epermitv1.PermitServiceServer. The holder's name
// and masked citizen id are in the answer only when the request asks for
// personal data.
func (s *Service) VerifyPermit(ctx context.Context, req *epermitv1.VerifyPermitRequest) (*epermitv1.VerifyPermitResponse, error) {
	resp, err := s.verify(ctx, req)
	if err != nil {
		return nil, err
	}
	if p := resp.GetPermit(); p != nil {
		auth.CallFrom(ctx).SetTarget(p.PermitId)
		if !req.IncludePersonalData {
			p.HolderName, p.MaskedCitizenId = "", ""
		}
	}
	return resp, nil
}

// verify verifies the request's subject.
func (s *Service) verify(ctx context.Context, req *epermitv1.VerifyPermitRequest) (*epermitv1.VerifyPermitResponse, error) {
	switch subject := req.Subject.(type) {
	case *epermitv1.VerifyPermitRequest_CredentialText:
		if n := len(subject.CredentialText); n == 0 || n > maxCredentialText {
			return nil, apierror.InvalidField("credential_text", "LENGTH",
				fmt.Sprintf("must be 1 to %d characters", maxCredentialText))
		}
		return s.verifyCredential(ctx, subject.CredentialText)
	case *epermitv1.VerifyPermitRequest_PermitId:
		var v apierror.Violations
		id := permitID(&v, "permit_id", subject.PermitId)
		if err := v.Err("invalid verify request"); err != nil {
			return nil, err
		}
		return s.verifyID(ctx, id)
	}
	return nil, apierror.InvalidField("subject", "REQUIRED", "give credential_text or permit_id")
}

// verifyCredential checks a credential offline, then the permit's status in
// the register.
func (s *Service) verifyCredential(ctx context.Context, text string) (*epermitv1.VerifyPermitResponse, error) {
	now := s.cfg.Clock()
	res := credential.Verify(text, credential.KeyResolverFunc(s.issuerKey), now)
	if res.Claims != nil && res.Claims.Issuer != s.cfg.Division {
		return s.verifyForeign(ctx, text, res.Claims.Issuer, now), nil
	}
	if s.listsOwnKeys() {
		// The trust list decides for this node's keys as for any member's:
		// a key removed from it (compromised) verifies nothing here either.
		res = s.cfg.Trust.VerifyCredential(text, now)
	}
	resp := &epermitv1.VerifyPermitResponse{Verdict: epermitv1.Verdict_VERDICT_NOT_VALID}
	for _, f := range res.Findings {
		resp.Findings = append(resp.Findings, &epermitv1.Finding{Check: checkOf[f.Check], Passed: f.Passed, Detail: f.Detail})
	}
	if res.Claims != nil {
		resp.Permit = summaryOfClaims(res.Claims)
	}
	if !res.Valid() {
		return resp, nil
	}
	p, err := s.cfg.Store.GetPermit(ctx, res.Claims.PermitID)
	if errors.Is(err, store.ErrNotFound) {
		resp.Findings = append(resp.Findings, &epermitv1.Finding{Check: epermitv1.Check_CHECK_STATUS,
			Detail: "the register of " + s.cfg.Division + " holds no permit " + res.Claims.PermitID})
		return resp, nil
	}
	if err != nil {
		return nil, s.storeError("verify permit", err)
	}
	judgeStatus(resp, p, scheduleOf(p, s.cfg.Rules), today(now))
	return resp, nil
}

// verifyForeign checks a credential issued by another member division:
// format, issuer key from the trust list, signature and time window, then
// the permit's status (judgeForeignStatus).
func (s *Service) verifyForeign(ctx context.Context, text, issuer string, now time.Time) *epermitv1.VerifyPermitResponse {
	var res credential.Result
	if s.cfg.Trust == nil {
		res = credential.Verify(text, credential.KeyResolverFunc(s.issuerKey), now)
	} else {
		res = s.cfg.Trust.VerifyCredential(text, now)
	}
	resp := &epermitv1.VerifyPermitResponse{Verdict: epermitv1.Verdict_VERDICT_NOT_VALID}
	for _, f := range res.Findings {
		resp.Findings = append(resp.Findings, &epermitv1.Finding{Check: checkOf[f.Check], Passed: f.Passed, Detail: f.Detail})
	}
	for _, f := range resp.Findings {
		if s.cfg.Trust == nil && f.Check == epermitv1.Check_CHECK_ISSUER && !f.Passed {
			f.Detail = "this node has no trust list, so it verifies only credentials of its own division " +
				s.cfg.Division + ", not of " + issuer
		}
	}
	if res.Claims != nil {
		resp.Permit = summaryOfClaims(res.Claims)
	}
	if res.Valid() {
		s.judgeForeignStatus(ctx, resp, issuer, res.Claims.PermitID, res.Claims.Permit.StatusIndex, now)
	}
	return resp
}

// judgeForeignStatus sets the verdict of an authentic foreign credential
// from the issuer's cached status list. A fresh list decides; a list older
// than the maximum age still decides for final states (they never change
// back). When the list held here cannot decide, the issuer is asked live;
// when it does not answer, the verdict is STATUS_UNKNOWN with the list's
// age. Nothing but a fresh "valid" entry or a live ACTIVE gives VALID.
func (s *Service) judgeForeignStatus(ctx context.Context, resp *epermitv1.VerifyPermitResponse, issuer, permitID string, index *uint32, now time.Time) {
	unknown := func(detail string) {
		if s.liveStatus(ctx, resp, issuer, permitID) {
			return
		}
		resp.Verdict = epermitv1.Verdict_VERDICT_STATUS_UNKNOWN
		resp.Findings = append(resp.Findings, &epermitv1.Finding{Check: epermitv1.Check_CHECK_STATUS, Detail: detail})
	}
	switch {
	case s.cfg.Statuses == nil:
		unknown("the credential is authentic, but this node reads no status lists of other members; ask " + issuer)
		return
	case index == nil:
		unknown("the credential is authentic, but names no status list entry, and " + issuer + " did not answer a live query")
		return
	}
	state, age, fresh := s.cfg.Statuses.Status(issuer, *index, now, s.cfg.StatusMaxAge)
	ageText := age.Round(time.Second).String()
	f := &epermitv1.Finding{Check: epermitv1.Check_CHECK_STATUS}
	switch {
	case !state.Known() || state == statuslist.Unused:
		unknown("the status list of " + issuer + " held here does not know this permit (list age " + ageText +
			"), and " + issuer + " did not answer a live query")
		return
	case !fresh && !state.Final():
		unknown(fmt.Sprintf("the status list of %s held here is %s old, beyond the %s allowed; it last said %s, and %s did not answer a live query",
			issuer, ageText, s.cfg.StatusMaxAge, state, issuer))
		return
	case state == statuslist.Valid:
		resp.Verdict = epermitv1.Verdict_VERDICT_VALID
		resp.Status = epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE
		f.Passed = true
		f.Detail = fmt.Sprintf("valid by the status list of %s, as of %s ago", issuer, ageText)
	default:
		resp.Status = foreignStatus[state]
		f.Detail = fmt.Sprintf("%s by the status list of %s, as of %s ago", state, issuer, ageText)
	}
	resp.Findings = append(resp.Findings, f)
}

// liveTimeout bounds the live status query of a verification: a verifier
// whose issuer is down answers from its cache rather than wait.
const liveTimeout = time.Second

// liveStatus asks the issuer for the permit's status now and, when it
// answers, sets the verdict from that answer and reports true.
func (s *Service) liveStatus(ctx context.Context, resp *epermitv1.VerifyPermitResponse, issuer, permitID string) bool {
	if !s.federated() {
		return false
	}
	c, err := s.cfg.Peers.Client(issuer)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, liveTimeout)
	defer cancel()
	live, err := c.GetPermitStatus(ctx, &epermitv1.GetPermitStatusRequest{PermitId: permitID})
	if err != nil {
		s.cfg.Logger.Info("live status query", "issuer", issuer, "permit", permitID, "err", err)
		return false
	}
	resp.Status = live.Status
	f := &epermitv1.Finding{Check: epermitv1.Check_CHECK_STATUS, Detail: "live answer from " + issuer + ": " + live.Detail}
	if live.Status == epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE {
		resp.Verdict = epermitv1.Verdict_VERDICT_VALID
		f.Passed = true
	}
	resp.Findings = append(resp.Findings, f)
	return true
}

// foreignStatus maps a status-list state to the permit status reported.
var foreignStatus = map[statuslist.State]epermitv1.PermitStatus{
	statuslist.Suspended:   epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED,
	statuslist.Cancelled:   epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED,
	statuslist.Confiscated: epermitv1.PermitStatus_PERMIT_STATUS_CONFISCATED,
	statuslist.Superseded:  epermitv1.PermitStatus_PERMIT_STATUS_SUPERSEDED,
}

// verifyID checks a permit's status in the register. id is a valid,
// normalised permit id, so its division is what comes before the hyphen.
func (s *Service) verifyID(ctx context.Context, id string) (*epermitv1.VerifyPermitResponse, error) {
	resp := &epermitv1.VerifyPermitResponse{Verdict: epermitv1.Verdict_VERDICT_NOT_VALID}
	if div, _, _ := strings.Cut(id, "-"); div != s.cfg.Division {
		resp.Findings = []*epermitv1.Finding{{Check: epermitv1.Check_CHECK_ISSUER,
			Detail: "permit " + id + " was issued by division " + div + ", not by this node (" + s.cfg.Division + ")"}}
		return resp, nil
	}
	p, err := s.cfg.Store.GetPermit(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		resp.Findings = []*epermitv1.Finding{{Check: epermitv1.Check_CHECK_STATUS,
			Detail: "the register of " + s.cfg.Division + " holds no permit " + id}}
		return resp, nil
	}
	if err != nil {
		return nil, s.storeError("verify permit", err)
	}
	// The schedule, from the record's dates, serves the summary and the
	// status alike: derived once.
	sch, day := scheduleOf(p, s.cfg.Rules), today(s.cfg.Clock())
	resp.Permit = summaryOfRecord(p, sch, day)
	judgeStatus(resp, p, sch, day)
	return resp, nil
}

// judgeStatus adds the status finding of a record with schedule sch on day
// and sets the verdict.
func judgeStatus(resp *epermitv1.VerifyPermitResponse, p *epermitv1.Permit, sch schedule, day time.Time) {
	st := statusOn(p, sch, day)
	resp.Status = st
	f := &epermitv1.Finding{Check: epermitv1.Check_CHECK_STATUS, Detail: statusDetail(p, sch, st)}
	if st == epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE {
		f.Passed = true
		resp.Verdict = epermitv1.Verdict_VERDICT_VALID
	}
	resp.Findings = append(resp.Findings, f)
}

// statusDetail says in a sentence why a permit has its status.
func statusDetail(p *epermitv1.Permit, sch schedule, st epermitv1.PermitStatus) string {
	switch st {
	case epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE:
		return "the permit is active; next endorsement due " + formatDate(sch.nextDue)
	case epermitv1.PermitStatus_PERMIT_STATUS_EXPIRED:
		return "the card validity ended on " + p.ValidUntil
	case epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED:
		if p.Status == epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED {
			return "the permit is suspended: " + p.Suspension.GetReason()
		}
		return "the permit is suspended: the endorsement due " + formatDate(sch.nextDue) + " was not made"
	case epermitv1.PermitStatus_PERMIT_STATUS_SUPERSEDED:
		return "the permit was superseded by permit " + p.SupersededBy + " of another member city"
	case epermitv1.PermitStatus_PERMIT_STATUS_PENDING:
		return "the permit is not in force yet: " + pendingReason(p)
	}
	c := p.Cancellation
	return fmt.Sprintf("the permit was %s on %s (%s)", statusWord(st),
		formatDate(today(c.GetTime().AsTime())), reasonWord(c.GetReason()))
}

// listsOwnKeys reports whether the current trust list names this node's
// division, so that it decides which of the node's own keys are valid.
func (s *Service) listsOwnKeys() bool {
	if s.cfg.Trust == nil {
		return false
	}
	l := s.cfg.Trust.Current()
	if l == nil {
		return false
	}
	_, ok := l.Member(s.cfg.Division)
	return ok
}

// issuerKey resolves this node's own keys; other members' keys arrive with
// the trust list.
func (s *Service) issuerKey(issuer, kid string) (crypto.PublicKey, bool) {
	if issuer != s.cfg.Division {
		return nil, false
	}
	return s.cfg.Keys.Public(kid)
}

var checkOf = map[credential.Check]epermitv1.Check{
	credential.CheckFormat:     epermitv1.Check_CHECK_FORMAT,
	credential.CheckIssuer:     epermitv1.Check_CHECK_ISSUER,
	credential.CheckSignature:  epermitv1.Check_CHECK_SIGNATURE,
	credential.CheckTimeWindow: epermitv1.Check_CHECK_TIME_WINDOW,
}

func summaryOfClaims(c *credential.Claims) *epermitv1.PermitSummary {
	return &epermitv1.PermitSummary{
		PermitId:           c.PermitID,
		HolderName:         c.Permit.HolderName,
		MaskedCitizenId:    c.Permit.MaskedCitizenID,
		IssuingDivision:    c.Issuer,
		ResidenceStartDate: c.Permit.ResidenceStartDate,
		ResidenceYears:     int32(c.Permit.ResidenceYears),
		ResidenceMonths:    int32(c.Permit.ResidenceMonths),
		NextEndorsementDue: c.Permit.NextEndorsementDue,
		ExpireTime:         timestamppb.New(c.Expiry),
	}
}

// summaryOfRecord is the summary of a record with schedule sch on day.
func summaryOfRecord(p *epermitv1.Permit, sch schedule, day time.Time) *epermitv1.PermitSummary {
	return &epermitv1.PermitSummary{
		PermitId:           p.Id,
		HolderName:         p.Holder.GetName(),
		MaskedCitizenId:    citizenid.ID{Number: p.Holder.GetCitizenId()}.Mask(),
		IssuingDivision:    p.IssuingDivision,
		ResidenceStartDate: p.ResidenceStartDate,
		ResidenceYears:     int32(residenceYears(sch, day)),
		ResidenceMonths:    int32(residenceMonths(p, sch, day)),
		NextEndorsementDue: formatDate(sch.nextDue),
		ExpireTime:         timestamppb.New(expiry(sch)),
	}
}
