package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/store/redis/redistest"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// TestOutboxOnReplicas: three permitd processes of one division on one
// redis-server deliver to one simulated department that takes 200 ms a
// call, each replica with four workers and a 4 s lease. With all three
// alive, every request reaches the department exactly once: each due
// request is claimed by one replica. Then one replica is killed with
// SIGKILL while deliveries are in flight: the other two deliver
// everything, the department sees every request, and a request reaches
// it twice only as the idempotent repeat of a call the killed replica
// had made (the same request id), so at most as often as that replica
// had workers.
func TestOutboxOnReplicas(t *testing.T) {
	const workers = 4
	sim := startBinary(t, devdepartmentBin, t.TempDir(), "-listen", "127.0.0.1:0", "-department", "hrss",
		"-decision", "complete", "-latency", "200ms", "-log-level", "warn")
	cfg := testConfig + fmt.Sprintf("outbox: {workers: %d, timeout: 2s, lease: 4s, backoff: 100ms, max_backoff: 500ms, max_attempts: 100, breaker_cool_down: 1s}\n", workers) +
		fmt.Sprintf("departments:\n  hrss: {endpoint: %q}\n", sim.addr)
	replicas := startReplicas(t, redistest.Start(t), cfg, 3)
	dept := &city{t: t, sims: map[string]*node{"hrss": sim}}
	clerk := replicas[0].staff().clerk
	scenarios := make([]epermitv1.ScenarioServiceClient, len(replicas))
	for i, r := range replicas {
		scenarios[i] = epermitv1.NewScenarioServiceClient(r.conn(clerk))
	}

	req := issueRequest("outbox-replicas-permit", citizenid.NewGenerator(81).Next())
	req.ResidenceStartDate = time.Now().AddDate(-2, 0, 0).Format("2006-01-02")
	issued, err := epermitv1.NewPermitServiceClient(replicas[0].conn(clerk)).IssuePermit(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	// submit submits n requests, spread over the replicas given, at once.
	submit := func(phase string, n int, through ...int) []string {
		ids := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				resp, err := scenarios[through[i%len(through)]].SubmitServiceRequest(ctx(t), &epermitv1.SubmitServiceRequestRequest{
					RequestId: fmt.Sprintf("%s-%d", phase, i), Service: "unemployment_registration",
					Permit: &epermitv1.ServicePermit{Subject: &epermitv1.ServicePermit_PermitId{PermitId: issued.Permit.Id}}})
				if err != nil {
					t.Errorf("submit %s-%d: %v", phase, i, err)
					return
				}
				ids[i] = resp.Request.Id
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		return ids
	}
	// completed waits until every request is COMPLETED, read through the
	// replica given.
	completed := func(ids []string, through epermitv1.ScenarioServiceClient) {
		for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			done := 0
			for _, id := range ids {
				resp, err := through.GetServiceRequest(ctx(t), &epermitv1.GetServiceRequestRequest{Id: id})
				if err != nil {
					t.Fatal(err)
				}
				if resp.Request.State == epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_COMPLETED {
					done++
				}
			}
			if done == len(ids) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d requests completed after 90s", done, len(ids))
			}
		}
	}

	// All three alive: exactly one call per request.
	first := submit("alive", 30, 0, 1, 2)
	completed(first, scenarios[0])
	s := dept.stats("hrss")
	for _, id := range first {
		if s.Submits[id] != 1 {
			t.Errorf("with three replicas alive, request %s reached the department %d times, want once", id, s.Submits[id])
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// One replica killed while delivering.
	second := submit("kill", 60, 0, 1, 2)
	for deadline := time.Now().Add(30 * time.Second); dept.stats("hrss").Distinct < int64(len(first))+workers*3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no deliveries started")
		}
	}
	replicas[1].kill()
	killed := time.Now()
	if n := dept.stats("hrss").Distinct; n >= int64(len(first)+len(second)) {
		t.Fatalf("every request had reached the department before the kill (%d)", n)
	}
	completed(second, scenarios[2])
	t.Logf("the survivors completed every request %v after the kill (lease 4s)", time.Since(killed).Round(100*time.Millisecond))
	s = dept.stats("hrss")
	if want := int64(len(first) + len(second)); s.Distinct != want {
		t.Fatalf("the department received %d distinct requests, want %d", s.Distinct, want)
	}
	repeated := 0
	for _, id := range second {
		switch n := s.Submits[id]; {
		case n == 2:
			repeated++
		case n != 1:
			t.Errorf("request %s reached the department %d times, want once, or twice with the killed replica's call", id, n)
		}
	}
	if repeated > workers {
		t.Errorf("%d requests reached the department twice, but the killed replica had only %d in flight", repeated, workers)
	}
	for _, id := range first {
		if s.Submits[id] != 1 {
			t.Errorf("request %s of the first phase reached the department %d times", id, s.Submits[id])
		}
	}
	t.Logf("%d of %d requests repeated after the kill (same request id)", repeated, len(second))
}
