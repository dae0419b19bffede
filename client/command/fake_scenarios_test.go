package command

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/yrd-epermit/epermit/citizenid"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// fakeToday is the fake ScenarioService's today, for children's ages.
var fakeToday = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)

// fakeScenarios is the fake node's in-memory ScenarioService: it serves
// fakeCatalogue, evaluates its rules against the node's permits, stores
// requests idempotently by request id, and keeps an event log that
// WatchServiceRequests streams, resuming after a token (an event's
// position, from 1). cutWatches drops the open streams, as a node restart
// would. It shares the node's mutex and records mutating requests with the
// node's.
type fakeScenarios struct {
	epermitv1.UnimplementedScenarioServiceServer

	node      *fakeNode
	reqs      map[string]*epermitv1.ServiceRequest
	ids       []string          // in submission order
	requestID map[string]string // idempotency key to request
	events    []*epermitv1.WatchServiceRequestsResponse
	// changed is closed and replaced when an event is appended; cut when
	// the open streams are to be dropped.
	changed, cut chan struct{}
	watches      []*epermitv1.WatchServiceRequestsRequest
}

// newFakeScenarios returns an empty fakeScenarios of node n.
func newFakeScenarios(n *fakeNode) *fakeScenarios {
	return &fakeScenarios{node: n, reqs: map[string]*epermitv1.ServiceRequest{}, requestID: map[string]string{},
		changed: make(chan struct{}), cut: make(chan struct{})}
}

// fakeCatalogue is the fake's catalogue: three scenarios, four services,
// four departments, in the shape of the node's default catalogue.
func fakeCatalogue() *epermitv1.ListScenariosResponse {
	permitActive := &epermitv1.Condition{Description: "居住证有效 / the permit is active", Expression: `permit.status == "active"`}
	return &epermitv1.ListScenariosResponse{
		Scenarios: []*epermitv1.Scenario{
			{Code: "childcare", NameZh: "育儿", NameEn: "Childcare", Services: []*epermitv1.Service{{
				Code: "childcare_subsidy", NameZh: "育儿补贴", NameEn: "Childcare subsidy", Department: "health", ForChild: true,
				DepartmentFields: []string{"holder.name", "permit.id", "child.name", "child.birth_date", "request.bank_account"},
				RequestFields:    []string{"bank_account"},
				Rule: &epermitv1.Rule{Version: "2025-01", EffectiveFrom: "2025-01-01", Conditions: []*epermitv1.Condition{
					permitActive,
					{Description: "子女未满3周岁 / the child is under 3", Expression: "child.age_years < 3"},
				}},
			}}},
			{Code: "schooling", NameZh: "教育", NameEn: "Schooling", Services: []*epermitv1.Service{{
				Code: "school_enrolment", NameZh: "义务教育入学", NameEn: "Compulsory-education school enrolment",
				Department: "education", ForChild: true,
				DepartmentFields: []string{"holder.name", "permit.id", "child.name", "child.citizen_id", "request.school"},
				RequestFields:    []string{"school"},
				Rule: &epermitv1.Rule{Version: "2026-09", EffectiveFrom: "2026-03-01", Conditions: []*epermitv1.Condition{
					permitActive,
					{Description: "在长三角连续居住满12个月 / twelve months of continuous residence in the Delta",
						Expression: "permit.residence_months >= 12"},
					{Description: "子女6至15周岁 / the child is aged 6 to 15", Expression: "child.age_years >= 6 && child.age_years <= 15"},
				}},
			}}},
			{Code: "employment", NameZh: "就业", NameEn: "Employment", Services: []*epermitv1.Service{
				{
					Code: "employment_registration", NameZh: "就业登记", NameEn: "Employment registration", Department: "hrss",
					DepartmentFields: []string{"holder.name", "holder.citizen_id", "permit.id", "request.employer"},
					RequestFields:    []string{"employer"},
					Rule:             &epermitv1.Rule{Version: "2025-01", EffectiveFrom: "2025-01-01", Conditions: []*epermitv1.Condition{permitActive}},
				},
				{
					Code: "unemployment_registration", NameZh: "失业登记", NameEn: "Unemployment registration", Department: "hrss",
					DepartmentFields: []string{"holder.name", "holder.citizen_id", "permit.id"},
					Rule:             &epermitv1.Rule{Version: "2025-01", EffectiveFrom: "2025-01-01", Conditions: []*epermitv1.Condition{permitActive}},
				},
			}},
		},
		Departments: []*epermitv1.Department{
			{Code: "education", NameZh: "教育局", NameEn: "Education Bureau"},
			{Code: "hrss", NameZh: "人力资源和社会保障局", NameEn: "Human Resources and Social Security Bureau"},
			{Code: "health", NameZh: "卫生健康委员会", NameEn: "Health Commission"},
			{Code: "medical_insurance", NameZh: "医疗保障局", NameEn: "Medical Insurance Bureau"},
		},
	}
}

// fakeService returns the service code of fakeCatalogue and its scenario.
func fakeService(code string) (*epermitv1.Service, string, bool) {
	for _, sc := range fakeCatalogue().GetScenarios() {
		for _, svc := range sc.GetServices() {
			if svc.GetCode() == code {
				return svc, sc.GetCode(), true
			}
		}
	}
	return nil, "", false
}

func (f *fakeScenarios) ListScenarios(context.Context, *epermitv1.ListScenariosRequest) (*epermitv1.ListScenariosResponse, error) {
	return fakeCatalogue(), nil
}

// evaluation is the fake's evaluation of a rule for a request.
type evaluation struct {
	service  *epermitv1.Service
	scenario string
	permit   *epermitv1.Permit
	child    *epermitv1.Child
	resp     *epermitv1.CheckEligibilityResponse
}

// evaluate checks the request's parts and evaluates the service's rule;
// n.mu is held. The permit is a permit of the node by id, or the test
// credential presented with activePermit's holder's citizen id.
func (f *fakeScenarios) evaluate(sp *epermitv1.ServicePermit, service string, child *epermitv1.Child, fields map[string]string) (*evaluation, error) {
	svc, scenario, ok := fakeService(service)
	if !ok {
		return nil, status.Errorf(codes.NotFound, "service %s not found", service)
	}
	var p *epermitv1.Permit
	switch {
	case sp.GetCredentialText() != "":
		if sp.GetCredentialText() != testCredentialText || sp.GetCitizenId() != activePermit().GetHolder().GetCitizenId() {
			return nil, status.Error(codes.InvalidArgument, "the credential does not match the citizen id presented")
		}
		p = activePermit()
	default:
		if p, ok = f.node.permits[sp.GetPermitId()]; !ok {
			return nil, notFound(sp.GetPermitId())
		}
	}
	var bad []*errdetails.BadRequest_FieldViolation
	for _, name := range svc.GetRequestFields() {
		if fields[name] == "" {
			bad = append(bad, &errdetails.BadRequest_FieldViolation{Field: "fields." + name, Reason: "REQUIRED"})
		}
	}
	var birth time.Time
	if svc.GetForChild() {
		id, err := citizenid.Parse(child.GetCitizenId(), fakeToday)
		switch {
		case child.GetName() == "":
			bad = append(bad, &errdetails.BadRequest_FieldViolation{Field: "child.name", Reason: "REQUIRED"})
		case err != nil:
			bad = append(bad, &errdetails.BadRequest_FieldViolation{Field: "child.citizen_id", Reason: "INVALID", Description: err.Error()})
		}
		birth = id.BirthDate
	}
	if len(bad) > 0 {
		st, _ := status.New(codes.InvalidArgument, "the request is incomplete").WithDetails(&errdetails.BadRequest{FieldViolations: bad})
		return nil, st.Err()
	}
	ev := &evaluation{service: svc, scenario: scenario, permit: p,
		resp: &epermitv1.CheckEligibilityResponse{Eligible: true, RuleVersion: svc.GetRule().GetVersion()}}
	if svc.GetForChild() {
		ev.child = &epermitv1.Child{Name: child.GetName(), CitizenId: child.GetCitizenId(), BirthDate: birth.Format(time.DateOnly)}
	}
	age := fakeToday.Year() - birth.Year()
	if fakeToday.YearDay() < birth.YearDay() {
		age--
	}
	for _, c := range svc.GetRule().GetConditions() {
		out := proto.CloneOf(c)
		switch c.GetExpression() {
		case `permit.status == "active"`:
			out.Passed = p.GetStatus() == epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE
			out.Detail = "the permit is " + enumWord(p.GetStatus())
		case "permit.residence_months >= 12":
			out.Passed = p.GetResidenceMonths() >= 12
			out.Detail = fmt.Sprintf("%d months", p.GetResidenceMonths())
		case "child.age_years < 3":
			out.Passed, out.Detail = age < 3, fmt.Sprintf("the child is %d", age)
		case "child.age_years >= 6 && child.age_years <= 15":
			out.Passed, out.Detail = age >= 6 && age <= 15, fmt.Sprintf("the child is %d", age)
		}
		ev.resp.Conditions = append(ev.resp.Conditions, out)
		ev.resp.Eligible = ev.resp.Eligible && out.GetPassed()
	}
	return ev, nil
}

func (f *fakeScenarios) CheckEligibility(_ context.Context, req *epermitv1.CheckEligibilityRequest) (*epermitv1.CheckEligibilityResponse, error) {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	ev, err := f.evaluate(req.GetPermit(), req.GetService(), req.GetChild(), req.GetFields())
	if err != nil {
		return nil, err
	}
	return ev.resp, nil
}

// fakeTime returns the fake's time of its n-th change, a minute apart.
func fakeTime(n int) time.Time {
	return time.Date(2026, 4, 1, 10, 0, 0, 0, chinaStandardTime).Add(time.Duration(n) * time.Minute)
}

// record appends the change to r's history and to the event log, and
// wakes the streams; n.mu is held.
func (f *fakeScenarios) record(r *epermitv1.ServiceRequest, state epermitv1.ServiceRequestState, actor, reason string) {
	at := timestamppb.New(fakeTime(len(f.events)))
	change := &epermitv1.StateChange{State: state, Time: at, Actor: actor, Reason: reason}
	r.State, r.Reason, r.UpdateTime = state, reason, at
	r.History = append(r.History, change)
	r.Version++
	if r.CreateTime == nil {
		r.CreateTime = at
	}
	f.events = append(f.events, &epermitv1.WatchServiceRequestsResponse{
		Request: proto.CloneOf(r), Change: proto.CloneOf(change), ResumeToken: strconv.Itoa(len(f.events) + 1),
	})
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeScenarios) SubmitServiceRequest(ctx context.Context, req *epermitv1.SubmitServiceRequestRequest) (*epermitv1.SubmitServiceRequestResponse, error) {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	f.node.requests = append(f.node.requests, req)
	if id, ok := f.requestID[req.GetRequestId()]; ok {
		return &epermitv1.SubmitServiceRequestResponse{Request: proto.CloneOf(f.reqs[id])}, nil
	}
	ev, err := f.evaluate(req.GetPermit(), req.GetService(), req.GetChild(), req.GetFields())
	if err != nil {
		return nil, err
	}
	if !ev.resp.GetEligible() {
		pf := &errdetails.PreconditionFailure{}
		for _, c := range ev.resp.GetConditions() {
			if !c.GetPassed() {
				pf.Violations = append(pf.Violations, &errdetails.PreconditionFailure_Violation{
					Type: "CONDITION_NOT_MET", Subject: "service/" + req.GetService(), Description: c.GetDescription()})
			}
		}
		st, _ := status.New(codes.FailedPrecondition, "the eligibility rule of "+req.GetService()+" is not met").WithDetails(pf)
		return nil, st.Err()
	}
	r := &epermitv1.ServiceRequest{
		Id:              fmt.Sprintf("S330604-00000000000%02d", len(f.ids)+1),
		Service:         req.GetService(),
		Scenario:        ev.scenario,
		Department:      ev.service.GetDepartment(),
		PermitId:        ev.permit.GetId(),
		IssuingDivision: ev.permit.GetIssuingDivision(),
		Holder:          &epermitv1.Holder{Name: ev.permit.GetHolder().GetName(), CitizenId: ev.permit.GetHolder().GetCitizenId()},
		Child:           ev.child,
		Fields:          req.GetFields(),
		RuleVersion:     ev.resp.GetRuleVersion(),
		Conditions:      ev.resp.GetConditions(),
		SubmittedBy:     callerName(ctx, "clerk.wang"),
	}
	f.record(r, epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_SUBMITTED, r.GetSubmittedBy(), "")
	r.NextAttemptTime = r.GetUpdateTime()
	f.reqs[r.Id] = r
	f.ids = append(f.ids, r.Id)
	f.requestID[req.GetRequestId()] = r.Id
	return &epermitv1.SubmitServiceRequestResponse{Request: proto.CloneOf(r)}, nil
}

// advance moves request id to state as actor would, for a test.
func (f *fakeScenarios) advance(id string, state epermitv1.ServiceRequestState, actor, reason string) {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	r := f.reqs[id]
	r.Attempts++
	r.NextAttemptTime = nil
	f.record(r, state, actor, reason)
}

func (f *fakeScenarios) GetServiceRequest(_ context.Context, req *epermitv1.GetServiceRequestRequest) (*epermitv1.GetServiceRequestResponse, error) {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	r, ok := f.reqs[req.GetId()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "service request %s not found", req.GetId())
	}
	return &epermitv1.GetServiceRequestResponse{Request: proto.CloneOf(r)}, nil
}

// ListServiceRequests filters and pages, newest first; the page token is
// the index of the next request.
func (f *fakeScenarios) ListServiceRequests(_ context.Context, req *epermitv1.ListServiceRequestsRequest) (*epermitv1.ListServiceRequestsResponse, error) {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	var match []*epermitv1.ServiceRequest
	for _, id := range slices.Backward(f.ids) {
		r := f.reqs[id]
		created := r.GetCreateTime().AsTime()
		switch {
		case req.GetPermitId() != "" && r.GetPermitId() != req.GetPermitId(),
			req.GetState() != 0 && r.GetState() != req.GetState(),
			req.GetDepartment() != "" && r.GetDepartment() != req.GetDepartment(),
			req.GetStartTime() != nil && created.Before(req.GetStartTime().AsTime()),
			req.GetEndTime() != nil && !created.Before(req.GetEndTime().AsTime()):
			continue
		}
		match = append(match, r)
	}
	page, next, err := fakePage(match, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &epermitv1.ListServiceRequestsResponse{NextPageToken: next}
	for _, r := range page {
		resp.Requests = append(resp.Requests, proto.CloneOf(r))
	}
	return resp, nil
}

// fakePage returns the page of items that size (50 when 0) and token (the
// index of its first item, "" for 0) give, and the token of the next page,
// "" after the last.
func fakePage[T any](items []T, size int32, token string) (page []T, next string, err error) {
	if size == 0 {
		size = 50
	}
	start := 0
	if token != "" {
		if start, err = strconv.Atoi(token); err != nil || start < 0 || start > len(items) {
			return nil, "", status.Error(codes.InvalidArgument, "bad page token")
		}
	}
	end := min(start+int(size), len(items))
	if end < len(items) {
		next = strconv.Itoa(end)
	}
	return items[start:end], next, nil
}

// final reports whether state is one a request does not leave.
func final(state epermitv1.ServiceRequestState) bool {
	switch state {
	case epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_REJECTED,
		epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_COMPLETED,
		epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_CANCELLED:
		return true
	}
	return false
}

// change records req and applies change to request id; n.mu is taken.
func (f *fakeScenarios) change(req proto.Message, id string, change func(*epermitv1.ServiceRequest) error) (*epermitv1.ServiceRequest, error) {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	f.node.requests = append(f.node.requests, req)
	r, ok := f.reqs[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "service request %s not found", id)
	}
	if err := change(r); err != nil {
		return nil, err
	}
	return proto.CloneOf(r), nil
}

func (f *fakeScenarios) CancelServiceRequest(ctx context.Context, req *epermitv1.CancelServiceRequestRequest) (*epermitv1.CancelServiceRequestResponse, error) {
	r, err := f.change(req, req.GetId(), func(r *epermitv1.ServiceRequest) error {
		if final(r.GetState()) {
			return status.Errorf(codes.FailedPrecondition, "service request %s is %s", r.GetId(), enumWord(r.GetState()))
		}
		r.NextAttemptTime = nil
		f.record(r, epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_CANCELLED, callerName(ctx, "clerk.wang"), req.GetReason())
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &epermitv1.CancelServiceRequestResponse{Request: r}, nil
}

func (f *fakeScenarios) RetryServiceRequest(ctx context.Context, req *epermitv1.RetryServiceRequestRequest) (*epermitv1.RetryServiceRequestResponse, error) {
	r, err := f.change(req, req.GetId(), func(r *epermitv1.ServiceRequest) error {
		if r.GetState() != epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_FAILED {
			return status.Errorf(codes.FailedPrecondition, "service request %s is %s, not failed", r.GetId(), enumWord(r.GetState()))
		}
		r.Attempts = 0
		f.record(r, epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_SUBMITTED, callerName(ctx, "clerk.wang"), "retried")
		r.NextAttemptTime = r.GetUpdateTime()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &epermitv1.RetryServiceRequestResponse{Request: r}, nil
}

// WatchServiceRequests sends the events after the resume token (or those
// appended after the call), then each new one, until the client goes or
// cutWatches drops the stream with Unavailable.
func (f *fakeScenarios) WatchServiceRequests(req *epermitv1.WatchServiceRequestsRequest, stream grpc.ServerStreamingServer[epermitv1.WatchServiceRequestsResponse]) error {
	f.node.mu.Lock()
	f.watches = append(f.watches, proto.CloneOf(req))
	next, cut := len(f.events), f.cut
	if tok := req.GetResumeToken(); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 || n > len(f.events) {
			f.node.mu.Unlock()
			return status.Errorf(codes.InvalidArgument, "resume token %q is not one of this node's", tok)
		}
		next = n
	}
	f.node.mu.Unlock()
	for {
		f.node.mu.Lock()
		pending, changed := f.events[next:], f.changed
		next = len(f.events)
		f.node.mu.Unlock()
		for _, ev := range pending {
			r := ev.GetRequest()
			if req.GetPermitId() != "" && r.GetPermitId() != req.GetPermitId() ||
				req.GetDepartment() != "" && r.GetDepartment() != req.GetDepartment() {
				continue
			}
			if err := stream.Send(ev); err != nil {
				return err
			}
		}
		select {
		case <-changed:
		case <-cut:
			return status.Error(codes.Unavailable, "the node is restarting")
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}

// cutWatches drops every open stream.
func (f *fakeScenarios) cutWatches() {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	close(f.cut)
	f.cut = make(chan struct{})
}

// watchRequests returns the WatchServiceRequests requests received.
func (f *fakeScenarios) watchRequests() []*epermitv1.WatchServiceRequestsRequest {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	return slices.Clone(f.watches)
}
