package command

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Synthetic service requests: made-up people and children, citizen ids
// with valid check characters.

// Children of the synthetic requests.
const (
	childA   = "测试者小甲"
	childAID = "330604201709120030" // born 2017-09-12
	childB   = "测试者小乙"
	childBID = "33060420200506002X" // born 2020-05-06
)

// routedRequest is a school enrolment delivered to the department.
func routedRequest() *epermitv1.ServiceRequest {
	p := activePermit()
	return &epermitv1.ServiceRequest{
		Id:              "S330604-0G3K4A1B2C3D4",
		Service:         "school_enrolment",
		Scenario:        "schooling",
		Department:      "education",
		PermitId:        p.GetId(),
		IssuingDivision: "330604",
		Holder:          &epermitv1.Holder{Name: p.GetHolder().GetName(), CitizenId: p.GetHolder().GetCitizenId()},
		Child:           &epermitv1.Child{Name: childA, CitizenId: childAID, BirthDate: "2017-09-12"},
		Fields:          map[string]string{"school": "上虞区测试小学", "grade": "3"},
		State:           epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_ROUTED,
		RuleVersion:     "2026-09",
		Conditions: []*epermitv1.Condition{
			{Description: "居住证有效 / the permit is active", Expression: `permit.status == "active"`, Passed: true, Detail: "the permit is active"},
			{Description: "在长三角连续居住满12个月 / twelve months of continuous residence in the Delta",
				Expression: "permit.residence_months >= 12", Passed: true, Detail: "14 months"},
			{Description: "子女6至15周岁 / the child is aged 6 to 15", Expression: "child.age_years >= 6 && child.age_years <= 15",
				Passed: true, Detail: "the child is 8"},
		},
		Attempts:            1,
		DepartmentReference: "JY-2026-000123",
		History: []*epermitv1.StateChange{
			{State: epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_SUBMITTED, Time: ts("2026-04-01 10:00:00"), Actor: "clerk.wang"},
			{State: epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_ROUTED, Time: ts("2026-04-01 10:00:02"), Actor: "outbox",
				Reason: "delivered on attempt 1"},
		},
		Version:     2,
		CreateTime:  ts("2026-04-01 10:00:00"),
		UpdateTime:  ts("2026-04-01 10:00:02"),
		SubmittedBy: "clerk.wang",
	}
}

// failedRequest is an employment registration whose delivery failed.
func failedRequest() *epermitv1.ServiceRequest {
	p := suspendedPermit()
	return &epermitv1.ServiceRequest{
		Id:              "S330604-0G3K4B7N8P9Q0",
		Service:         "employment_registration",
		Scenario:        "employment",
		Department:      "hrss",
		PermitId:        p.GetId(),
		IssuingDivision: "330604",
		Holder:          &epermitv1.Holder{Name: p.GetHolder().GetName(), CitizenId: p.GetHolder().GetCitizenId()},
		Fields:          map[string]string{"employer": "绍兴测试科技有限公司"},
		State:           epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_FAILED,
		Reason:          "unavailable: connection refused (attempt 8 of 8)",
		RuleVersion:     "2025-01",
		Conditions: []*epermitv1.Condition{
			{Description: "居住证有效 / the permit is active", Expression: `permit.status == "active"`, Passed: true},
		},
		Attempts: 8,
		History: []*epermitv1.StateChange{
			{State: epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_SUBMITTED, Time: ts("2026-03-30 09:12:00"), Actor: "clerk.li"},
			{State: epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_FAILED, Time: ts("2026-03-30 09:31:45"), Actor: "outbox",
				Reason: "unavailable: connection refused (attempt 8 of 8)"},
		},
		Version:     2,
		CreateTime:  ts("2026-03-30 09:12:00"),
		UpdateTime:  ts("2026-03-30 09:31:45"),
		SubmittedBy: "clerk.li",
	}
}

// submittedRequest is a childcare subsidy waiting in the outbox.
func submittedRequest() *epermitv1.ServiceRequest {
	return &epermitv1.ServiceRequest{
		Id:              "S330604-0G3K4C5V6W7X8",
		Service:         "childcare_subsidy",
		Scenario:        "childcare",
		Department:      "health",
		PermitId:        "330604-2B8N5R4T6Y1U9",
		IssuingDivision: "330604",
		Holder:          &epermitv1.Holder{Name: "测试者庚", CitizenId: "330602199208150028"},
		Child:           &epermitv1.Child{Name: childB, CitizenId: childBID, BirthDate: "2020-05-06"},
		Fields:          map[string]string{"bank_account": "6222000000000000000"},
		State:           epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_SUBMITTED,
		RuleVersion:     "2025-01",
		Attempts:        2,
		NextAttemptTime: ts("2026-04-02 08:00:04"),
		History: []*epermitv1.StateChange{
			{State: epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_SUBMITTED, Time: ts("2026-04-02 08:00:00"), Actor: "clerk.wang"},
		},
		Version:     1,
		CreateTime:  ts("2026-04-02 08:00:00"),
		UpdateTime:  ts("2026-04-02 08:00:00"),
		SubmittedBy: "clerk.wang",
	}
}

// notEligible is the answer for a child too old for the childcare subsidy.
func notEligible() *epermitv1.CheckEligibilityResponse {
	return &epermitv1.CheckEligibilityResponse{
		RuleVersion: "2025-01",
		Conditions: []*epermitv1.Condition{
			{Description: "居住证有效 / the permit is active", Expression: `permit.status == "active"`, Passed: true, Detail: "the permit is active"},
			{Description: "子女未满3周岁 / the child is under 3", Expression: "child.age_years < 3", Detail: "the child is 8"},
		},
	}
}

// watchedChanges are three changes as request watch receives them.
func watchedChanges() []*epermitv1.WatchServiceRequestsResponse {
	routed, failed := routedRequest(), failedRequest()
	submitted := proto.CloneOf(routed)
	submitted.State, submitted.History, submitted.Version = epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_SUBMITTED, routed.History[:1], 1
	return []*epermitv1.WatchServiceRequestsResponse{
		{Request: submitted, Change: submitted.History[0], ResumeToken: "1041"},
		{Request: routed, Change: routed.History[1], ResumeToken: "1042"},
		{Request: failed, Change: failed.History[1], ResumeToken: "1043"},
	}
}

// The scenario printers' cases join TestPrinters' golden files.
func init() {
	for _, c := range []struct {
		name  string
		print func(scenarioPrinter) error
	}{
		{"scenarios", func(p scenarioPrinter) error { return p.Scenarios(fakeCatalogue()) }},
		{"scenarios_empty", func(p scenarioPrinter) error { return p.Scenarios(&epermitv1.ListScenariosResponse{}) }},
		{"eligibility_eligible", func(p scenarioPrinter) error {
			return p.Eligibility("school_enrolment", &epermitv1.CheckEligibilityResponse{
				Eligible: true, RuleVersion: routedRequest().GetRuleVersion(), Conditions: routedRequest().GetConditions()})
		}},
		{"eligibility_not_eligible", func(p scenarioPrinter) error { return p.Eligibility("childcare_subsidy", notEligible()) }},
		{"service_request_routed", func(p scenarioPrinter) error { return p.ServiceRequest(routedRequest()) }},
		{"service_request_failed", func(p scenarioPrinter) error { return p.ServiceRequest(failedRequest()) }},
		{"service_request_submitted", func(p scenarioPrinter) error { return p.ServiceRequest(submittedRequest()) }},
		{"service_requests", func(p scenarioPrinter) error {
			return p.ServiceRequests(&epermitv1.ListServiceRequestsResponse{
				Requests: []*epermitv1.ServiceRequest{submittedRequest(), routedRequest(), failedRequest()}})
		}},
		{"service_requests_more", func(p scenarioPrinter) error {
			return p.ServiceRequests(&epermitv1.ListServiceRequestsResponse{
				Requests: []*epermitv1.ServiceRequest{submittedRequest()}, NextPageToken: "1"})
		}},
		{"service_requests_empty", func(p scenarioPrinter) error {
			return p.ServiceRequests(&epermitv1.ListServiceRequestsResponse{})
		}},
		{"watch_changes", func(p scenarioPrinter) error {
			if err := p.WatchNote("Watching service requests after resume token 1040; Ctrl-C stops."); err != nil {
				return err
			}
			for _, c := range watchedChanges() {
				if err := p.ServiceRequestChange(c); err != nil {
					return err
				}
			}
			return nil
		}},
	} {
		printerCases = append(printerCases, struct {
			name  string
			print func(printer) error
		}{c.name, func(p printer) error { return c.print(p.(scenarioPrinter)) }})
	}
}

// residentPermit is activePermit with 14 months of residence in the Delta.
func residentPermit() *epermitv1.Permit {
	p := activePermit()
	p.ResidenceMonths = 14
	return p
}

// TestScenarioCommands runs scenarios and eligibility against the fake
// node, in both output formats, and checks their flags.
func TestScenarioCommands(t *testing.T) {
	node, addr := startFakeNode(t, residentPermit(), suspendedPermit())
	run := func(stdin string, args ...string) cliResult {
		t.Helper()
		return runCLI(t, strings.NewReader(stdin), append([]string{"--server", addr}, args...)...)
	}

	r := run("", "scenarios")
	for _, want := range []string{"教育 Schooling (schooling)", "school_enrolment", "education  教育局 / Education Bureau",
		"2026-09, in force from 2026-03-01", "子女6至15周岁 / the child is aged 6 to 15", "Departments"} {
		if r.err != nil || !strings.Contains(r.stdout, want) {
			t.Fatalf("scenarios: err %v; output lacks %q:\n%s", r.err, want, r.stdout)
		}
	}
	r = run("", "scenarios", "-o", "json")
	var catalogue epermitv1.ListScenariosResponse
	if err := protojson.Unmarshal([]byte(r.stdout), &catalogue); r.err != nil || err != nil {
		t.Fatalf("scenarios -o json: err %v, %v\n%s", r.err, err, r.stdout)
	}
	mustEqual(t, &catalogue, fakeCatalogue())

	school := []string{"eligibility", "--service", "school_enrolment", "--permit", residentPermit().GetId(),
		"--child-name", childA, "--child-citizen-id", childAID, "--field", "school=上虞区测试小学"}
	r = run("", school...)
	if r.err != nil || !strings.HasPrefix(r.stdout, "ELIGIBLE\n") || strings.Count(r.stdout, "✓") != 3 || !strings.Contains(r.stdout, "the child is 8") {
		t.Fatalf("eligibility: err %v\n%s", r.err, r.stdout)
	}
	mustEqual(t, node.lastCall(t).req.(*epermitv1.CheckEligibilityRequest), &epermitv1.CheckEligibilityRequest{
		Permit:  &epermitv1.ServicePermit{Subject: &epermitv1.ServicePermit_PermitId{PermitId: residentPermit().GetId()}},
		Service: "school_enrolment",
		Child:   &epermitv1.Child{Name: childA, CitizenId: childAID},
		Fields:  map[string]string{"school": "上虞区测试小学"},
	})

	r = run("", "eligibility", "--service", "childcare_subsidy", "--permit", residentPermit().GetId(),
		"--child-name", childA, "--child-citizen-id", childAID, "--field", "bank_account=6222000000000000000")
	if r.code != exitNotValid || !strings.HasPrefix(r.stdout, "NOT ELIGIBLE\n") ||
		!strings.Contains(r.stdout, "✗ 子女未满3周岁 / the child is under 3") || !strings.Contains(r.err.Error(), "not eligible for childcare_subsidy") {
		t.Fatalf("eligibility of a child too old: exit %d, err %v\n%s", r.code, r.err, r.stdout)
	}
	r = run("", "eligibility", "--service", "employment_registration", "--permit", suspendedPermit().GetId(),
		"--field", "employer=绍兴测试科技有限公司", "-o", "json")
	var answer epermitv1.CheckEligibilityResponse
	if err := protojson.Unmarshal([]byte(r.stdout), &answer); r.code != exitNotValid || err != nil || answer.GetEligible() ||
		answer.GetConditions()[0].GetDetail() != "the permit is suspended" {
		t.Fatalf("eligibility -o json of a suspended permit: exit %d, err %v, %v\n%s", r.code, r.err, err, r.stdout)
	}

	r = run(testCredentialText+"\n", "eligibility", "--service", "employment_registration", "--credential", "-",
		"--citizen-id", activePermit().GetHolder().GetCitizenId(), "--field", "employer=绍兴测试科技有限公司")
	if r.err != nil || !strings.HasPrefix(r.stdout, "ELIGIBLE\n") {
		t.Fatalf("eligibility --credential -: err %v\n%s", r.err, r.stdout)
	}
	mustEqual(t, node.lastCall(t).req.(*epermitv1.CheckEligibilityRequest).GetPermit(), &epermitv1.ServicePermit{
		Subject:   &epermitv1.ServicePermit_CredentialText{CredentialText: testCredentialText},
		CitizenId: activePermit().GetHolder().GetCitizenId(),
	})

	r = run("", "eligibility", "--service", "school_enrolment", "--permit", residentPermit().GetId(),
		"--child-name", childA, "--child-citizen-id", "330604201709120031", "--field", "school=上虞区测试小学")
	if r.code != exitFailure || !strings.Contains(client.Describe(r.err), "child.citizen_id: INVALID") {
		t.Fatalf("eligibility with a bad child id: exit %d, err %v", r.code, client.Describe(r.err))
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no service", []string{"--permit", "330604-4F7K2M9QXW3B7"}, "--service"},
		{"no permit", []string{"--service", "school_enrolment"}, "--permit ID"},
		{"both permit and credential", []string{"--service", "x", "--permit", "p", "--credential", "c", "--citizen-id", "i"}, "not both"},
		{"credential without citizen id", []string{"--service", "x", "--credential", "c"}, "--credential needs --citizen-id"},
		{"citizen id with permit", []string{"--service", "x", "--permit", "p", "--citizen-id", "i"}, "--citizen-id goes with --credential"},
		{"half a child", []string{"--service", "x", "--permit", "p", "--child-name", childA}, "--child-citizen-id"},
		{"field without value", []string{"--service", "x", "--permit", "p", "--field", "school"}, `"school" is not KEY=VALUE`},
		{"field twice", []string{"--service", "x", "--permit", "p", "--field", "a=1", "--field", "a=2"}, "--field a is given twice"},
		{"empty credential", []string{"--service", "x", "--credential", "-", "--citizen-id", "i"}, "empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, cmd := range [][]string{{"eligibility"}, {"request", "submit"}} {
				before := len(node.receivedCalls())
				r := run("", append(cmd, tt.args...)...)
				if r.code != exitUsage || !strings.Contains(r.err.Error(), tt.want) {
					t.Errorf("%s: exit %d, err %v; want a usage error saying %q", cmd, r.code, r.err, tt.want)
				}
				if len(node.receivedCalls()) != before {
					t.Errorf("%s sent a call despite a usage error", cmd)
				}
			}
		})
	}
}

// TestRequestCommands follows service requests through the fake node:
// submitted (again with the same request id), refused with the conditions
// not met, shown, listed, cancelled and retried.
func TestRequestCommands(t *testing.T) {
	node, addr := startFakeNode(t, residentPermit(), suspendedPermit())
	run := func(args ...string) cliResult {
		t.Helper()
		return runCLI(t, nil, append([]string{"--server", addr}, args...)...)
	}
	submit := []string{"request", "submit", "--service", "school_enrolment", "--permit", residentPermit().GetId(),
		"--child-name", childA, "--child-citizen-id", childAID, "--field", "school=上虞区测试小学", "--request-id", "enrol-1"}

	r := run(submit...)
	if r.err != nil || !strings.Contains(r.stdout, "S330604-0000000000001") || !strings.Contains(r.stdout, "submitted") ||
		!strings.Contains(r.stdout, "Child birth date      2017-09-12") || !strings.Contains(r.stderr, "Waiting in the outbox") {
		t.Fatalf("submit: err %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	got := node.received()
	mustEqual(t, got[len(got)-1], &epermitv1.SubmitServiceRequestRequest{
		RequestId: "enrol-1",
		Permit:    &epermitv1.ServicePermit{Subject: &epermitv1.ServicePermit_PermitId{PermitId: residentPermit().GetId()}},
		Service:   "school_enrolment",
		Child:     &epermitv1.Child{Name: childA, CitizenId: childAID},
		Fields:    map[string]string{"school": "上虞区测试小学"},
	})
	r = run(append(submit, "-o", "json")...)
	var again epermitv1.GetServiceRequestResponse
	if err := protojson.Unmarshal([]byte(r.stdout), &again); r.err != nil || err != nil || again.GetRequest().GetId() != "S330604-0000000000001" {
		t.Fatalf("submit again with the same request id: err %v, %v\n%s", r.err, err, r.stdout)
	}

	r = run("request", "submit", "--service", "childcare_subsidy", "--permit", suspendedPermit().GetId(),
		"--child-name", childA, "--child-citizen-id", childAID, "--field", "bank_account=6222000000000000000")
	wantLines := "failed precondition: not submitted: the eligibility rule of childcare_subsidy is not met\n" +
		"conditions not met (2):\n" +
		"  ✗ 居住证有效 / the permit is active\n" +
		"  ✗ 子女未满3周岁 / the child is under 3"
	if r.code != exitFailure || r.stdout != "" || client.Describe(r.err) != wantLines {
		t.Fatalf("submit of an ineligible request: exit %d, stdout %q, err:\n%s\nwant:\n%s", r.code, r.stdout, client.Describe(r.err), wantLines)
	}
	r = run("request", "submit", "--service", "employment_registration", "--permit", residentPermit().GetId(),
		"--field", "employer=绍兴测试科技有限公司")
	if r.err != nil {
		t.Fatalf("submit: %v", r.err)
	}
	got = node.received()
	if id := got[len(got)-1].(*epermitv1.SubmitServiceRequestRequest).GetRequestId(); len(id) != 36 {
		t.Errorf("submit without --request-id sent request id %q, want a new one", id)
	}

	node.scenarios.advance("S330604-0000000000001", epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_ROUTED, "outbox", "delivered")
	node.scenarios.advance("S330604-0000000000002", epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_FAILED, "outbox", "unavailable")
	r = run("request", "show", "S330604-0000000000001")
	if r.err != nil || !strings.Contains(r.stdout, "History\nTIME") || !strings.Contains(r.stdout, "routed     outbox      delivered") {
		t.Fatalf("show: err %v\n%s", r.err, r.stdout)
	}
	r = run("req", "show", "S330604-0000000000009")
	if r.code != exitFailure || !strings.Contains(client.Describe(r.err), "not found") {
		t.Fatalf("show of a missing request: exit %d, err %v", r.code, r.err)
	}

	r = run("request", "list", "--state", "failed", "--department", "hrss", "--permit", residentPermit().GetId(),
		"--since", "2026-04-01", "--until", "2026-04-01")
	if r.err != nil || strings.Count(r.stdout, "S330604-") != 1 || !strings.Contains(r.stdout, "S330604-0000000000002") {
		t.Fatalf("list --state failed: err %v\n%s", r.err, r.stdout)
	}
	mustEqual(t, node.lastCall(t).req.(*epermitv1.ListServiceRequestsRequest), &epermitv1.ListServiceRequestsRequest{
		PermitId: residentPermit().GetId(), State: epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_FAILED, Department: "hrss",
		StartTime: ts("2026-04-01 00:00:00"), EndTime: ts("2026-04-02 00:00:00"),
	})
	r = run("request", "list", "--page-size", "1")
	if r.err != nil || strings.Count(r.stdout, "S330604-") != 1 || !strings.Contains(r.stderr, "--page-token 1") {
		t.Fatalf("list --page-size 1: err %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	r = run("request", "list", "--page-size", "1", "--all", "-o", "json")
	var list epermitv1.ListServiceRequestsResponse
	if err := protojson.Unmarshal([]byte(r.stdout), &list); r.err != nil || err != nil || len(list.GetRequests()) != 2 ||
		list.GetRequests()[0].GetId() != "S330604-0000000000002" {
		t.Fatalf("list --all -o json: err %v, %v\n%s", r.err, err, r.stdout)
	}
	for _, args := range [][]string{{"--state", "pending"}, {"--since", "yesterday"}, {"--since", "2026-04-02", "--until", "2026-04-01"},
		{"--page-size", "-1"}} {
		if r = run(append([]string{"request", "list"}, args...)...); r.code != exitUsage {
			t.Errorf("list %v: exit %d, err %v; want a usage error", args, r.code, r.err)
		}
	}

	r = run("request", "retry", "S330604-0000000000001")
	if r.code != exitFailure || !strings.Contains(client.Describe(r.err), "not failed") {
		t.Fatalf("retry of a routed request: exit %d, err %v", r.code, r.err)
	}
	r = run("request", "retry", "S330604-0000000000002", "--request-id", "retry-1")
	if r.err != nil || !strings.Contains(r.stdout, "retried") {
		t.Fatalf("retry: err %v\n%s", r.err, r.stdout)
	}
	got = node.received()
	mustEqual(t, got[len(got)-1], &epermitv1.RetryServiceRequestRequest{RequestId: "retry-1", Id: "S330604-0000000000002"})

	r = run("request", "cancel", "S330604-0000000000001", "--reason", "申请人撤回")
	if r.code != exitUsage || !strings.Contains(r.err.Error(), "--yes") {
		t.Fatalf("cancel without --yes and no terminal: exit %d, err %v", r.code, r.err)
	}
	r = run("request", "cancel", "S330604-0000000000001", "--yes")
	if r.code != exitUsage || !strings.Contains(r.err.Error(), "--reason") {
		t.Fatalf("cancel without --reason: exit %d, err %v", r.code, r.err)
	}
	r = run("request", "cancel", "S330604-0000000000001", "--reason", "申请人撤回 / withdrawn", "--yes", "--request-id", "cancel-1", "-o", "json")
	var cancelled epermitv1.GetServiceRequestResponse
	if err := protojson.Unmarshal([]byte(r.stdout), &cancelled); r.err != nil || err != nil ||
		cancelled.GetRequest().GetState() != epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_CANCELLED {
		t.Fatalf("cancel: err %v, %v\n%s", r.err, err, r.stdout)
	}
	got = node.received()
	mustEqual(t, got[len(got)-1], &epermitv1.CancelServiceRequestRequest{RequestId: "cancel-1", Id: "S330604-0000000000001",
		Reason: "申请人撤回 / withdrawn"})
	r = run("request", "cancel", "S330604-0000000000001", "--reason", "again", "--yes")
	if r.code != exitFailure || !strings.Contains(client.Describe(r.err), "failed precondition") {
		t.Fatalf("cancel of a cancelled request: exit %d, err %v", r.code, r.err)
	}
}

// TestConfirmRequestCancel checks the question request cancel asks and
// that only the request id confirms it.
func TestConfirmRequestCancel(t *testing.T) {
	r := routedRequest()
	for _, tt := range []struct {
		answer  string
		wantErr error
	}{
		{r.GetId() + "\n", nil},
		{"  " + r.GetId() + "  \n", nil},
		{"y\n", errNotConfirmed},
		{"", errNotConfirmed},
	} {
		var prompt bytes.Buffer
		if err := confirmRequestCancel(strings.NewReader(tt.answer), &prompt, r); !errors.Is(err, tt.wantErr) {
			t.Errorf("answer %q: %v, want %v", tt.answer, err, tt.wantErr)
		}
		want := "Cancel service request S330604-0G3K4A1B2C3D4 (school_enrolment for 测试者甲, now routed)? " +
			"A cancelled request is final. Type the request id to confirm: "
		if prompt.String() != want {
			t.Errorf("prompt %q, want %q", prompt.String(), want)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a command writing while the test
// reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// watchRun is a request watch running in the background.
type watchRun struct {
	out, errOut syncBuffer
	cancel      context.CancelFunc
	done        chan error
}

// startWatch runs permitctl with args (a request watch) until stop.
func startWatch(args ...string) *watchRun {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watchRun{cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- runCLIWith(ctx, nil, &w.out, &w.errOut, args...) }()
	return w
}

// stop ends the watch as Ctrl-C does and returns its error.
func (w *watchRun) stop(t *testing.T) error {
	t.Helper()
	w.cancel()
	select {
	case err := <-w.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("request watch did not stop")
		return nil
	}
}

// waitUntil polls cond until it holds, failing the test after 10 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// jsonLines parses each line of s as a WatchServiceRequestsResponse.
func jsonLines(t *testing.T, s string) []*epermitv1.WatchServiceRequestsResponse {
	t.Helper()
	var out []*epermitv1.WatchServiceRequestsResponse
	for line := range strings.Lines(s) {
		var m epermitv1.WatchServiceRequestsResponse
		if err := protojson.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q is not a WatchServiceRequestsResponse: %v", line, err)
		}
		out = append(out, &m)
	}
	return out
}

// TestRequestWatchResumes cuts the stream of a request watch, fails its
// first reconnection, records changes meanwhile, and checks that the watch
// comes back with the last resume token and prints every change exactly
// once, in order, then says how to continue.
func TestRequestWatchResumes(t *testing.T) {
	node, addr := startFakeNode(t, residentPermit())
	f := node.scenarios
	submit := func(rid string) {
		t.Helper()
		r := runCLI(t, nil, "--server", addr, "request", "submit", "--service", "employment_registration",
			"--permit", residentPermit().GetId(), "--field", "employer=绍兴测试科技有限公司", "--request-id", rid)
		if r.err != nil {
			t.Fatal(r.err)
		}
	}
	submit("r1") // event 1
	submit("r2") // event 2
	const watchMethod = "/epermit.v1.ScenarioService/WatchServiceRequests"
	watchCalls := func() int {
		n := 0
		for _, c := range node.receivedCalls() {
			if c.method == watchMethod {
				n++
			}
		}
		return n
	}

	w := startWatch("--server", addr, "request", "watch", "--resume", "1", "--department", "hrss", "-o", "json")
	waitUntil(t, "the change after token 1 is printed", func() bool { return strings.Count(w.out.String(), "\n") == 1 })

	node.fail(watchMethod, status.Error(codes.Unavailable, "the node is restarting"))
	f.cutWatches()
	waitUntil(t, "the watch tries to reconnect", func() bool { return watchCalls() == 2 })
	f.advance("S330604-0000000000001", epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_ROUTED, "outbox", "delivered") // event 3
	f.advance("S330604-0000000000001", epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_ACCEPTED, "department", "")    // event 4
	node.fail(watchMethod, nil)
	waitUntil(t, "the changes made while away are printed", func() bool { return strings.Count(w.out.String(), "\n") == 3 })
	f.advance("S330604-0000000000002", epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_ROUTED, "outbox", "delivered") // event 5
	waitUntil(t, "a change after the reconnection is printed", func() bool { return strings.Count(w.out.String(), "\n") == 4 })
	if err := w.stop(t); err != nil {
		t.Fatalf("watch stopped by Ctrl-C: %v, want success", err)
	}

	var tokens []string
	for _, c := range jsonLines(t, w.out.String()) {
		tokens = append(tokens, c.GetResumeToken())
	}
	if got := strings.Join(tokens, " "); got != "2 3 4 5" {
		t.Errorf("printed the changes with tokens %s, want 2 3 4 5, each once", got)
	}
	var resumed []string
	for _, req := range f.watchRequests() {
		resumed = append(resumed, req.GetResumeToken())
		if req.GetDepartment() != "hrss" {
			t.Errorf("a reconnection lost --department: %v", req)
		}
	}
	if got := strings.Join(resumed, " "); got != "1 2" {
		t.Errorf("the node was asked to resume after %s, want 1 then 2", got)
	}
	stderr := w.errOut.String()
	for _, want := range []string{
		"Watching service requests after resume token 1",
		"The stream ended (unavailable: the node is restarting); reconnecting in",
		"after resume token 2.",
		"Stopped. To continue after the last change shown: permitctl request watch --resume 5 --department hrss\n",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if n := strings.Count(stderr, "reconnecting in"); n != 2 {
		t.Errorf("stderr notes %d reconnections, want 2 (the cut, then the failed attempt):\n%s", n, stderr)
	}
}

// TestRequestWatchTable checks the line format of a watch from now on, its
// filters, and that an error reconnecting cannot cure ends it.
func TestRequestWatchTable(t *testing.T) {
	node, addr := startFakeNode(t, residentPermit())
	w := startWatch("--server", addr, "--timeout", "100ms", "request", "watch", "--permit", residentPermit().GetId())
	waitUntil(t, "the watch is open", func() bool { return len(node.scenarios.watchRequests()) == 1 })
	time.Sleep(300 * time.Millisecond) // longer than --timeout, which a stream does not have
	r := runCLI(t, nil, "--server", addr, "request", "submit", "--service", "employment_registration",
		"--permit", residentPermit().GetId(), "--field", "employer=绍兴测试科技有限公司", "--request-id", "r1")
	if r.err != nil {
		t.Fatal(r.err)
	}
	waitUntil(t, "the change is printed", func() bool { return strings.Count(w.out.String(), "\n") == 2 })
	if err := w.stop(t); err != nil {
		t.Fatal(err)
	}
	want := "TIME                     STATE      REQUEST                SERVICE                  PERMIT                BY          REASON\n" +
		"2026-04-01 10:00:00 CST  submitted  S330604-0000000000001  employment_registration  330604-4F7K2M9QXW3B7  clerk.wang  -\n"
	if got := w.out.String(); got != want {
		t.Errorf("watch printed\n%s\nwant\n%s", got, want)
	}
	if req := node.scenarios.watchRequests()[0]; req.GetResumeToken() != "" || req.GetPermitId() != residentPermit().GetId() {
		t.Errorf("watch sent %v, want no token and the permit", req)
	}
	if !strings.Contains(w.errOut.String(), "Watching service requests from now on") ||
		!strings.Contains(w.errOut.String(), "--resume 1 --permit "+residentPermit().GetId()) ||
		strings.Contains(w.errOut.String(), "reconnecting") {
		t.Errorf("stderr:\n%s", w.errOut.String())
	}

	node.fail("/epermit.v1.ScenarioService/WatchServiceRequests", status.Error(codes.PermissionDenied, "clerks of 330604 only"))
	r = runCLI(t, nil, "--server", addr, "request", "watch")
	if r.code != exitFailure || !strings.Contains(r.err.Error(), "whoami") || !strings.Contains(r.stderr, "Stopped before any change arrived.") ||
		strings.Contains(r.stderr, "reconnecting") {
		t.Fatalf("watch refused: exit %d, err %v\n%s", r.code, r.err, r.stderr)
	}
	if r = runCLI(t, nil, "--server", addr, "request", "watch", "--max-backoff", "100ms"); r.code != exitUsage {
		t.Fatalf("watch --max-backoff 100ms: exit %d, err %v", r.code, r.err)
	}
}
