package scenario

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/department"
	"github.com/yrd-epermit/epermit/server/devdepartment/sim"
	"github.com/yrd-epermit/epermit/store"

	departmentv1 "github.com/yrd-epermit/epermit/proto/epermit/department/v1"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// callers is the concurrency of the benchmarks.
const callers = 50

// timedAdapter times the department calls.
type timedAdapter struct {
	department.Adapter
	mu    sync.Mutex
	calls map[string]span // by request id
}

// span is when a call started and ended.
type span struct{ start, end time.Time }

func (a *timedAdapter) Submit(ctx context.Context, req *departmentv1.SubmitRequestRequest) (*departmentv1.SubmitRequestResponse, error) {
	start := time.Now()
	resp, err := a.Adapter.Submit(ctx, req)
	end := time.Now()
	a.mu.Lock()
	a.calls[req.RequestId] = span{start, end}
	a.mu.Unlock()
	return resp, err
}

// call is the span of the call for the request id.
func (a *timedAdapter) call(id string) span {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[id]
}

// submitMany stores n requests for delivery, callers at a time, and
// returns them.
func submitMany(b *testing.B, h *harness, n int) []*epermitv1.ServiceRequest {
	p := h.permit(b, 24)
	out := make([]*epermitv1.ServiceRequest, n)
	concurrently(n, func(i int) {
		var err error
		if out[i], err = submitOne(h, p); err != nil {
			b.Error(err)
		}
	})
	return out
}

// submitOne submits one request for p.
func submitOne(h *harness, p *epermitv1.Permit) (*epermitv1.ServiceRequest, error) {
	resp, err := h.svc.SubmitServiceRequest(context.Background(), &epermitv1.SubmitServiceRequestRequest{
		RequestId: newRequestID(), Service: "unemployment_registration",
		Permit: &epermitv1.ServicePermit{Subject: &epermitv1.ServicePermit_PermitId{PermitId: p.Id}}})
	return resp.GetRequest(), err
}

// concurrently calls fn(i) for i in [0, n), callers at a time.
func concurrently(n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// BenchmarkSubmit is SubmitServiceRequest (permit check, rule, durable
// write with its delivery task and event) at 50 concurrent callers.
func BenchmarkSubmit(b *testing.B) {
	h := newHarness(b, options{noOutbox: true})
	p := h.permit(b, 24)
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	start := time.Now()
	concurrently(b.N, func(i int) {
		t0 := time.Now()
		if _, err := submitOne(h, p); err != nil {
			b.Error(err)
		}
		lat[i] = time.Since(t0)
	})
	report(b, lat, time.Since(start))
}

// buildSimulator builds the department simulator binary.
func buildSimulator(b *testing.B) string {
	bin := filepath.Join(b.TempDir(), "devdepartment")
	if out, err := exec.Command("go", "build", "-o", bin, "../devdepartment").CombinedOutput(); err != nil {
		b.Fatalf("build the simulator: %v\n%s", err, out)
	}
	return bin
}

// startSimulator starts the simulator binary for the department code,
// answering after latency ± jitter with COMPLETED, and returns an adapter
// to it.
func startSimulator(b *testing.B, bin, code string, latency, jitter time.Duration) department.Adapter {
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-department", code, "-latency", latency.String(),
		"-jitter", jitter.String(), "-decision", "complete", "-log-level", "warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var addr string
	for lines := bufio.NewScanner(stdout); addr == "" && lines.Scan(); {
		_, rest, _ := strings.Cut(lines.Text(), "serving gRPC on ")
		addr, _, _ = strings.Cut(rest, " ")
	}
	go io.Copy(io.Discard, stdout)
	if addr == "" {
		b.Fatal("the simulator printed no address")
	}
	a, err := department.Dial(addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	return a
}

// BenchmarkOutboxDrain is how fast the outbox empties to a fast simulated
// department: b.N due requests, delivered and recorded.
func BenchmarkOutboxDrain(b *testing.B) {
	h := newHarness(b, options{noOutbox: true, sims: map[string]sim.Config{"hrss": {Mode: sim.ModeComplete}}})
	submitMany(b, h, b.N)
	submitted, err := h.store.ServiceRequestEventHead(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	cfg := OutboxConfig{Departments: h.adapters, DefaultTimeout: 5 * time.Second, MaxAttempts: 3,
		Backoff: time.Second, MaxBackoff: time.Second, Workers: callers, Poll: 5 * time.Millisecond}
	b.ResetTimer()
	start := time.Now()
	go func() { defer close(done); h.svc.RunOutbox(ctx, cfg) }()
	// Each delivery records its outcome (COMPLETED) with an event.
	for {
		head, err := h.store.ServiceRequestEventHead(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if head >= submitted+uint64(b.N) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start)
	cancel()
	<-done
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "requests/s")
	b.ReportMetric(0, "ns/op")
}

// report reports throughput and the p50 and p99 of lat.
func report(b *testing.B, lat []time.Duration, elapsed time.Duration) {
	b.StopTimer()
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "calls/s")
	percentiles(b, "", lat)
	b.ReportMetric(0, "ns/op")
}

// percentiles reports the p50 and p99 of lat, their names prefixed.
func percentiles(b *testing.B, prefix string, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), prefix+"p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), prefix+"p99-µs")
}

// BenchmarkOutboxPath is what the router adds to a department call along
// the whole path a node takes, at 50 requests in flight. Each of 50
// callers submits a request and waits for its outcome's record before the
// next; the outbox has a worker for each, so none waits for a worker. The
// department is the simulator process answering after 50 ms ± 25 ms
// (about 900 requests a second); its answers vary, as a department's do,
// so that the callers do not fall into step.
//
// Of the time from SubmitServiceRequest's answer to the outcome's record,
// less the department call (the adapter's Submit, transport included), it
// reports:
//   - p50/p99: the router's, before the call (waking the outbox, the
//     claim, reading the request again: also dispatch-p50/p99) and after
//     it, until the outcome is handed to the store;
//   - store-p50/p99: the store's durable write of the outcome (the
//     request, its outbox entry, event and audit entry), which waits for
//     a commit and its fdatasyncs like every other durable write;
//   - path-p50/p99: the two together.
func BenchmarkOutboxPath(b *testing.B) {
	bin := buildSimulator(b)
	h := newHarness(b, options{noOutbox: true})
	p := h.permit(b, 24)
	const latency = 50 * time.Millisecond
	a := &timedAdapter{Adapter: startSimulator(b, bin, "hrss", latency, latency/2), calls: map[string]span{}}
	rec := &recordedStore{Store: h.store}
	cfg := h.svc.cfg
	cfg.Store = rec
	svc := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		svc.RunOutbox(ctx, OutboxConfig{Departments: map[string]department.Adapter{"hrss": a}, DefaultTimeout: 5 * time.Second,
			MaxAttempts: 3, Backoff: time.Second, MaxBackoff: time.Second, Workers: callers, Poll: 100 * time.Millisecond})
	}()
	defer func() { cancel(); <-done }()

	router, dispatch, write, path := make([]time.Duration, b.N), make([]time.Duration, b.N), make([]time.Duration, b.N), make([]time.Duration, b.N)
	b.ResetTimer()
	start := time.Now()
	concurrently(b.N, func(i int) {
		resp, err := svc.SubmitServiceRequest(context.Background(), &epermitv1.SubmitServiceRequestRequest{
			RequestId: newRequestID(), Service: "unemployment_registration",
			Permit: &epermitv1.ServicePermit{Subject: &epermitv1.ServicePermit_PermitId{PermitId: p.Id}}})
		if err != nil {
			b.Error(err)
			return
		}
		t0, id := time.Now(), resp.GetRequest().GetId()
		o := rec.signal(id)
		<-o.done
		written, call := time.Now(), a.call(id)
		if o.state != epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_COMPLETED {
			b.Errorf("request %s ended %v, want COMPLETED", id, o.state)
		}
		dispatch[i] = max(0, call.start.Sub(t0)) // 0: the call started before the answer reached the caller
		router[i] = dispatch[i] + o.handed.Sub(call.end)
		write[i] = written.Sub(o.handed)
		path[i] = router[i] + write[i]
	})
	elapsed := time.Since(start)
	percentiles(b, "dispatch-", dispatch)
	percentiles(b, "store-", write)
	percentiles(b, "path-", path)
	report(b, router, elapsed)
}

// recordedStore is a store that tells when each service request's outcome
// (the write that ends its delivery) is written.
type recordedStore struct {
	store.Store
	outcomes sync.Map // request id -> *outcomeSignal
}

// outcomeSignal tells when a request's outcome was handed to the store,
// and is closed once the store has written it.
type outcomeSignal struct {
	handed time.Time // set before done is closed, with state
	state  epermitv1.ServiceRequestState
	once   sync.Once
	done   chan struct{}
}

func (s *recordedStore) WriteServiceRequest(ctx context.Context, w store.ServiceRequestWrite) error {
	outcome := w.Request.GetAttempts() > 0 && w.Request.GetNextAttemptTime() == nil
	handed := time.Now()
	err := s.Store.WriteServiceRequest(ctx, w)
	if err == nil && outcome {
		o := s.signal(w.Request.GetId())
		o.once.Do(func() {
			o.handed, o.state = handed, w.Request.GetState()
			close(o.done)
		})
	}
	return err
}

// signal is the outcomeSignal of the request id.
func (s *recordedStore) signal(id string) *outcomeSignal {
	o, _ := s.outcomes.LoadOrStore(id, &outcomeSignal{done: make(chan struct{})})
	return o.(*outcomeSignal)
}
