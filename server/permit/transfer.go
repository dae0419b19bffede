package permit

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/division"
	"github.com/yrd-epermit/epermit/permitid"
	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/server/auth"
	"github.com/yrd-epermit/epermit/server/validate"
	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/trust"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// This file keeps one permit per citizen across the Delta and moves
// residents between member cities (docs/federation.md). A permit issued in
// a federation is written PENDING first, then the other members are asked
// for the citizen's permits: since every node writes its reservation before
// it asks, of two racing issuances at least one sees the other and yields.
// A transfer then has the old issuer supersede its permit, the single point
// where the move takes effect, before the new permit comes into force.

// Peers reaches the other member nodes (federation.Peers).
type Peers interface {
	// Members are the members of the trust list other than this node.
	Members() []trust.Member
	// Client is a FederationService client of a member.
	Client(division string) (epermitv1.FederationServiceClient, error)
}

const (
	// peerTimeout bounds one call to another member.
	peerTimeout = 5 * time.Second
	// lookupFanOut bounds how many members are asked at once.
	lookupFanOut = 8
)

// federated reports whether issuance here goes through the Delta-wide
// check.
func (s *Service) federated() bool { return s.cfg.Peers != nil }

// TransferPermit implements epermitv1.PermitServiceServer.
func (s *Service) TransferPermit(ctx context.Context, req *epermitv1.TransferPermitRequest) (*epermitv1.TransferPermitResponse, error) {
	now := s.cfg.Clock()
	day := today(now)
	var v apierror.Violations
	requestID(&v, req.RequestId)
	if n := len(req.CredentialText); n == 0 || n > maxCredentialText {
		v.Add("credential_text", "LENGTH", fmt.Sprintf("must be 1 to %d characters", maxCredentialText))
	}
	citizen := citizenID(&v, "citizen_id", req.CitizenId, day)
	addr := text(&v, "residence_address", req.ResidenceAddress, 1, maxAddress)
	if err := v.Err("invalid transfer request"); err != nil {
		return nil, err
	}
	if r, err := s.replay(ctx, req.RequestId, req); r != nil || err != nil {
		if err != nil {
			return nil, err
		}
		return s.transferResponse(s.settle(ctx, r.Permit))
	}
	if s.cfg.Trust == nil || !s.federated() {
		return nil, apierror.FailedPrecondition("NO_FEDERATION", s.cfg.Division,
			"this node is not in a federation (no trust list or no client certificate for the other members)")
	}
	res := s.cfg.Trust.VerifyCredential(req.CredentialText, now)
	if !res.Valid() {
		return nil, apierror.InvalidField("credential_text", "NOT_AUTHENTIC", "is not an authentic credential of a member: "+failedFinding(res.Findings))
	}
	from, issuer := res.Claims.PermitID, res.Claims.Issuer
	if issuer == s.cfg.Division {
		return nil, apierror.FailedPrecondition("SAME_CITY", from,
			"the permit was issued by this city; a move within the city changes the address, not the permit")
	}
	hist, err := peerCall(ctx, s, issuer, "transfer of residence to "+s.cfg.Division,
		func(ctx context.Context, c epermitv1.FederationServiceClient) (*epermitv1.GetResidenceHistoryResponse, error) {
			return c.GetResidenceHistory(ctx, &epermitv1.GetResidenceHistoryRequest{PermitId: from, CitizenId: citizen.Number}, waitForReady)
		})
	if err != nil {
		return nil, s.peerError(issuer, "read the residence history", err)
	}
	if hist.Status != epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE {
		return nil, apierror.FailedPrecondition("PERMIT_NOT_ACTIVE", from, fmt.Sprintf(
			"the permit is %s at its issuer %s; only a permit in force can be transferred", statusWord(hist.Status), issuer))
	}
	var hv apierror.Violations
	h := holder(&hv, hist.Holder, day)
	periods := residencePeriods(&hv, hist.Periods, day)
	if err := hv.Err("bad answer"); err != nil {
		s.cfg.Logger.Warn("transfer: the old issuer's answer does not validate", "issuer", issuer, "permit", from, "err", err)
		return nil, apierror.FailedPrecondition("BAD_HISTORY", from, "the residence history from "+issuer+" is not valid: "+status.Convert(err).Message())
	}
	p := s.newPermit(h, addr, day, now)
	p.PriorResidence = periods
	p.TransferredFrom = from
	p.Status = epermitv1.PermitStatus_PERMIT_STATUS_PENDING
	if p, _, err = s.create(ctx, req, req.RequestId, p, false); err != nil {
		return nil, err
	}
	return s.transferResponse(s.settle(ctx, p))
}

func (s *Service) transferResponse(p *epermitv1.Permit, err error) (*epermitv1.TransferPermitResponse, error) {
	r, err := s.issueResponse(p, nil, err)
	if err != nil {
		return nil, err
	}
	return &epermitv1.TransferPermitResponse{Permit: r.Permit, Credential: r.Credential}, nil
}

// failedFinding is the detail of the first failed check.
func failedFinding(fs []credential.Finding) string {
	for _, f := range fs {
		if !f.Passed {
			return f.Detail
		}
	}
	return "not verifiable"
}

// residencePeriods validates the periods an old issuer sent: member
// division codes, permit ids of those divisions, ordered dates not after
// day.
func residencePeriods(v *apierror.Violations, in []*epermitv1.ResidencePeriod, day time.Time) []*epermitv1.ResidencePeriod {
	if len(in) == 0 || len(in) > 100 {
		v.Add("periods", "COUNT", "must hold 1 to 100 periods")
		return nil
	}
	var prevEnd time.Time
	for i, p := range in {
		field := fmt.Sprintf("periods[%d]", i)
		_, div, err := permitid.Parse(p.PermitId)
		start, err1 := parseDate(p.StartDate)
		end, err2 := parseDate(p.EndDate)
		switch {
		case !division.IsCode(p.Division) || err != nil || div != p.Division:
			v.Add(field, "PERMIT", "must name a member division and a permit of it")
		case err1 != nil || err2 != nil || end.Before(start) || end.After(day) || start.Before(prevEnd):
			v.Add(field, "DATES", "must have ordered dates, not after today")
		}
		prevEnd = end
	}
	return in
}

// create writes a new permit, drawing another id when a random one
// collides, and another status-list entry when another replica gave the
// permit's to a permit of its own (store.ErrIndexTaken). A reused request
// id answers with what it wrote first.
//
// With sign, the permit's credential is signed while the write commits
// and signed returns it when the permit written is p; it is nil for a
// replay. The signature is about a third of the call's CPU,
// and under load a commit waits for the disk with the CPU idle.
func (s *Service) create(ctx context.Context, req proto.Message, reqID string, p *epermitv1.Permit, sign bool) (
	written *epermitv1.Permit, signed func() (*epermitv1.Credential, error), err error) {
	for attempt, draws := 0, 0; ; attempt++ {
		id, err := permitid.New(s.cfg.Division)
		if err != nil {
			return nil, nil, s.internal("new permit id", err)
		}
		p.Id = id
		if sign {
			signed = s.credentialSoon(p)
		}
		err = s.cfg.Store.WritePermit(ctx, store.PermitWrite{
			RequestID: reqID, RequestHash: validate.Fingerprint(req), Permit: p,
			Audit: s.entry(ctx, id, pendingNote(p)),
		})
		if errors.Is(err, store.ErrConflict) && attempt < 3 {
			continue // a random id collided; draw another
		}
		if errors.Is(err, store.ErrIndexTaken) && p.StatusIndex != nil && draws < maxIndexDraws {
			draws++ // the entry stays reserved: another permit holds it
			index, err := s.cfg.Status.Assign(ctx)
			if err != nil {
				return nil, nil, s.internal("assign a status list entry", err)
			}
			p.StatusIndex = &index
			continue
		}
		if errors.Is(err, store.ErrDuplicateRequest) {
			r, err := s.replay(ctx, reqID, req)
			if err != nil {
				return nil, nil, err
			}
			return r.GetPermit(), nil, nil
		}
		if err != nil {
			return nil, nil, s.storeError("write permit", err)
		}
		auth.CallFrom(ctx).Recorded()
		if p.Status == epermitv1.PermitStatus_PERMIT_STATUS_PENDING {
			s.settler.add(p.Id)
		} else if s.cfg.Status != nil {
			s.cfg.Status.Record(p)
		}
		return p, signed, nil
	}
}

func pendingNote(p *epermitv1.Permit) string {
	if p.Status != epermitv1.PermitStatus_PERMIT_STATUS_PENDING {
		return ""
	}
	return "reserved until the member cities confirm"
}

// entry is the audit entry of a write: the call's, with note, or the
// node's own for work it does by itself (settling pending permits).
func (s *Service) entry(ctx context.Context, target, note string) *epermitv1.AuditEntry {
	if call := auth.CallFrom(ctx); call != nil {
		if note != "" {
			call.SetNote(note)
		}
		return call.Entry(target)
	}
	if s.cfg.Peers == nil && note == "" {
		return nil // outside a call and outside federation: tests of the bare service
	}
	return &epermitv1.AuditEntry{
		Time: timestamppb.New(s.cfg.Clock()), Actor: "permitd", Division: s.cfg.Division,
		Method: "permitd/settle", Target: target, Outcome: "OK", Note: note,
	}
}

// settle brings a PENDING permit as far as the other members allow now and
// returns it as it then stands: in force, withdrawn (with the error that
// says why), or still pending when a member is unreachable (the settler
// tries again). Permits in any other state are returned as they are.
func (s *Service) settle(ctx context.Context, p *epermitv1.Permit) (*epermitv1.Permit, error) {
	if p.Status != epermitv1.PermitStatus_PERMIT_STATUS_PENDING || !s.settler.claim(p.Id) {
		return p, nil
	}
	defer s.settler.release(p.Id)
	cur, err := s.cfg.Store.GetPermit(ctx, p.Id)
	if err != nil {
		return nil, s.storeError("read permit", err, p.Id)
	}
	if cur.Status != epermitv1.PermitStatus_PERMIT_STATUS_PENDING {
		s.settler.done(cur.Id)
		return cur, nil
	}
	if !cur.DeltaCheckPassed {
		others, unreachable := s.lookup(ctx, cur)
		switch {
		case len(others) > 0:
			o, yield := yieldTo(cur, others)
			if !yield {
				s.cfg.Logger.Info("permit stays pending: a later racing reservation must yield first", "permit", cur.Id, "other", o.ref.PermitId)
				return cur, nil
			}
			return s.withdraw(ctx, cur, fmt.Sprintf("the citizen holds permit %s (%s) issued by %s; transfer that permit instead",
				o.ref.PermitId, statusWord(o.ref.Status), o.division))
		case len(unreachable) > 0:
			s.cfg.Logger.Warn("permit stays pending: members unreachable", "permit", cur.Id, "members", strings.Join(unreachable, " "))
			return cur, nil
		}
		if cur.TransferredFrom == "" {
			return s.activate(ctx, cur)
		}
		if cur, err = s.settleWrite(ctx, cur, "the member cities confirmed; asking the old issuer", func(p *epermitv1.Permit) {
			p.DeltaCheckPassed = true
		}); err != nil || cur.Status != epermitv1.PermitStatus_PERMIT_STATUS_PENDING {
			return cur, err
		}
	}
	_, issuer, _ := permitid.Parse(cur.TransferredFrom)
	_, err = peerCall(ctx, s, issuer, "transfer of residence to "+s.cfg.Division,
		func(ctx context.Context, c epermitv1.FederationServiceClient) (*epermitv1.SupersedePermitResponse, error) {
			return c.SupersedePermit(ctx, &epermitv1.SupersedePermitRequest{
				PermitId: cur.TransferredFrom, CitizenId: cur.Holder.GetCitizenId(), SuccessorPermitId: cur.Id}, waitForReady)
		})
	switch status.Code(err) {
	case codes.OK:
		return s.activate(ctx, cur)
	case codes.FailedPrecondition, codes.NotFound, codes.InvalidArgument, codes.PermissionDenied:
		return s.withdraw(ctx, cur, "the old issuer "+issuer+" refused the transfer: "+status.Convert(err).Message())
	}
	s.cfg.Logger.Warn("transfer stays pending: the old issuer did not confirm", "permit", cur.Id, "issuer", issuer, "err", err)
	return cur, nil
}

// conflict is another member's permit of the same citizen.
type conflict struct {
	division string
	ref      *epermitv1.PermitRef
}

// lookup asks every other member for the citizen's permits that are not
// final, a few members at a time. It returns those that stand against p
// and the members that did not answer. For a transfer the permit it
// replaces does not count, nor other transfers of that same permit: its
// issuer lets only one of them supersede it.
func (s *Service) lookup(ctx context.Context, p *epermitv1.Permit) ([]conflict, []string) {
	var (
		mu          sync.Mutex
		others      []conflict
		unreachable []string
		wg          sync.WaitGroup
		slots       = make(chan struct{}, lookupFanOut)
	)
	for _, m := range s.cfg.Peers.Members() {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			resp, err := peerCall(ctx, s, m.Division, "one permit per citizen across the Delta",
				func(ctx context.Context, c epermitv1.FederationServiceClient) (*epermitv1.FindPermitsResponse, error) {
					return c.FindPermits(ctx, &epermitv1.FindPermitsRequest{CitizenId: p.Holder.GetCitizenId()}, waitForReady)
				})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				unreachable = append(unreachable, m.Division)
				s.cfg.Logger.Warn("permit lookup", "member", m.Division, "err", err)
				return
			}
			for _, r := range resp.Permits {
				if p.TransferredFrom != "" && (r.PermitId == p.TransferredFrom || r.TransferredFrom == p.TransferredFrom) {
					continue
				}
				others = append(others, conflict{m.Division, r})
			}
		})
	}
	wg.Wait()
	slices.SortFunc(others, func(a, b conflict) int { return strings.Compare(a.ref.PermitId, b.ref.PermitId) })
	slices.Sort(unreachable)
	return others, unreachable
}

// yieldTo decides between p and the other members' permits of the same
// citizen: p yields (is withdrawn) to a permit in force, or to a pending
// reservation made before it (by permit id, whose time-ordered part follows
// the division code); it returns that permit. Otherwise every other permit
// is a later reservation, which yields to p when its node sees p; p waits,
// pending, until they are gone, so that of racing issuances exactly one
// comes into force.
func yieldTo(p *epermitv1.Permit, others []conflict) (conflict, bool) {
	for _, o := range others {
		if o.ref.Status != epermitv1.PermitStatus_PERMIT_STATUS_PENDING || reservedBefore(o.ref.PermitId, p.Id) {
			return o, true
		}
	}
	return others[0], false
}

// reservedBefore orders permit ids by their time-ordered part, then whole.
func reservedBefore(a, b string) bool {
	ta, tb := a[strings.IndexByte(a, '-')+1:], b[strings.IndexByte(b, '-')+1:]
	if ta != tb {
		return ta < tb
	}
	return a < b
}

// maxIndexDraws bounds how often one write draws another status-list
// entry after the store refused one as held by another permit (replicas
// drawing from a shared list, each reloaded at most once a second).
const maxIndexDraws = 16

// activate puts a pending permit in force: it gets its status-list entry
// and its first credential. An entry that another replica gave meanwhile
// (store.ErrIndexTaken) is kept reserved and another is drawn.
func (s *Service) activate(ctx context.Context, p *epermitv1.Permit) (*epermitv1.Permit, error) {
	for draws := 0; ; draws++ {
		var index *uint32
		if s.cfg.Status != nil {
			i, err := s.cfg.Status.Assign(ctx)
			if err != nil {
				return nil, s.internal("assign a status list entry", err)
			}
			index = &i
		}
		next, err := s.settleWrite(ctx, p, "in force", func(p *epermitv1.Permit) {
			p.Status = epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE
			p.DeltaCheckPassed = false
			p.StatusIndex = index
			p.CredentialTime = p.UpdateTime
		})
		if errors.Is(err, store.ErrIndexTaken) {
			if draws < maxIndexDraws {
				continue
			}
			return nil, s.internal("assign a status list entry", err)
		}
		if index != nil && (err != nil || next.StatusIndex == nil || next.GetStatusIndex() != *index) {
			s.cfg.Status.Release(*index)
		}
		return next, err
	}
}

// withdraw ends a pending permit that cannot come into force; the note
// says why (withdrawnError).
func (s *Service) withdraw(ctx context.Context, p *epermitv1.Permit, why string) (*epermitv1.Permit, error) {
	return s.settleWrite(ctx, p, "withdrawn: "+why, func(p *epermitv1.Permit) {
		p.Status = epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED
		p.DeltaCheckPassed = false
		p.Cancellation = &epermitv1.Cancellation{Reason: epermitv1.CancelReason_CANCEL_REASON_WITHDRAWN, Note: why, Time: p.UpdateTime}
	})
}

// settleWrite applies change to the pending permit p and writes it with its
// audit entry. When p changed meanwhile (another settle won), it returns
// the permit as stored; store.ErrIndexTaken is returned as it is.
func (s *Service) settleWrite(ctx context.Context, p *epermitv1.Permit, note string, change func(*epermitv1.Permit)) (*epermitv1.Permit, error) {
	next := cloneProto(p)
	next.Version = p.Version + 1
	next.UpdateTime = timestamppb.New(s.cfg.Clock())
	change(next)
	err := s.cfg.Store.WritePermit(ctx, store.PermitWrite{PrevVersion: p.Version, Permit: next, Audit: s.entry(ctx, p.Id, note)})
	if errors.Is(err, store.ErrIndexTaken) {
		return nil, err // activate draws another entry
	}
	if errors.Is(err, store.ErrConflict) {
		cur, err := s.cfg.Store.GetPermit(ctx, p.Id)
		if err != nil {
			return nil, s.storeError("read permit", err, p.Id)
		}
		return cur, nil
	}
	if err != nil {
		return nil, s.storeError("write permit", err, p.Id)
	}
	auth.CallFrom(ctx).Recorded()
	if next.Status != epermitv1.PermitStatus_PERMIT_STATUS_PENDING {
		s.settler.done(next.Id)
		if s.cfg.Status != nil {
			s.cfg.Status.Record(next)
		}
	}
	return next, nil
}

// withdrawnError is the answer for a permit that was withdrawn.
func withdrawnError(p *epermitv1.Permit) error {
	return apierror.FailedPrecondition("PERMIT_WITHDRAWN", p.Id, "permit "+p.Id+" was not issued: "+p.Cancellation.GetNote())
}

func isWithdrawn(p *epermitv1.Permit) bool {
	return p.Status == epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED &&
		p.Cancellation.GetReason() == epermitv1.CancelReason_CANCEL_REASON_WITHDRAWN
}

// peerCall calls a member with the purpose stated and a bounded wait.
func peerCall[R any](ctx context.Context, s *Service, division, purpose string,
	call func(context.Context, epermitv1.FederationServiceClient) (R, error)) (R, error) {
	var zero R
	c, err := s.cfg.Peers.Client(division)
	if err != nil {
		return zero, status.Error(codes.FailedPrecondition, err.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, peerTimeout)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, auth.PurposeKey, url.PathEscape(purpose))
	return call(ctx, c)
}

// waitForReady lets a call to a member wait, within its deadline, for a
// connection that is being (re)established instead of failing at once.
var waitForReady = grpc.WaitForReady(true)

// peerError turns the failure of a call to a member into the caller's
// answer: the member's own refusals pass on, anything else is UNAVAILABLE.
func (s *Service) peerError(member, doing string, err error) error {
	st := status.Convert(err)
	switch st.Code() {
	case codes.NotFound:
		return apierror.FailedPrecondition("NOT_AT_ISSUER", member,
			"member "+member+" holds no such permit for that citizen id")
	case codes.FailedPrecondition, codes.InvalidArgument:
		return apierror.FailedPrecondition("REFUSED_BY_MEMBER", member, "member "+member+" refused: "+st.Message())
	}
	s.cfg.Logger.Warn("member call failed", "member", member, "doing", doing, "err", err)
	return apierror.Unavailable("member " + member + " could not " + doing + " now (" + st.Code().String() + "); try again later")
}

// settler remembers the pending permits of this node and which of them a
// goroutine is settling, so each is settled by one at a time.
type settler struct {
	mu       sync.Mutex
	pending  map[string]bool
	settling map[string]bool
}

func newSettler() *settler { return &settler{pending: map[string]bool{}, settling: map[string]bool{}} }

func (t *settler) add(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending[id] = true
}

func (t *settler) done(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.pending, id)
}

func (t *settler) claim(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.settling[id] {
		return false
	}
	t.settling[id] = true
	return true
}

func (t *settler) release(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.settling, id)
}

func (t *settler) ids() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := make([]string, 0, len(t.pending))
	for id := range t.pending {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// RunSettler settles this node's pending permits every interval until ctx
// ends: those left by a member that was unreachable, or by a crash. It
// first finds the pending permits in the store.
func (s *Service) RunSettler(ctx context.Context, interval time.Duration) error {
	for after := ""; ; {
		page, err := s.cfg.Store.ListPermits(ctx, store.PermitFilter{}, after, 1000)
		if err != nil {
			return err
		}
		for _, p := range page {
			if p.Status == epermitv1.PermitStatus_PERMIT_STATUS_PENDING {
				s.settler.add(p.Id)
			}
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Id
	}
	for {
		for _, id := range s.settler.ids() {
			p, err := s.cfg.Store.GetPermit(ctx, id)
			if err == nil {
				_, err = s.settle(ctx, p)
			}
			if err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("settling a pending permit", "permit", id, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}
