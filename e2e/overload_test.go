package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/server/metrics/metricstest"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// TestOverloadShedsAndStaysHealthy: 500 callers hammer VerifyPermit by
// credential for three seconds against a permitd
// that handles 1 call at once and lets a call wait 50 ms for a slot,
// while another client checks health every 50 ms (2 s deadline). Callers retry at once
// after any answer but a refusal, and after a refusal when its RetryInfo
// says. Every health check
// answers SERVING within its deadline; every caller's error is
// RESOURCE_EXHAUSTED or UNAVAILABLE, never DEADLINE_EXCEEDED; calls
// succeed throughout; and the shed calls are counted in the metrics.
//
// Verification is CPU-bound, so the limit is below the core count: more
// calls in flight only make every goroutine wait longer for a core, the
// health check's too (docs/operations.md has the figures).
func TestOverloadShedsAndStaysHealthy(t *testing.T) {
	const (
		// healthDeadline is twice a load balancer's usual second: the node
		// here is race-built (about ten times slower) on a shared machine;
		// checks took up to 0.85 s with the machine's load at 18 on its
		// two cores, and about 0.15 s at 12.
		healthDeadline = 2 * time.Second
		callers        = 500
		conns          = 10
		duration       = 3 * time.Second
	)
	data := t.TempDir()
	cfg := filepath.Join(data, "permitd.yaml")
	if err := os.WriteFile(cfg, []byte(`limits: {mutations_per_second: 0}
overload: {max_in_flight: 1, queue_wait: 50ms}
metrics: {listen: "127.0.0.1:0"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, data, "--listen", "127.0.0.1:0", "--data", data, "--log-level", "warn", "--config", cfg)
	n.data = data
	c, _ := n.client()
	issued, err := c.IssuePermit(ctx(t), issueRequest("overload-1", citizenid.NewGenerator(7).Next()))
	if err != nil {
		t.Fatal(err)
	}
	verify := &epermitv1.VerifyPermitRequest{
		Subject: &epermitv1.VerifyPermitRequest_CredentialText{CredentialText: issued.Credential.Text}}

	var (
		mu      sync.Mutex
		byCode  = map[codes.Code]int{}
		example = map[codes.Code]error{}
		wg      sync.WaitGroup
	)
	// Every connection is made before the load starts.
	clients := make([]epermitv1.PermitServiceClient, conns)
	for i := range clients {
		clients[i] = epermitv1.NewPermitServiceClient(n.conn(n.staff().clerk))
		if _, err := clients[i].VerifyPermit(ctx(t), verify); err != nil {
			t.Fatal(err)
		}
	}
	health := healthpb.NewHealthClient(n.conn(""))
	if _, err := health.Check(ctx(t), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}

	run, stop := context.WithTimeout(context.Background(), duration)
	defer stop()
	for i := range callers {
		client := clients[i%conns]
		wg.Go(func() {
			counts := map[codes.Code]int{}
			var first = map[codes.Code]error{}
			for run.Err() == nil {
				call, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := client.VerifyPermit(call, verify)
				cancel()
				code := status.Code(err)
				counts[code]++
				if _, ok := first[code]; !ok && err != nil {
					first[code] = err
				}
				// A shed caller comes back when the hint says.
				if d := retryDelay(err); d > 0 {
					select {
					case <-run.Done():
					case <-time.After(d):
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for code, k := range counts {
				byCode[code] += k
			}
			for code, err := range first {
				example[code] = err
			}
		})
	}

	var checks int
	var slowest time.Duration
	var unhealthy []string
	for run.Err() == nil {
		call, cancel := context.WithTimeout(context.Background(), healthDeadline)
		start := time.Now()
		resp, err := health.Check(call, &healthpb.HealthCheckRequest{})
		took := time.Since(start)
		cancel()
		checks++
		slowest = max(slowest, took)
		if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			unhealthy = append(unhealthy, fmt.Sprintf("check %d after %v: %v, %v", checks, took, resp, err))
		}
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()

	t.Logf("%d callers for %v: %v; %d health checks, the slowest %v", callers, duration, byCode, checks, slowest)
	if len(unhealthy) > 0 {
		t.Errorf("%d of %d health checks failed: %v", len(unhealthy), checks, unhealthy)
	}
	for code, k := range byCode {
		switch code {
		case codes.OK, codes.ResourceExhausted, codes.Unavailable:
		default:
			t.Errorf("%d calls ended %v, e.g. %v", k, code, example[code])
		}
	}
	if byCode[codes.OK] == 0 || byCode[codes.ResourceExhausted] == 0 {
		t.Errorf("want calls both answered and shed: %v", byCode)
	}
	s := metricstest.Get(t, n.metricsURL())
	shed, _ := s.Value("epermit_calls_shed_total", nil)
	refused, _ := s.Value("grpc_server_handled_total", map[string]string{"grpc_method": "VerifyPermit", "grpc_code": "ResourceExhausted"})
	if int(shed) != byCode[codes.ResourceExhausted] || int(refused) != byCode[codes.ResourceExhausted] {
		t.Errorf("metrics: %v shed, %v VerifyPermit RESOURCE_EXHAUSTED; the callers saw %d", shed, refused, byCode[codes.ResourceExhausted])
	}
	n.stop()
}

// retryDelay is the delay the RetryInfo of err asks for, 0 without one.
func retryDelay(err error) time.Duration {
	for _, d := range status.Convert(err).Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			return r.GetRetryDelay().AsDuration()
		}
	}
	return 0
}
