package department_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/yrd-epermit/epermit/department"
	"github.com/yrd-epermit/epermit/server/devdepartment/sim"

	departmentv1 "github.com/yrd-epermit/epermit/proto/epermit/department/v1"
)

// transitions records a breaker's changes of state.
type transitions struct {
	mu   sync.Mutex
	list []string
}

func (tr *transitions) record(dept string, from, to department.State) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.list = append(tr.list, fmt.Sprintf("%s:%s->%s", dept, from, to))
}

func (tr *transitions) String() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return fmt.Sprint(tr.list)
}

// waitState waits up to 5 s for b to reach want.
func waitState(t *testing.T, b *department.Breaker, want department.State) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); b.State() != want; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("breaker %v, want %v", b.State(), want)
		}
	}
}

// TestBreakerOpensAndRecovers runs a breaker against a simulator that is
// down, then comes back: consecutive UNAVAILABLE answers open the circuit,
// calls then fail fast without reaching the department, after the cool-down
// one call tests it (failing: open again), and a success closes it.
func TestBreakerOpensAndRecovers(t *testing.T) {
	// The simulator's clock: its start plus the time skipped.
	var skipped atomic.Int64
	start := time.Now()
	now := func() time.Time { return start.Add(time.Duration(skipped.Load())) }
	addr, _ := startSim(t, sim.Config{Mode: sim.ModeComplete, Now: now,
		Down: sim.Schedule{Outages: []sim.Outage{{Start: 0, Length: time.Minute}}}})
	tr := &transitions{}
	const coolDown = 500 * time.Millisecond
	b := department.NewBreaker(dial(t, addr), department.BreakerConfig{Department: "education", Failures: 3,
		CoolDown: coolDown, OnStateChange: tr.record})
	ctx := context.Background()

	for i := range 3 {
		if b.State() != department.StateClosed {
			t.Fatalf("open after %d failures", i)
		}
		if _, err := b.Submit(ctx, request("r-1")); status.Code(err) != codes.Unavailable || errors.Is(err, department.ErrOpen) {
			t.Fatalf("call %d while the department is down: %v", i+1, err)
		}
	}
	if b.State() != department.StateOpen {
		t.Fatalf("%v after 3 failures", b.State())
	}
	began := time.Now()
	for _, call := range []func() error{
		func() error { _, err := b.Submit(ctx, request("r-1")); return err },
		func() error { _, err := b.Status(ctx, "r-1"); return err },
	} {
		err := call()
		if !errors.Is(err, department.ErrOpen) || status.Code(err) != codes.Unavailable || !department.Retryable(err) {
			t.Fatalf("call while open: %v", err)
		}
	}
	if d := time.Since(began); d > time.Second {
		t.Fatalf("failing fast took %v", d)
	}
	if st := stats(t, addr); st.Refused != 3 {
		t.Fatalf("the department saw %d calls, want 3: the open circuit let calls through", st.Refused)
	}

	// Cool-down over, the department still down: the test call fails and
	// the circuit opens again.
	waitState(t, b, department.StateHalfOpen)
	if _, err := b.Submit(ctx, request("r-1")); status.Code(err) != codes.Unavailable || errors.Is(err, department.ErrOpen) {
		t.Fatalf("test call while still down: %v", err)
	}
	if b.State() != department.StateOpen {
		t.Fatalf("%v after a failed test call", b.State())
	}
	if _, err := b.Submit(ctx, request("r-1")); !errors.Is(err, department.ErrOpen) {
		t.Fatalf("call after a failed test call: %v", err)
	}

	// The department is back: the next test call closes the circuit.
	skipped.Add(int64(time.Minute))
	waitState(t, b, department.StateHalfOpen)
	r, err := b.Submit(ctx, request("r-1"))
	if err != nil || r.Decision != departmentv1.Decision_DECISION_COMPLETED {
		t.Fatalf("test call after the outage: %v, %v", r, err)
	}
	if b.State() != department.StateClosed {
		t.Fatalf("%v after a successful test call", b.State())
	}
	if st, err := b.Status(ctx, "r-1"); err != nil || st.Decision != departmentv1.Decision_DECISION_COMPLETED {
		t.Fatalf("status through the closed circuit: %v, %v", st, err)
	}
	if st := stats(t, addr); st.Refused != 4 || st.Submits["r-1"] != 1 {
		t.Fatalf("stats %v", st)
	}
	want := "[education:closed->open education:open->half-open education:half-open->open " +
		"education:open->half-open education:half-open->closed]"
	if got := tr.String(); got != want {
		t.Fatalf("transitions %s\nwant %s", got, want)
	}
}

// TestBreakerIgnoresAnswers: business answers and refusals show the
// department works; cancelled calls tell nothing; a success resets the
// count of consecutive failures.
func TestBreakerIgnoresAnswers(t *testing.T) {
	addr, _ := startSim(t, sim.Config{Mode: sim.ModeReject, FailureRate: 0})
	b := department.NewBreaker(dial(t, addr), department.BreakerConfig{Department: "hrss", Failures: 2, CoolDown: time.Hour})
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for i := range 10 {
		if _, err := b.Submit(ctx, &departmentv1.SubmitRequestRequest{Service: "x"}); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("invalid request: %v", err)
		}
		if _, err := b.Status(ctx, fmt.Sprintf("unknown-%d", i)); status.Code(err) != codes.NotFound {
			t.Fatalf("unknown request: %v", err)
		}
		if r, err := b.Submit(ctx, request("r-1")); err != nil || r.Decision != departmentv1.Decision_DECISION_REJECTED {
			t.Fatalf("rejected request: %v, %v", r, err)
		}
		if _, err := b.Submit(cancelled, request("r-2")); status.Code(err) != codes.Canceled {
			t.Fatalf("cancelled call: %v", err)
		}
	}
	if b.State() != department.StateClosed {
		t.Fatalf("%v after answers only", b.State())
	}
}

// TestBreakerCountsTimeoutsAndConnectionErrors: DEADLINE_EXCEEDED and a
// department that does not listen are failures; a success in between
// resets the count.
func TestBreakerCountsTimeoutsAndConnectionErrors(t *testing.T) {
	addr, _ := startSim(t, sim.Config{Mode: sim.ModeComplete, Latency: 200 * time.Millisecond})
	b := department.NewBreaker(dial(t, addr), department.BreakerConfig{Department: "housing", Failures: 2, CoolDown: time.Hour})
	impatient := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := b.Submit(ctx, request("r-1"))
		return err
	}
	if err := impatient(); status.Code(err) != codes.DeadlineExceeded {
		t.Fatal(err)
	}
	if _, err := b.Submit(context.Background(), request("r-1")); err != nil {
		t.Fatal(err)
	}
	if err := impatient(); status.Code(err) != codes.DeadlineExceeded {
		t.Fatal(err)
	}
	if b.State() != department.StateClosed {
		t.Fatal("a success did not reset the count")
	}
	if err := impatient(); status.Code(err) != codes.DeadlineExceeded {
		t.Fatal(err)
	}
	if b.State() != department.StateOpen {
		t.Fatalf("%v after 2 timeouts in a row", b.State())
	}

	gone := department.NewBreaker(dial(t, closedPort(t)), department.BreakerConfig{Department: "health", Failures: 2, CoolDown: time.Hour})
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := gone.Status(ctx, "r-1")
		cancel()
		if status.Code(err) != codes.Unavailable {
			t.Fatal(err)
		}
	}
	_, err := gone.Submit(context.Background(), request("r-1"))
	if !errors.Is(err, department.ErrOpen) {
		t.Fatalf("after 2 connection errors: %v", err)
	}
	if want := "department health: circuit breaker open"; len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
		t.Fatalf("error %q does not start with %q", err, want)
	}
}

// gate is an Adapter whose calls fail with err, or block until released.
type gate struct {
	mu      sync.Mutex
	err     error
	calls   int
	entered chan struct{}
	release chan struct{}
}

func (g *gate) Submit(ctx context.Context, req *departmentv1.SubmitRequestRequest) (*departmentv1.SubmitRequestResponse, error) {
	g.mu.Lock()
	g.calls++
	err, entered, release := g.err, g.entered, g.release
	g.mu.Unlock()
	if err != nil {
		return nil, err
	}
	entered <- struct{}{}
	<-release
	return &departmentv1.SubmitRequestResponse{Decision: departmentv1.Decision_DECISION_ACCEPTED}, nil
}

func (g *gate) Status(ctx context.Context, id string) (*departmentv1.GetRequestStatusResponse, error) {
	_, err := g.Submit(ctx, nil)
	return &departmentv1.GetRequestStatusResponse{}, err
}

// TestBreakerHalfOpenLetsOneCallThrough: while the test call is in flight,
// other calls fail fast.
func TestBreakerHalfOpenLetsOneCallThrough(t *testing.T) {
	g := &gate{err: status.Error(codes.Unavailable, "down"), entered: make(chan struct{}), release: make(chan struct{})}
	b := department.NewBreaker(g, department.BreakerConfig{Department: "civil_affairs", Failures: 1, CoolDown: 20 * time.Millisecond})
	ctx := context.Background()
	if _, err := b.Submit(ctx, request("r-1")); status.Code(err) != codes.Unavailable {
		t.Fatal(err)
	}
	waitState(t, b, department.StateHalfOpen)
	g.mu.Lock()
	g.err = nil
	g.mu.Unlock()
	done := make(chan error)
	go func() { _, err := b.Submit(ctx, request("r-1")); done <- err }()
	<-g.entered
	for range 3 {
		if _, err := b.Submit(ctx, request("r-2")); !errors.Is(err, department.ErrOpen) {
			t.Fatalf("second call while half-open: %v", err)
		}
	}
	close(g.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if b.State() != department.StateClosed {
		t.Fatalf("%v after the test call succeeded", b.State())
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.calls != 2 {
		t.Fatalf("the department saw %d calls, want 2", g.calls)
	}
}

// TestBreakerDefaults: a zero config opens after DefaultFailures.
func TestBreakerDefaults(t *testing.T) {
	g := &gate{err: status.Error(codes.Unavailable, "down")}
	b := department.NewBreaker(g, department.BreakerConfig{Department: "x"})
	for range department.DefaultFailures {
		b.Submit(context.Background(), request("r-1"))
	}
	if b.State() != department.StateOpen {
		t.Fatalf("%v after %d failures", b.State(), department.DefaultFailures)
	}
	for s, want := range map[department.State]string{department.StateClosed: "closed", department.StateHalfOpen: "half-open",
		department.StateOpen: "open", department.State(9): "unknown"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q", int(s), s.String())
		}
	}
}
