package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/yrd-epermit/epermit/citizenid"

	departmentv1 "github.com/yrd-epermit/epermit/proto/epermit/department/v1"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// city is a permitd routing to simulated departments, each a real
// devdepartment process on loopback.
type city struct {
	t     *testing.T
	node  *node
	data  string
	cfg   string
	sims  map[string]*node
	ids   *citizenid.Generator
	clerk epermitv1.ScenarioServiceClient
}

// startCity starts one simulator per department with its extra flags, and
// a permitd routing to them with a fast outbox.
func startCity(t *testing.T, depts map[string][]string) *city {
	t.Helper()
	c := &city{t: t, data: t.TempDir(), sims: map[string]*node{}, ids: citizenid.NewGenerator(61)}
	var cfg strings.Builder
	cfg.WriteString(testConfig + "outbox: {backoff: 100ms, max_backoff: 500ms, max_attempts: 100, breaker_cool_down: 1s}\ndepartments:\n")
	for _, code := range slices.Sorted(maps.Keys(depts)) {
		args := append([]string{"-listen", "127.0.0.1:0", "-department", code, "-log-level", "warn"}, depts[code]...)
		c.sims[code] = startBinary(t, devdepartmentBin, t.TempDir(), args...)
		fmt.Fprintf(&cfg, "  %s: {endpoint: %q}\n", code, c.sims[code].addr)
	}
	c.cfg = filepath.Join(c.data, "permitd.yaml")
	if err := os.WriteFile(c.cfg, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	c.start()
	return c
}

// start starts (or restarts) the city's permitd.
func (c *city) start() {
	c.node = startNode(c.t, c.data, "--listen", "127.0.0.1:0", "--data", c.data, "--log-level", "warn", "--config", c.cfg)
	c.node.data = c.data
	c.clerk = epermitv1.NewScenarioServiceClient(c.node.conn(c.node.staff().clerk))
}

// permit issues a permit whose residence began two years ago.
func (c *city) permit() *epermitv1.Permit {
	c.t.Helper()
	req := issueRequest(fmt.Sprintf("sc-%d", time.Now().UnixNano()), c.ids.NextWith(citizenid.Female, time.Date(1988, 5, 20, 0, 0, 0, 0, time.UTC)))
	req.ResidenceStartDate = time.Now().AddDate(-2, 0, 0).Format("2006-01-02")
	client, _ := c.node.client()
	resp, err := client.IssuePermit(ctx(c.t), req)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.Permit
}

// child is a child of the given age.
func (c *city) child(years int) *epermitv1.Child {
	return &epermitv1.Child{Name: "测试童", CitizenId: c.ids.NextWith(citizenid.Male, time.Now().AddDate(-years, -2, 0))}
}

func (c *city) submit(p *epermitv1.Permit, service string, child *epermitv1.Child, fields map[string]string) (*epermitv1.ServiceRequest, error) {
	resp, err := c.clerk.SubmitServiceRequest(ctx(c.t), &epermitv1.SubmitServiceRequestRequest{
		RequestId: fmt.Sprintf("sr-%d", time.Now().UnixNano()), Service: service, Child: child, Fields: fields,
		Permit: &epermitv1.ServicePermit{Subject: &epermitv1.ServicePermit_PermitId{PermitId: p.Id}}})
	return resp.GetRequest(), err
}

// settled waits until every request is COMPLETED, for up to limit.
func (c *city) settled(ids []string, limit time.Duration) []*epermitv1.ServiceRequest {
	c.t.Helper()
	for deadline := time.Now().Add(limit); ; time.Sleep(100 * time.Millisecond) {
		var out []*epermitv1.ServiceRequest
		for _, id := range ids {
			resp, err := c.clerk.GetServiceRequest(ctx(c.t), &epermitv1.GetServiceRequestRequest{Id: id})
			if err != nil {
				c.t.Fatal(err)
			}
			if resp.Request.State == epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_COMPLETED {
				out = append(out, resp.Request)
			}
		}
		if len(out) == len(ids) {
			return out
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%d of %d requests completed after %v\n%s", len(out), len(ids), limit, c.node.out)
		}
	}
}

// stats are what a simulator received.
func (c *city) stats(dept string) *departmentv1.GetStatsResponse {
	c.t.Helper()
	conn, err := grpc.NewClient(c.sims[dept].addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		c.t.Fatal(err)
	}
	defer conn.Close()
	s, err := departmentv1.NewSimulatorServiceClient(conn).GetStats(ctx(c.t), &departmentv1.GetStatsRequest{})
	if err != nil {
		c.t.Fatal(err)
	}
	return s
}

// TestSixScenarios: one request in each of the six scenarios reaches its
// department once and completes; the watch stream shows every change of
// every request, also across a reconnect; a request the rule refuses is
// FAILED_PRECONDITION naming the condition.
func TestSixScenarios(t *testing.T) {
	complete := []string{"-decision", "complete"}
	c := startCity(t, map[string][]string{"health": complete, "education": complete, "hrss": complete,
		"provident_fund": complete, "medical_insurance": complete, "market_regulation": complete})
	p := c.permit()

	wctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	watch, err := c.clerk.WatchServiceRequests(wctx, &epermitv1.WatchServiceRequestsRequest{PermitId: p.Id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Header(); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		scenario, service, dept string
		child                   *epermitv1.Child
		fields                  map[string]string
	}{
		{"childcare", "child_health_records", "health", c.child(2), nil},
		{"schooling", "school_enrolment", "education", c.child(7), map[string]string{"school": "上虞区测试小学"}},
		{"employment", "employment_registration", "hrss", nil, map[string]string{"employer": "测试科技有限公司"}},
		{"housing", "housing_provident_fund", "provident_fund", nil, map[string]string{"purpose": "deposit", "employer": "测试科技有限公司"}},
		{"medical", "medical_insurance_enrolment", "medical_insurance", nil, nil},
		{"entrepreneurship", "business_registration", "market_regulation", nil, map[string]string{"business_name": "测试小吃店", "business_type": "individual"}},
	}
	var ids []string
	for _, tc := range cases {
		r, err := c.submit(p, tc.service, tc.child, tc.fields)
		if err != nil {
			t.Fatalf("%s: %v", tc.service, err)
		}
		if r.Scenario != tc.scenario || r.Department != tc.dept {
			t.Fatalf("%s routed to %s/%s", tc.service, r.Scenario, r.Department)
		}
		ids = append(ids, r.Id)
	}
	done := c.settled(ids, 30*time.Second)
	for i, tc := range cases {
		if s := c.stats(tc.dept); s.Submits[ids[i]] != 1 || s.Distinct != 1 {
			t.Errorf("%s received %v", tc.dept, s)
		}
	}

	// Half the changes from the first stream, the rest after resuming.
	seen := map[string][]epermitv1.ServiceRequestState{}
	var token string
	for range len(ids) {
		ev, err := watch.Recv()
		if err != nil {
			t.Fatal(err)
		}
		seen[ev.Request.Id] = append(seen[ev.Request.Id], ev.Change.State)
		token = ev.ResumeToken
	}
	cancel()
	rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
	defer rcancel()
	resumed, err := c.clerk.WatchServiceRequests(rctx, &epermitv1.WatchServiceRequestsRequest{PermitId: p.Id, ResumeToken: token})
	if err != nil {
		t.Fatal(err)
	}
	for range len(ids) {
		ev, err := resumed.Recv()
		if err != nil {
			t.Fatal(err)
		}
		seen[ev.Request.Id] = append(seen[ev.Request.Id], ev.Change.State)
	}
	for _, r := range done {
		var want []epermitv1.ServiceRequestState
		for _, h := range r.History {
			want = append(want, h.State)
		}
		if !slices.Equal(seen[r.Id], want) {
			t.Errorf("watched %v for %s, its history is %v", seen[r.Id], r.Id, want)
		}
	}

	_, err = c.submit(p, "school_enrolment", c.child(3), map[string]string{"school": "上虞区测试小学"})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("a three-year-old's school enrolment: %v", err)
	}
	for _, d := range status.Convert(err).Details() {
		if pf, ok := d.(*errdetails.PreconditionFailure); !ok || len(pf.Violations) != 1 || pf.Violations[0].Type != "CONDITION_NOT_MET" {
			t.Fatalf("refusal details %v", d)
		}
	}
}

// TestDepartmentOutage: requests submitted while their department is down
// wait in the outbox and each reaches it exactly once when it is back.
func TestDepartmentOutage(t *testing.T) {
	c := startCity(t, map[string][]string{"hrss": {"-decision", "complete", "-down", "0s:4s"}})
	p := c.permit()
	var ids []string
	for range 10 {
		r, err := c.submit(p, "unemployment_registration", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.Id)
	}
	c.settled(ids, 30*time.Second)
	s := c.stats("hrss")
	if s.Distinct != int64(len(ids)) || s.Refused == 0 {
		t.Fatalf("the department received %v", s)
	}
	for _, id := range ids {
		if s.Submits[id] != 1 {
			t.Errorf("request %s reached the department %d times", id, s.Submits[id])
		}
	}
}

// TestKillDuringDelivery: permitd killed with SIGKILL while delivering
// loses no request and the department sees each request id once as a
// request (a call whose answer was lost is repeated with the same id).
func TestKillDuringDelivery(t *testing.T) {
	c := startCity(t, map[string][]string{"hrss": {"-decision", "complete", "-latency", "150ms"}})
	p := c.permit()
	var ids []string
	for range 30 {
		r, err := c.submit(p, "unemployment_registration", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.Id)
	}
	for deadline := time.Now().Add(20 * time.Second); c.stats("hrss").Distinct < 5; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no delivery started")
		}
	}
	c.node.kill()
	c.start()
	c.settled(ids, 60*time.Second)
	s := c.stats("hrss")
	if s.Distinct != int64(len(ids)) {
		t.Fatalf("the department received %d distinct requests, want %d", s.Distinct, len(ids))
	}
	repeated := 0
	for _, id := range ids {
		if s.Submits[id] > 1 {
			repeated++
		}
	}
	list, err := c.clerk.ListServiceRequests(ctx(t), &epermitv1.ListServiceRequestsRequest{PermitId: p.Id, PageSize: 100})
	if err != nil || len(list.Requests) != len(ids) {
		t.Fatalf("the node lists %d requests (%v), want %d", len(list.GetRequests()), err, len(ids))
	}
	t.Logf("%d of %d calls repeated after the kill (same request id)", repeated, len(ids))
}
