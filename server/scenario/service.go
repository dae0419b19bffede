// Package scenario implements ScenarioService: the catalogue of the six
// service scenarios, eligibility checks, and service requests routed to the
// departments that deliver them through a durable outbox (docs/scenarios.md).
//
// A request is checked (the permit is valid, the city's rule for the
// service holds), then stored with its delivery task and its event in one
// transaction; the Outbox delivers it with retries, and every change of
// state is an event that WatchServiceRequests streams.
package scenario

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/yrd-epermit/epermit/catalogue"
	"github.com/yrd-epermit/epermit/permitid"
	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/server/auth"
	"github.com/yrd-epermit/epermit/server/permit"
	"github.com/yrd-epermit/epermit/server/validate"
	"github.com/yrd-epermit/epermit/store"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Permits reads and checks the permit a request names (permit.Service).
type Permits interface {
	Subject(ctx context.Context, sp *epermitv1.ServicePermit) (*permit.Subject, error)
}

// Config names what the service needs.
type Config struct {
	// Store holds the requests, their outbox and their events.
	Store store.Store
	// Catalogue is the city's compiled catalogue.
	Catalogue *catalogue.Compiled
	// Permits checks permits.
	Permits Permits
	// Division is this node's division code.
	Division string
	// Clock tells the time; time.Now when nil.
	Clock func() time.Time
	// Logger receives causes hidden from callers; slog.Default when nil.
	Logger *slog.Logger
}

// Service implements epermitv1.ScenarioServiceServer.
type Service struct {
	epermitv1.UnsafeScenarioServiceServer
	cfg    Config
	events *notifier
	// kick wakes an outbox worker when a request becomes due now.
	kick chan struct{}
}

// Limits of request fields.
const (
	maxFields     = 20
	maxFieldKey   = 40
	maxFieldValue = 200
	maxReason     = 500
)

// New returns a Service for cfg.
func New(cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Service{cfg: cfg, events: newNotifier(), kick: make(chan struct{}, 1)}
}

// RegisterService registers svc on s.
func RegisterService(s grpc.ServiceRegistrar, svc *Service) {
	epermitv1.RegisterScenarioServiceServer(s, svc)
}

// ListScenarios implements epermitv1.ScenarioServiceServer.
func (s *Service) ListScenarios(context.Context, *epermitv1.ListScenariosRequest) (*epermitv1.ListScenariosResponse, error) {
	return catalogueProto(s.cfg.Catalogue, validate.Today(s.cfg.Clock())), nil
}

// CheckEligibility implements epermitv1.ScenarioServiceServer.
func (s *Service) CheckEligibility(ctx context.Context, req *epermitv1.CheckEligibilityRequest) (*epermitv1.CheckEligibilityResponse, error) {
	var v apierror.Violations
	svc, child := s.checkRequest(&v, req.Service, req.Child, req.Fields)
	if err := v.Err("invalid eligibility request"); err != nil {
		return nil, err
	}
	d, err := s.decide(ctx, req.Permit, svc, child, req.Fields)
	if err != nil {
		return nil, err
	}
	return &epermitv1.CheckEligibilityResponse{Eligible: d.eligible(), RuleVersion: d.outcome.RuleVersion, Conditions: d.conditions()}, nil
}

// SubmitServiceRequest implements epermitv1.ScenarioServiceServer.
func (s *Service) SubmitServiceRequest(ctx context.Context, req *epermitv1.SubmitServiceRequestRequest) (*epermitv1.SubmitServiceRequestResponse, error) {
	var v apierror.Violations
	validate.RequestID(&v, req.RequestId)
	svc, child := s.checkRequest(&v, req.Service, req.Child, req.Fields)
	if err := v.Err("invalid service request"); err != nil {
		return nil, err
	}
	if r, err := s.replay(ctx, req.RequestId, req); r != nil || err != nil {
		return &epermitv1.SubmitServiceRequestResponse{Request: r.GetServiceRequest()}, err
	}
	d, err := s.decide(ctx, req.Permit, svc, child, req.Fields)
	if err != nil {
		return nil, err
	}
	if !d.eligible() {
		return nil, d.refusal(svc.Code)
	}
	now := s.cfg.Clock()
	id, err := permitid.New(s.cfg.Division)
	if err != nil {
		return nil, s.internal("new request id", err)
	}
	actor := actorOf(ctx)
	r := &epermitv1.ServiceRequest{
		Id: "SR" + id, Service: svc.Code, Scenario: svc.Scenario, Department: svc.Department,
		PermitId: d.subject.PermitID, IssuingDivision: d.subject.IssuingDivision,
		Holder: &epermitv1.Holder{Name: d.subject.Holder.GetName(), CitizenId: d.subject.Holder.GetCitizenId()},
		Child:  child, Fields: req.Fields,
		State:       epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_SUBMITTED,
		RuleVersion: d.outcome.RuleVersion, Conditions: d.conditions(),
		NextAttemptTime: timestamppb.New(now), DepartmentFields: s.cfg.Catalogue.Payload(svc.Code, d.facts),
		History: []*epermitv1.StateChange{{State: epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_SUBMITTED, Time: timestamppb.New(now), Actor: actor}},
		Version: 1, CreateTime: timestamppb.New(now), UpdateTime: timestamppb.New(now),
		SubmittedBy: actor, ClientRequestId: req.RequestId,
	}
	call := auth.CallFrom(ctx)
	err = s.cfg.Store.WriteServiceRequest(ctx, store.ServiceRequestWrite{
		RequestID: req.RequestId, RequestHash: validate.Fingerprint(req), Request: r, Event: true, Audit: call.Entry(r.Id),
	})
	if errors.Is(err, store.ErrDuplicateRequest) {
		rr, err := s.replay(ctx, req.RequestId, req)
		return &epermitv1.SubmitServiceRequestResponse{Request: rr.GetServiceRequest()}, err
	}
	if err != nil {
		return nil, s.storeError("submit service request", err)
	}
	call.Recorded()
	s.written(r)
	return &epermitv1.SubmitServiceRequestResponse{Request: r}, nil
}

// GetServiceRequest implements epermitv1.ScenarioServiceServer.
func (s *Service) GetServiceRequest(ctx context.Context, req *epermitv1.GetServiceRequestRequest) (*epermitv1.GetServiceRequestResponse, error) {
	var v apierror.Violations
	id := requestID(&v, "id", req.Id)
	if err := v.Err("invalid get request"); err != nil {
		return nil, err
	}
	auth.CallFrom(ctx).SetTarget(id)
	r, err := s.cfg.Store.GetServiceRequest(ctx, id)
	if err != nil {
		return nil, s.storeError("get service request", err, id)
	}
	return &epermitv1.GetServiceRequestResponse{Request: r}, nil
}

// CancelServiceRequest implements epermitv1.ScenarioServiceServer. Only a
// request the department has not received can be cancelled: SUBMITTED or
// FAILED.
func (s *Service) CancelServiceRequest(ctx context.Context, req *epermitv1.CancelServiceRequestRequest) (*epermitv1.CancelServiceRequestResponse, error) {
	var v apierror.Violations
	validate.RequestID(&v, req.RequestId)
	reason := validate.Text(&v, "reason", req.Reason, 1, maxReason)
	if err := v.Err("invalid cancel request"); err != nil {
		return nil, err
	}
	r, err := s.change(ctx, req, req.RequestId, req.Id, func(r *epermitv1.ServiceRequest) error {
		switch r.State {
		case epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_SUBMITTED, epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_FAILED:
		default:
			return apierror.FailedPrecondition("REQUEST_"+stateWord(r.State), r.Id,
				"the request is "+strings.ToLower(stateWord(r.State))+"; only one the department has not received can be cancelled")
		}
		r.NextAttemptTime = nil
		transition(r, epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_CANCELLED, reason, actorOf(ctx), s.cfg.Clock())
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &epermitv1.CancelServiceRequestResponse{Request: r}, nil
}

// RetryServiceRequest implements epermitv1.ScenarioServiceServer: a FAILED
// request goes back to the outbox with its attempts counted afresh.
func (s *Service) RetryServiceRequest(ctx context.Context, req *epermitv1.RetryServiceRequestRequest) (*epermitv1.RetryServiceRequestResponse, error) {
	var v apierror.Violations
	validate.RequestID(&v, req.RequestId)
	if err := v.Err("invalid retry request"); err != nil {
		return nil, err
	}
	r, err := s.change(ctx, req, req.RequestId, req.Id, func(r *epermitv1.ServiceRequest) error {
		if r.State != epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_FAILED {
			return apierror.FailedPrecondition("REQUEST_NOT_FAILED", r.Id,
				"the request is "+strings.ToLower(stateWord(r.State))+"; only a failed request is retried by hand")
		}
		r.Attempts = 0
		r.NextAttemptTime = timestamppb.New(s.cfg.Clock())
		transition(r, epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_SUBMITTED, "retried by hand", actorOf(ctx), s.cfg.Clock())
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &epermitv1.RetryServiceRequestResponse{Request: r}, nil
}

// change runs one change of a stored request by a caller: it replays a
// known request id (when reqID is not empty), applies apply to a copy of
// the stored request and writes it back with its event and the call's
// audit entry. An error from apply is returned and nothing is written.
func (s *Service) change(ctx context.Context, req proto.Message, reqID, rawID string, apply func(*epermitv1.ServiceRequest) error) (*epermitv1.ServiceRequest, error) {
	var v apierror.Violations
	id := requestID(&v, "id", rawID)
	if err := v.Err("invalid request"); err != nil {
		return nil, err
	}
	auth.CallFrom(ctx).SetTarget(id)
	for attempt := 0; ; attempt++ {
		if reqID != "" {
			if r, err := s.replay(ctx, reqID, req); r != nil || err != nil {
				return r.GetServiceRequest(), err
			}
		}
		cur, err := s.cfg.Store.GetServiceRequest(ctx, id)
		if err != nil {
			return nil, s.storeError("read service request", err, id)
		}
		next := proto.Clone(cur).(*epermitv1.ServiceRequest)
		if err := apply(next); err != nil {
			return nil, err
		}
		next.Version = cur.Version + 1
		next.UpdateTime = timestamppb.New(s.cfg.Clock())
		call := auth.CallFrom(ctx)
		err = s.cfg.Store.WriteServiceRequest(ctx, store.ServiceRequestWrite{
			RequestID: reqID, RequestHash: validate.Fingerprint(req), PrevVersion: cur.Version, Request: next,
			Event: true, Audit: call.Entry(id),
		})
		switch {
		case errors.Is(err, store.ErrConflict) && attempt < 3:
			continue // the outbox moved it meanwhile: judge it again
		case errors.Is(err, store.ErrDuplicateRequest):
			continue // replayed above
		case err != nil:
			return nil, s.storeError("write service request", err, id)
		}
		call.Recorded()
		s.written(next)
		return next, nil
	}
}

// errUnchanged is returned by a change that finds nothing to do.
var errUnchanged = errors.New("scenario: unchanged")

// written tells the watchers, and the outbox when the request is due.
func (s *Service) written(r *epermitv1.ServiceRequest) {
	s.events.notify()
	if r.NextAttemptTime != nil {
		s.wake()
	}
}

// wake wakes one outbox worker waiting for a due request, or the next
// one to wait when none is.
func (s *Service) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// transition records a change of state in r's history.
func transition(r *epermitv1.ServiceRequest, to epermitv1.ServiceRequestState, reason, actor string, now time.Time) {
	r.State, r.Reason = to, reason
	r.History = append(r.History, &epermitv1.StateChange{State: to, Time: timestamppb.New(now), Reason: reason, Actor: actor})
}

// checkRequest validates a request's service, child and fields.
func (s *Service) checkRequest(v *apierror.Violations, code string, child *epermitv1.Child, fields map[string]string) (*serviceRef, *epermitv1.Child) {
	svc, ok := s.service(code)
	if !ok {
		v.Add("service", "UNKNOWN", "is not a service of this city's catalogue (permitctl scenarios lists them)")
		return nil, nil
	}
	today := validate.Today(s.cfg.Clock())
	var out *epermitv1.Child
	switch {
	case svc.ForChild && child == nil:
		v.Add("child", "REQUIRED", "is required: the service is for a child of the holder")
	case !svc.ForChild && child != nil:
		v.Add("child", "NOT_ALLOWED", "must be empty: the service is for the holder")
	case child != nil:
		out = &epermitv1.Child{Name: validate.Text(v, "child.name", child.Name, 1, validate.MaxName)}
		if id := validate.CitizenID(v, "child.citizen_id", child.CitizenId, today); id.Number != "" {
			out.CitizenId, out.BirthDate = id.Number, id.BirthDateString()
		}
	}
	if len(fields) > maxFields {
		v.Add("fields", "TOO_MANY", fmt.Sprintf("must hold at most %d fields", maxFields))
	}
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		switch val := fields[k]; {
		case !slices.Contains(svc.RequestFields, k):
			v.Add("fields."+k, "UNKNOWN", "is not a field of service "+svc.Code+" (it takes: "+strings.Join(svc.RequestFields, ", ")+")")
		case len(k) > maxFieldKey:
			v.Add("fields."+k, "TOO_LONG", "name is too long")
		case !utf8.ValidString(val) || utf8.RuneCountInString(val) > maxFieldValue:
			v.Add("fields."+k, "VALUE", fmt.Sprintf("must be valid text of at most %d characters", maxFieldValue))
		}
	}
	return svc, out
}

// serviceRef is a service of the catalogue with its scenario.
type serviceRef struct {
	catalogue.Service
	Scenario string
}

// service finds an enabled service of the catalogue.
func (s *Service) service(code string) (*serviceRef, bool) {
	svc, scenario, ok := s.cfg.Catalogue.Service(code)
	if !ok || svc.Disabled {
		return nil, false
	}
	return &serviceRef{Service: svc, Scenario: scenario}, true
}

// decision is the check of one request: the permit and the rule.
type decision struct {
	subject *permit.Subject
	facts   catalogue.Facts
	outcome catalogue.Outcome
}

func (d *decision) eligible() bool { return d.subject.Valid && d.outcome.Eligible }

// conditions are the outcomes to show: the permit's validity first.
func (d *decision) conditions() []*epermitv1.Condition {
	detail := "the permit is in force"
	if !d.subject.Valid {
		detail = "the permit is " + strings.ToLower(strings.TrimPrefix(d.subject.Status.String(), "PERMIT_STATUS_"))
		if n := len(d.subject.Findings); n > 0 {
			detail = d.subject.Findings[n-1].Detail
		}
	}
	out := []*epermitv1.Condition{{Description: "持有有效居住证 the residence permit is valid", Passed: d.subject.Valid, Detail: detail}}
	for _, c := range d.outcome.Conditions {
		out = append(out, &epermitv1.Condition{Description: c.Description, Expression: c.Expression, Passed: c.Passed, Detail: c.Detail})
	}
	return out
}

// refusal is the FAILED_PRECONDITION answer naming every failed condition.
func (d *decision) refusal(service string) error {
	var pf errdetails.PreconditionFailure
	var words []string
	for _, c := range d.conditions() {
		if !c.Passed {
			desc := c.Description
			if c.Detail != "" {
				desc += ": " + c.Detail
			}
			pf.Violations = append(pf.Violations, &errdetails.PreconditionFailure_Violation{Type: "CONDITION_NOT_MET", Subject: service, Description: desc})
			words = append(words, c.Description)
		}
	}
	st, err := status.New(codes.FailedPrecondition, "not eligible for "+service+": "+strings.Join(words, "; ")).WithDetails(&pf)
	if err != nil {
		return status.Error(codes.FailedPrecondition, "not eligible for "+service)
	}
	return st.Err()
}

// decide checks the permit and evaluates the service's rule.
func (s *Service) decide(ctx context.Context, sp *epermitv1.ServicePermit, svc *serviceRef, child *epermitv1.Child, fields map[string]string) (*decision, error) {
	if sp == nil {
		return nil, apierror.InvalidField("permit", "REQUIRED", "give permit_id or credential_text with citizen_id")
	}
	sub, err := s.cfg.Permits.Subject(ctx, sp)
	if err != nil {
		return nil, err
	}
	auth.CallFrom(ctx).SetTarget(sub.PermitID)
	now := s.cfg.Clock()
	f := factsOf(sub, child, fields, now)
	out, err := s.cfg.Catalogue.Evaluate(svc.Code, f, validate.Today(now))
	if err != nil {
		return nil, apierror.FailedPrecondition("NO_RULE", svc.Code, err.Error())
	}
	return &decision{subject: sub, facts: f, outcome: out}, nil
}

// replay returns what was written under reqID, nil when the id is new.
func (s *Service) replay(ctx context.Context, reqID string, req proto.Message) (*store.Replayed, error) {
	r, err := s.cfg.Store.Replay(ctx, reqID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, s.storeError("replay request", err)
	case string(r.RequestHash) != string(validate.Fingerprint(req)) || r.ServiceRequest == nil:
		return nil, apierror.InvalidField("request_id", "REUSED", "was already used for a different request; choose a new request id")
	}
	return r, nil
}

// requestID checks a service request id: "SR" and a permit-id-shaped rest.
func requestID(v *apierror.Violations, field, s string) string {
	rest, ok := strings.CutPrefix(s, "SR")
	if _, _, err := permitid.Parse(rest); !ok || err != nil {
		v.Add(field, "FORMAT", "is not a service request id (SR followed by a division code and 13 characters)")
		return ""
	}
	return s
}

// actorOf names the caller for a request's history.
func actorOf(ctx context.Context) string {
	if call := auth.CallFrom(ctx); call != nil {
		return call.Principal.Account
	}
	return "permitd"
}

// stateWord is a state's name without its prefix, e.g. "SUBMITTED".
func stateWord(st epermitv1.ServiceRequestState) string {
	return strings.TrimPrefix(st.String(), "SERVICE_REQUEST_STATE_")
}

func (s *Service) storeError(op string, err error, id ...string) error {
	switch {
	case errors.Is(err, store.ErrNotFound) && len(id) > 0:
		return apierror.NotFound("service request", id[0])
	case errors.Is(err, store.ErrConflict):
		return apierror.Aborted("the service request changed concurrently; read it again and retry")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return s.internal(op, err)
}

func (s *Service) internal(op string, err error) error {
	s.cfg.Logger.Error("scenario service failure", "op", op, "err", err)
	return apierror.Failure(err)
}
