package application

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/server/federation"
	"github.com/yrd-epermit/epermit/store"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// ForwardMethod is the method recorded in the audit log when the forwarder
// marks an application FORWARDED.
const ForwardMethod = "/epermit.v1.FederationService/ForwardApplication"

// ForwarderAccount is the actor the audit log names for the forwarder's
// own changes.
const ForwarderAccount = "permitd:forwarder"

// ReceiveApplication stores an application that the member from accepted
// on this node's behalf (异地代收), with channel REMOTE and from as the
// accepting division, and returns it as stored; it implements
// federation.ApplicationReceiver. It is idempotent by the forwarded
// application's id. Complete materials make it ACCEPTED at the time the
// member accepted it (its create_time, if not in the future), so that
// forwarding does not lengthen the deadline; otherwise it is
// MATERIALS_REQUIRED by this node's list. Field violations name fields of
// the ForwardApplicationRequest ("application.holder.citizen_id").
func (s *Service) ReceiveApplication(ctx context.Context, from string, in *epermitv1.Application) (*epermitv1.Application, error) {
	now := s.cfg.Clock()
	if from == s.cfg.Division {
		return nil, apierror.FailedPrecondition("FORWARD_TO_SELF", from, "a node does not forward applications to itself")
	}
	if in == nil {
		return nil, apierror.InvalidField("application", "REQUIRED", "is required")
	}
	var v apierror.Violations
	origin := applicationID(&v, in.Id)
	if origin != "" && !strings.HasPrefix(origin, "A"+from+"-") {
		v.Add("id", "NOT_CALLERS", "must be an application id of the calling member "+from)
	}
	if in.TargetDivision != s.cfg.Division {
		v.Add("target_division", "NOT_THIS_DIVISION", "must be "+s.cfg.Division+", the division of this node")
	}
	a := s.applicant(&v, in.Holder, in.ResidenceAddress, in.ResidenceStartDate, now)
	a.MaterialsProvided = forwardedMaterials(&v, in.MaterialsProvided)
	if err := v.ErrUnder("application", "invalid forwarded application"); err != nil {
		return nil, err
	}
	reqID := "forwarded:" + origin
	if r, err := s.replay(ctx, reqID, in); r != nil || err != nil {
		return r.GetApplication(), err
	}
	id, err := newID(s.cfg.Division)
	if err != nil {
		return nil, s.internal("new application id", err)
	}
	a.Id = id
	a.Channel = epermitv1.ApplicationChannel_APPLICATION_CHANNEL_REMOTE
	a.TargetDivision = s.cfg.Division
	a.AcceptingDivision = from
	a.OriginApplicationId = origin
	a.SubmittedBy = actor(ctx)
	a.Version = 1
	a.CreateTime = timestamppb.New(now)
	a.UpdateTime = a.CreateTime
	a.MissingMaterials = missing(s.cfg.Requirements, a.MaterialsProvided)
	if len(a.MissingMaterials) > 0 {
		a.State = epermitv1.ApplicationState_APPLICATION_STATE_MATERIALS_REQUIRED
	} else {
		accepted := now
		if t := in.GetCreateTime(); t.IsValid() && t.AsTime().Before(now) {
			accepted = t.AsTime()
		}
		s.accept(a, accepted)
	}
	if err := s.write(ctx, in, reqID, 0, a); err != nil {
		return s.replayAfter(ctx, err, reqID, in)
	}
	return a, nil
}

// forwardedMaterials checks the material codes of a forwarded
// application. Codes this node does not know are kept (the accepting
// member's list may differ) but meet no requirement here.
func forwardedMaterials(v *apierror.Violations, codes []string) []string {
	if len(codes) > maxMaterials {
		v.Add("materials_provided", "TOO_MANY", fmt.Sprintf("must list at most %d materials", maxMaterials))
		return nil
	}
	var out []string
	for i, c := range codes {
		switch {
		case !codePattern.MatchString(c):
			v.Add(fmt.Sprintf("materials_provided[%d]", i), "FORMAT", "must be a material code in lower-case snake case")
		case !slices.Contains(out, c):
			out = append(out, c)
		}
	}
	return out
}

// ForwardOptions tune the forwarder.
type ForwardOptions struct {
	// MinBackoff is the wait after a first failure, doubled after each
	// further one up to MaxBackoff (each with random jitter of up to a
	// half). Defaults: 1s and 1 minute.
	MinBackoff, MaxBackoff time.Duration
	// Poll is how often the store is read for applications to forward when
	// nothing else wakes the forwarder; default 1 minute.
	Poll time.Duration
	// CallTimeout bounds one ForwardApplication call; default 10s.
	CallTimeout time.Duration
}

func (o *ForwardOptions) defaults() {
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(time.Minute, o.MinBackoff)
	}
	if o.Poll <= 0 {
		o.Poll = time.Minute
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
}

// retry is the backoff of one target member or one application.
type retry struct {
	failures int
	at       time.Time
}

// Forward forwards the FORWARDING applications to their target members
// until ctx ends: at start, when a submission stores a new one, and after
// each backoff. An application stays FORWARDING, and is tried again, until
// its target confirms it; then it is recorded FORWARDED with the id the
// target gave it. Transport failures (target down, unreachable, busy) back
// off the whole target; a refusal of one application backs off that
// application alone, and is logged as an error since it needs a person.
// Without Peers it returns at once.
func (s *Service) Forward(ctx context.Context, o ForwardOptions) {
	if s.cfg.Peers == nil {
		return
	}
	o.defaults()
	backoff := map[string]*retry{}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
		wait := s.forwardDue(ctx, o, backoff)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

// forwardDue tries every FORWARDING application whose target and own
// backoff have run out, and returns how long to wait before the next try.
func (s *Service) forwardDue(ctx context.Context, o ForwardOptions, backoff map[string]*retry) time.Duration {
	wait := o.Poll
	filter := store.ApplicationFilter{State: epermitv1.ApplicationState_APPLICATION_STATE_FORWARDING}
	pending := map[string]bool{}
	for after := ""; ctx.Err() == nil; {
		page, err := s.cfg.Store.ListApplications(ctx, filter, after, 100)
		if err != nil {
			s.cfg.Logger.Error("forwarder: listing applications to forward", "err", err)
			return o.MinBackoff
		}
		for _, a := range page {
			after = a.Id
			pending["app:"+a.Id] = true
			tkey, akey := "target:"+a.TargetDivision, "app:"+a.Id
			now := time.Now()
			if r := backoff[tkey]; r != nil && now.Before(r.at) {
				wait = min(wait, r.at.Sub(now))
				continue
			}
			if r := backoff[akey]; r != nil && now.Before(r.at) {
				wait = min(wait, r.at.Sub(now))
				continue
			}
			err := s.forwardOne(ctx, o, a)
			if err == nil {
				delete(backoff, tkey)
				delete(backoff, akey)
				continue
			}
			key := tkey
			if transient(err) {
				s.cfg.Logger.Warn("forwarder: target member not reachable; will retry",
					"application", a.Id, "target", a.TargetDivision, "err", err)
			} else {
				key = akey
				s.cfg.Logger.Error("forwarder: target member refused the application; will retry, check it",
					"application", a.Id, "target", a.TargetDivision, "err", err)
			}
			r := backoff[key]
			if r == nil {
				r = &retry{}
				backoff[key] = r
			}
			r.failures++
			d := min(o.MinBackoff<<min(r.failures-1, 20), o.MaxBackoff)
			d -= time.Duration(rand.Int64N(int64(d)/2 + 1))
			r.at = time.Now().Add(d)
			wait = min(wait, d)
		}
		if len(page) < 100 {
			break
		}
	}
	for k := range backoff {
		if strings.HasPrefix(k, "app:") && !pending[k] {
			delete(backoff, k)
		}
	}
	return max(wait, time.Millisecond)
}

// transient reports whether a forwarding error may pass by itself: the
// target is down, unreachable, overloaded or slow.
func transient(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Canceled, codes.Aborted, codes.Internal, codes.Unknown:
		return true
	}
	return false
}

// forwardOne hands a to its target and records it FORWARDED once the
// target confirms.
func (s *Service) forwardOne(ctx context.Context, o ForwardOptions, a *epermitv1.Application) error {
	client, err := s.cfg.Peers.Client(a.TargetDivision)
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	callCtx, cancel := context.WithTimeout(ctx, o.CallTimeout)
	resp, err := client.ForwardApplication(callCtx, &epermitv1.ForwardApplicationRequest{Application: forwardable(a)})
	cancel()
	if err != nil {
		return err
	}
	now := s.cfg.Clock()
	next := proto.Clone(a).(*epermitv1.Application)
	next.State = epermitv1.ApplicationState_APPLICATION_STATE_FORWARDED
	next.ForwardedId = resp.GetApplicationId()
	next.Version = a.Version + 1
	next.UpdateTime = timestamppb.New(now)
	err = s.cfg.Store.WriteApplication(ctx, store.ApplicationWrite{
		PrevVersion: a.Version, Application: next,
		Audit: &epermitv1.AuditEntry{
			Time:     timestamppb.New(now),
			Actor:    ForwarderAccount,
			Division: s.cfg.Division,
			Method:   ForwardMethod,
			Target:   a.Id,
			Outcome:  "OK",
			Note:     "forwarded to " + a.TargetDivision + ", which holds it as " + resp.GetApplicationId(),
		},
	})
	if err != nil {
		// The target has it; the next try is answered from its record.
		return status.Errorf(codes.Aborted, "record application %s forwarded: %v", a.Id, err)
	}
	s.cfg.Logger.Info("forwarded application", "application", a.Id, "target", a.TargetDivision, "id_at_target", resp.GetApplicationId())
	return nil
}

// forwardable is what a member is sent of an application: the fields the
// applicant gave, its id and when it was accepted here. They do not change
// while it is FORWARDING, so every retry sends the same request.
func forwardable(a *epermitv1.Application) *epermitv1.Application {
	h := a.GetHolder()
	return &epermitv1.Application{
		Id: a.Id,
		Holder: &epermitv1.Holder{
			Name: h.GetName(), CitizenId: h.GetCitizenId(), Ethnicity: h.GetEthnicity(), HukouAddress: h.GetHukouAddress(),
		},
		ResidenceAddress:   a.ResidenceAddress,
		ResidenceStartDate: a.ResidenceStartDate,
		Channel:            a.Channel,
		TargetDivision:     a.TargetDivision,
		MaterialsProvided:  slices.Clone(a.MaterialsProvided),
		CreateTime:         a.CreateTime,
	}
}

// Ensure Service takes in the applications that the federation service
// receives, and federation.Peers reaches the members for the forwarder.
var (
	_ federation.ApplicationReceiver = (*Service)(nil)
	_ Peers                          = (*federation.Peers)(nil)
)
