// Package application implements ApplicationService: applications for a
// residence permit, from submission to the approval that issues the permit
// or a rejection, over a store.Store.
//
// # Materials and the deadline
//
// An application lists the materials the applicant brought. The node's
// Requirements say what is needed; everything missing is told at once in
// the application's missing_materials (一次性告知), and the application
// waits in MATERIALS_REQUIRED, with no deadline, until it is supplemented.
// With complete materials it is ACCEPTED (受理): the accept time is
// recorded and the deadline is DeadlineDays after it. Overdue is computed
// on every read from the clock, never stored.
//
// # Accepting for another city (异地代收)
//
// An application whose target division is another member is stored here
// as FORWARDING and handed to that member through
// FederationService.ForwardApplication by Service.Forward, which retries
// until the member confirms, then records it FORWARDED with the member's
// id. The member stores it with channel REMOTE (ReceiveApplication).
//
// # Idempotency and versions
//
// Every mutation carries a request id, stored atomically with the change:
// a retry returns the first result. Changes of an existing application
// carry the version the caller read; a stale one is answered with ABORTED.
// Approval issues the permit with a request id derived from the
// application id, so however often it is retried, one permit is issued.
package application

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/yrd-epermit/epermit/division"
	"github.com/yrd-epermit/epermit/permitid"
	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/server/auth"
	"github.com/yrd-epermit/epermit/server/permit"
	"github.com/yrd-epermit/epermit/server/validate"
	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/trust"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Deadline limits in days: the regulations give 15 from acceptance, and a
// city may extend it to no more than 30.
const (
	DefaultDeadlineDays = 15
	MaxDeadlineDays     = 30
)

// Field limits.
const (
	maxReasons   = 10
	maxReason    = 200
	maxMaterials = 20
)

// Issuer issues permits; *permit.Service is one.
type Issuer interface {
	// IssuePermit issues a permit; a repeated request id returns the first
	// result.
	IssuePermit(ctx context.Context, req *epermitv1.IssuePermitRequest) (*epermitv1.IssuePermitResponse, error)
}

// Ensure the permit service issues the permits of approved applications.
var _ Issuer = (*permit.Service)(nil)

// Peers reaches the other member nodes; *federation.Peers is one.
type Peers interface {
	// Members are the other members of the current trust list.
	Members() []trust.Member
	// Client returns a FederationService client of the member.
	Client(division string) (epermitv1.FederationServiceClient, error)
}

// Config names what the service needs.
type Config struct {
	// Store holds the applications.
	Store store.Store
	// Issuer issues the permit of an approved application.
	Issuer Issuer
	// Division is this node's division code.
	Division string
	// DeadlineDays is how many days after acceptance a decision is due
	// (1..30); DefaultDeadlineDays when 0.
	DeadlineDays int
	// Requirements are the materials an application needs;
	// DefaultRequirements when empty.
	Requirements []Requirement
	// Peers, when set, lets the node accept applications for other
	// members and forward them; without it such a submission is refused.
	Peers Peers
	// Clock tells the time; time.Now when nil. Tests move it across
	// deadlines.
	Clock func() time.Time
	// Logger receives causes hidden from callers; slog.Default when nil.
	Logger *slog.Logger
}

// Service implements epermitv1.ApplicationServiceServer.
type Service struct {
	epermitv1.UnsafeApplicationServiceServer
	cfg Config
	// wake tells the forwarder that an application waits to be forwarded.
	wake chan struct{}
}

// New returns a Service for cfg. It fails when the deadline is out of
// range or the requirements are malformed.
func New(cfg Config) (*Service, error) {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DeadlineDays == 0 {
		cfg.DeadlineDays = DefaultDeadlineDays
	}
	if cfg.DeadlineDays < 1 || cfg.DeadlineDays > MaxDeadlineDays {
		return nil, fmt.Errorf("application deadline of %d days is out of range 1..%d", cfg.DeadlineDays, MaxDeadlineDays)
	}
	if len(cfg.Requirements) == 0 {
		cfg.Requirements = DefaultRequirements()
	}
	if err := CheckRequirements(cfg.Requirements); err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, wake: make(chan struct{}, 1)}, nil
}

// RegisterService registers svc on s.
func RegisterService(s grpc.ServiceRegistrar, svc *Service) {
	epermitv1.RegisterApplicationServiceServer(s, svc)
}

// SubmitApplication implements epermitv1.ApplicationServiceServer.
func (s *Service) SubmitApplication(ctx context.Context, req *epermitv1.SubmitApplicationRequest) (*epermitv1.SubmitApplicationResponse, error) {
	now := s.cfg.Clock()
	var v apierror.Violations
	validate.RequestID(&v, req.RequestId)
	a := s.applicant(&v, req.Holder, req.ResidenceAddress, req.ResidenceStartDate, now)
	switch req.Channel {
	case epermitv1.ApplicationChannel_APPLICATION_CHANNEL_HALL, epermitv1.ApplicationChannel_APPLICATION_CHANNEL_ONLINE:
	case epermitv1.ApplicationChannel_APPLICATION_CHANNEL_UNSPECIFIED:
		v.Add("channel", "REQUIRED", "is required: HALL or ONLINE")
	default:
		v.Add("channel", "NOT_ALLOWED", "must be HALL or ONLINE; REMOTE is set by the node for applications forwarded by another member")
	}
	target := s.target(&v, req.TargetDivision)
	a.MaterialsProvided = s.materials(&v, "materials_provided", req.MaterialsProvided)
	if err := v.Err("invalid application"); err != nil {
		return nil, err
	}
	if r, err := s.replay(ctx, req.RequestId, req); r != nil || err != nil {
		return s.submitResponse(r.GetApplication(), err)
	}
	id, err := newID(s.cfg.Division)
	if err != nil {
		return nil, s.internal("new application id", err)
	}
	a.Id = id
	a.Channel = req.Channel
	a.TargetDivision = target
	a.AcceptingDivision = s.cfg.Division
	a.SubmittedBy = actor(ctx)
	a.Version = 1
	a.CreateTime = timestamppb.New(now)
	a.UpdateTime = a.CreateTime
	a.MissingMaterials = missing(s.cfg.Requirements, a.MaterialsProvided)
	if target != s.cfg.Division {
		// Accepted on the target's behalf: the target decides, and counts
		// its own deadline; the missing materials by this node's list are
		// told to the applicant here all the same.
		a.State = epermitv1.ApplicationState_APPLICATION_STATE_FORWARDING
	} else {
		s.acceptIfComplete(a, now)
	}
	if err := s.write(ctx, req, req.RequestId, 0, a); err != nil {
		r, rerr := s.replayAfter(ctx, err, req.RequestId, req)
		return s.submitResponse(r, rerr)
	}
	if a.State == epermitv1.ApplicationState_APPLICATION_STATE_FORWARDING {
		s.poke()
	}
	return s.submitResponse(a, nil)
}

func (s *Service) submitResponse(a *epermitv1.Application, err error) (*epermitv1.SubmitApplicationResponse, error) {
	if err != nil {
		return nil, err
	}
	return &epermitv1.SubmitApplicationResponse{Application: s.decorate(a, s.cfg.Clock())}, nil
}

// GetApplication implements epermitv1.ApplicationServiceServer.
func (s *Service) GetApplication(ctx context.Context, req *epermitv1.GetApplicationRequest) (*epermitv1.GetApplicationResponse, error) {
	var v apierror.Violations
	id := applicationID(&v, req.ApplicationId)
	if err := v.Err("invalid get request"); err != nil {
		return nil, err
	}
	auth.CallFrom(ctx).SetTarget(id)
	a, err := s.cfg.Store.GetApplication(ctx, id)
	if err != nil {
		return nil, s.storeError("get application", err, id)
	}
	return &epermitv1.GetApplicationResponse{Application: s.decorate(a, s.cfg.Clock())}, nil
}

// SupplementApplication implements epermitv1.ApplicationServiceServer.
func (s *Service) SupplementApplication(ctx context.Context, req *epermitv1.SupplementApplicationRequest) (*epermitv1.SupplementApplicationResponse, error) {
	var v apierror.Violations
	added := s.materials(&v, "materials_provided", req.MaterialsProvided)
	if len(req.MaterialsProvided) == 0 {
		v.Add("materials_provided", "REQUIRED", "is required: the codes of the materials brought now")
	}
	if err := v.Err("invalid supplement request"); err != nil {
		return nil, err
	}
	a, err := s.change(ctx, req, req.RequestId, req.ApplicationId, req.Version, func(a *epermitv1.Application, now time.Time) error {
		if a.State != epermitv1.ApplicationState_APPLICATION_STATE_MATERIALS_REQUIRED {
			return apierror.FailedPrecondition("APPLICATION_NOT_AWAITING_MATERIALS", a.Id,
				"the application is "+stateWord(a.State)+"; materials are supplemented only while they are required")
		}
		for _, m := range added {
			if !slices.Contains(a.MaterialsProvided, m) {
				a.MaterialsProvided = append(a.MaterialsProvided, m)
			}
		}
		a.MissingMaterials = missing(s.cfg.Requirements, a.MaterialsProvided)
		a.SupplementedBy = actor(ctx)
		s.acceptIfComplete(a, now)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &epermitv1.SupplementApplicationResponse{Application: s.decorate(a, s.cfg.Clock())}, nil
}

// ApproveApplication implements epermitv1.ApplicationServiceServer: it
// issues the permit with a request id derived from the application id, so
// that a retry, even with another request id after a failure between the
// issue and the record, finds the permit already issued; then it records
// the application APPROVED with the permit id.
func (s *Service) ApproveApplication(ctx context.Context, req *epermitv1.ApproveApplicationRequest) (*epermitv1.ApproveApplicationResponse, error) {
	var issued *epermitv1.Permit
	a, err := s.change(ctx, req, req.RequestId, req.ApplicationId, req.Version, func(a *epermitv1.Application, now time.Time) error {
		if a.State != epermitv1.ApplicationState_APPLICATION_STATE_ACCEPTED {
			return apierror.FailedPrecondition("APPLICATION_NOT_ACCEPTED", a.Id,
				"the application is "+stateWord(a.State)+"; only an accepted application can be approved")
		}
		var err error
		if issued, err = s.issue(ctx, a); err != nil {
			return err
		}
		a.State = epermitv1.ApplicationState_APPLICATION_STATE_APPROVED
		a.PermitId = issued.GetId()
		a.DecidedBy = actor(ctx)
		a.DecideTime = timestamppb.New(now)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if issued == nil {
		// A replayed approval: the issue replays the permit it issued.
		if issued, err = s.issue(ctx, a); err != nil {
			return nil, err
		}
	}
	return &epermitv1.ApproveApplicationResponse{Application: s.decorate(a, s.cfg.Clock()), Permit: issued}, nil
}

// issue issues the permit of application a, or returns the one issued for
// it before.
func (s *Service) issue(ctx context.Context, a *epermitv1.Application) (*epermitv1.Permit, error) {
	resp, err := s.cfg.Issuer.IssuePermit(ctx, &epermitv1.IssuePermitRequest{
		RequestId:          issueRequestID(a.Id),
		Holder:             a.Holder,
		ResidenceAddress:   a.ResidenceAddress,
		ResidenceStartDate: a.ResidenceStartDate,
	})
	if err != nil {
		return nil, err
	}
	return resp.GetPermit(), nil
}

// issueRequestID is the request id of the issue of an application's
// permit.
func issueRequestID(applicationID string) string { return "application:" + applicationID }

// RejectApplication implements epermitv1.ApplicationServiceServer.
func (s *Service) RejectApplication(ctx context.Context, req *epermitv1.RejectApplicationRequest) (*epermitv1.RejectApplicationResponse, error) {
	var v apierror.Violations
	switch n := len(req.Reasons); {
	case n == 0:
		v.Add("reasons", "REQUIRED", "is required: at least one reason, told to the applicant")
	case n > maxReasons:
		v.Add("reasons", "TOO_MANY", fmt.Sprintf("must hold at most %d reasons", maxReasons))
	}
	for i, r := range req.Reasons {
		validate.Text(&v, fmt.Sprintf("reasons[%d]", i), r, 1, maxReason)
	}
	if err := v.Err("invalid reject request"); err != nil {
		return nil, err
	}
	a, err := s.change(ctx, req, req.RequestId, req.ApplicationId, req.Version, func(a *epermitv1.Application, now time.Time) error {
		switch a.State {
		case epermitv1.ApplicationState_APPLICATION_STATE_ACCEPTED, epermitv1.ApplicationState_APPLICATION_STATE_MATERIALS_REQUIRED:
		default:
			return apierror.FailedPrecondition("APPLICATION_NOT_OPEN", a.Id,
				"the application is "+stateWord(a.State)+"; only an accepted application or one awaiting materials can be rejected")
		}
		a.State = epermitv1.ApplicationState_APPLICATION_STATE_REJECTED
		a.RejectionReasons = slices.Clone(req.Reasons)
		a.DecidedBy = actor(ctx)
		a.DecideTime = timestamppb.New(now)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &epermitv1.RejectApplicationResponse{Application: s.decorate(a, s.cfg.Clock())}, nil
}

// applicant checks the applicant's fields and returns a new application
// holding them.
func (s *Service) applicant(v *apierror.Violations, h *epermitv1.Holder, address, start string, now time.Time) *epermitv1.Application {
	day := validate.Today(now)
	a := &epermitv1.Application{
		Holder:             validate.Holder(v, h, day),
		ResidenceAddress:   validate.Text(v, "residence_address", address, 1, validate.MaxAddress),
		ResidenceStartDate: validate.FormatDate(day),
	}
	if t, ok := validate.Date(v, "residence_start_date", start); ok {
		switch birth, err := validate.ParseDate(a.Holder.GetBirthDate()); {
		case t.After(day):
			v.Add("residence_start_date", "IN_FUTURE", "must not be after today")
		case err == nil && t.Before(birth):
			v.Add("residence_start_date", "BEFORE_BIRTH", "must not be before the applicant's birth date")
		default:
			a.ResidenceStartDate = validate.FormatDate(t)
		}
	}
	return a
}

// target checks the target division: empty for this node's, or another
// member of the federation when this node can forward.
func (s *Service) target(v *apierror.Violations, code string) string {
	if code == "" || code == s.cfg.Division {
		return s.cfg.Division
	}
	d, ok := division.Lookup(code)
	switch {
	case !ok:
		v.Add("target_division", "UNKNOWN", "is not a Delta division in the shipped table")
	case !d.CanIssue():
		v.Add("target_division", "NOT_COUNTY_LEVEL", "must be a district or county: permits are issued by their bureaus")
	case s.cfg.Peers == nil:
		v.Add("target_division", "FORWARDING_NOT_CONFIGURED",
			"names another division, but this node is not in a federation (trust list and federation client certificate)")
	case !slices.ContainsFunc(s.cfg.Peers.Members(), func(m trust.Member) bool { return m.Division == code }):
		v.Add("target_division", "NOT_A_MEMBER", "is not a member of the federation in the current trust list")
	}
	return code
}

// materials checks a list of material codes: each known to this node and
// listed once, at most maxMaterials. An empty list is valid: the notice
// then lists every requirement.
func (s *Service) materials(v *apierror.Violations, field string, codes []string) []string {
	if len(codes) > maxMaterials {
		v.Add(field, "TOO_MANY", fmt.Sprintf("must list at most %d materials", maxMaterials))
		return nil
	}
	var out []string
	for i, c := range codes {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case !known(s.cfg.Requirements, c):
			v.Add(f, "UNKNOWN_MATERIAL", fmt.Sprintf("%q is not a material code of this node (%s)", c, strings.Join(s.codes(), ", ")))
		case slices.Contains(out, c):
			v.Add(f, "DUPLICATE", fmt.Sprintf("%q is listed twice", c))
		default:
			out = append(out, c)
		}
	}
	return out
}

// codes lists the material codes this node knows.
func (s *Service) codes() []string {
	var out []string
	for _, r := range s.cfg.Requirements {
		if len(r.AnyOf) == 0 {
			out = append(out, r.Code)
		}
		for _, m := range r.AnyOf {
			out = append(out, m.GetCode())
		}
	}
	return out
}

// acceptIfComplete accepts a with complete materials at now: the deadline
// starts to run. Otherwise it waits for materials.
func (s *Service) acceptIfComplete(a *epermitv1.Application, now time.Time) {
	if len(a.MissingMaterials) > 0 {
		a.State = epermitv1.ApplicationState_APPLICATION_STATE_MATERIALS_REQUIRED
		return
	}
	s.accept(a, now)
}

// accept records a as accepted at t, with its deadline.
func (s *Service) accept(a *epermitv1.Application, t time.Time) {
	a.State = epermitv1.ApplicationState_APPLICATION_STATE_ACCEPTED
	a.AcceptTime = timestamppb.New(t)
	a.DeadlineDays = int32(s.cfg.DeadlineDays)
	a.Deadline = timestamppb.New(t.AddDate(0, 0, s.cfg.DeadlineDays))
}

// change runs one idempotent, versioned change of an existing application:
// it replays a known request id, checks the version, lets apply change a
// copy and writes it back atomically with the call's audit entry. It
// returns the stored application.
func (s *Service) change(ctx context.Context, req proto.Message, reqID, rawID string, ver int64,
	apply func(a *epermitv1.Application, now time.Time) error) (*epermitv1.Application, error) {
	var v apierror.Violations
	validate.RequestID(&v, reqID)
	id := applicationID(&v, rawID)
	validate.Version(&v, ver, "application")
	if err := v.Err("invalid request"); err != nil {
		return nil, err
	}
	auth.CallFrom(ctx).SetTarget(id)
	if r, err := s.replay(ctx, reqID, req); r != nil || err != nil {
		return r.GetApplication(), err
	}
	cur, err := s.cfg.Store.GetApplication(ctx, id)
	if err != nil {
		return nil, s.storeError("read application", err, id)
	}
	if cur.Version != ver {
		return nil, apierror.Aborted("application " + id + " has changed since the version given; read it again and retry")
	}
	now := s.cfg.Clock()
	next := proto.Clone(cur).(*epermitv1.Application)
	if err := apply(next, now); err != nil {
		return nil, err
	}
	next.Version = cur.Version + 1
	next.UpdateTime = timestamppb.New(now)
	if err := s.write(ctx, req, reqID, cur.Version, next); err != nil {
		return s.replayAfter(ctx, err, reqID, req)
	}
	return next, nil
}

// write stores a with the call's audit entry and marks the call recorded.
func (s *Service) write(ctx context.Context, req proto.Message, reqID string, prev int64, a *epermitv1.Application) error {
	call := auth.CallFrom(ctx)
	err := s.cfg.Store.WriteApplication(ctx, store.ApplicationWrite{
		RequestID: reqID, RequestHash: validate.Fingerprint(req), PrevVersion: prev, Application: a,
		Audit: call.Entry(a.Id),
	})
	if err == nil {
		call.Recorded()
	}
	return err
}

// replayAfter answers a failed write: a request id used meanwhile is
// replayed, any other error mapped.
func (s *Service) replayAfter(ctx context.Context, err error, reqID string, req proto.Message) (*epermitv1.Application, error) {
	if errors.Is(err, store.ErrDuplicateRequest) {
		r, err := s.replay(ctx, reqID, req)
		return r.GetApplication(), err
	}
	return nil, s.storeError("write application", err)
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
	case string(r.RequestHash) != string(validate.Fingerprint(req)) || r.Application == nil:
		return nil, apierror.InvalidField("request_id", "REUSED",
			"was already used for a different request; choose a new request id")
	}
	return r, nil
}

// decorate returns a copy of a with its computed fields as of t.
func (s *Service) decorate(a *epermitv1.Application, t time.Time) *epermitv1.Application {
	out := proto.Clone(a).(*epermitv1.Application)
	out.Overdue = store.IsOverdue(a, t)
	return out
}

// poke wakes the forwarder without waiting.
func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// newID returns a fresh application id of division: "A" and a permit-style
// id, which starts with the time, so ids sort in the order of submission.
func newID(division string) (string, error) {
	id, err := permitid.New(division)
	if err != nil {
		return "", err
	}
	return "A" + id, nil
}

// applicationID checks an application id and returns it normalised.
func applicationID(v *apierror.Violations, s string) string {
	const field = "application_id"
	rest, ok := strings.CutPrefix(strings.ToUpper(strings.TrimSpace(s)), "A")
	if s == "" {
		v.Add(field, "REQUIRED", "is required")
		return ""
	}
	id, _, err := permitid.Parse(rest)
	if !ok || err != nil {
		v.Add(field, "FORMAT", "must be \"A\" followed by a division code, a hyphen and 13 characters, e.g. A330604-0G3K2M9QXW3B7")
		return ""
	}
	return "A" + id
}

// actor is the account making the call, "" outside an authenticated call.
func actor(ctx context.Context) string {
	if c := auth.CallFrom(ctx); c != nil && c.Principal != nil {
		return c.Principal.Account
	}
	return ""
}

// stateWord is a state in lower-case words: "materials required".
func stateWord(st epermitv1.ApplicationState) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(st.String(), "APPLICATION_STATE_"), "_", " "))
}

// storeError maps a store error to the gRPC error callers see; id names
// the application concerned, if any.
func (s *Service) storeError(op string, err error, id ...string) error {
	switch {
	case errors.Is(err, store.ErrNotFound) && len(id) > 0:
		return apierror.NotFound("application", id[0])
	case errors.Is(err, store.ErrConflict):
		return apierror.Aborted("the application changed concurrently; read it again and retry")
	case apierror.Ended(err) != nil:
		return apierror.Ended(err)
	}
	return s.internal(op, err)
}

func (s *Service) internal(op string, err error) error {
	s.cfg.Logger.Error("application service failure", "op", op, "err", err)
	return apierror.Failure(err)
}
