// Package sim is the department simulator behind server/devdepartment: a
// DepartmentService that answers with configurable latency, failures,
// outages and decisions, and remembers every request id it answered, so
// that demos and tests can prove exactly-once delivery.
//
// # Behaviour
//
// A department call (SubmitRequest, GetRequestStatus) is refused with
// UNAVAILABLE while the [Schedule] says the simulator is down; a
// SubmitRequest is also refused, before anything else, with probability
// Config.FailureRate. Then the call waits Config.Latency (± Config.Jitter)
// and is answered. Refused calls are counted and change nothing else.
//
// SubmitRequest decides once per request id, by Config.Mode, and answers a
// retried call with the same decision; every answered call is counted under
// its request id. An ACCEPTED request turns COMPLETED after
// Config.ReportAfter, and is then reported to Config.Reporter (the node's
// StatusReportService) when one is set, with retries while the node is
// unreachable.
//
// SimulatorService/GetStats always answers, down or not: it is the
// simulator's window for tests, not part of the department.
package sim

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/yrd-epermit/epermit/department"
	"github.com/yrd-epermit/epermit/server/apierror"

	departmentv1 "github.com/yrd-epermit/epermit/proto/epermit/department/v1"
)

// Mode is what SubmitRequest decides.
type Mode string

// The decision modes.
const (
	// ModeAccept answers ACCEPTED; the request turns COMPLETED after
	// Config.ReportAfter, reported to the node when a reporter is set.
	ModeAccept Mode = "accept"
	// ModeReject answers REJECTED with a reason.
	ModeReject Mode = "reject"
	// ModeComplete answers COMPLETED at once.
	ModeComplete Mode = "complete"
	// ModeMixed picks one of the three above from a hash of the request id,
	// so the same id gets the same decision in every run.
	ModeMixed Mode = "mixed"
)

// ParseMode returns the Mode named s.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeAccept, ModeReject, ModeComplete, ModeMixed:
		return m, nil
	}
	return "", fmt.Errorf("decision %q: want accept, reject, complete or mixed", s)
}

// DefaultReportAfter is how long an accepted request takes to complete
// when Config.ReportAfter is zero.
const DefaultReportAfter = time.Second

const (
	// maxRequestID bounds a request id, in bytes.
	maxRequestID = 128
	// reportTimeout bounds one ReportStatus call.
	reportTimeout = 10 * time.Second
	// reportBackoffMax caps the wait between report attempts.
	reportBackoffMax = 10 * time.Second
)

// Config configures a Simulator.
type Config struct {
	// Department is the department's code, e.g. "education"; required.
	Department string
	// Mode is what SubmitRequest decides; ModeAccept when empty.
	Mode Mode
	// Latency is how long an answered call takes, give or take Jitter
	// (uniformly drawn, never below zero).
	Latency, Jitter time.Duration
	// FailureRate is the fraction (0..1) of SubmitRequest calls refused
	// with UNAVAILABLE before anything else.
	FailureRate float64
	// Seed seeds the draws of failures and jitter, for repeatable runs.
	Seed uint64
	// Down says when the simulator is down, from its start.
	Down Schedule
	// ReportAfter is how long an ACCEPTED request takes to turn COMPLETED;
	// DefaultReportAfter when zero.
	ReportAfter time.Duration
	// Reporter, when set, is the node's StatusReportService, told about
	// every request that turns COMPLETED.
	Reporter departmentv1.StatusReportServiceClient
	// Now tells the time, for the outage schedule; time.Now when nil.
	Now func() time.Time
	// Logger logs calls at debug level and report failures; slog.Default()
	// when nil.
	Logger *slog.Logger
}

// Simulator is a simulated department system. It implements
// DepartmentService and SimulatorService; Close it to stop its reports.
type Simulator struct {
	departmentv1.UnsafeDepartmentServiceServer
	departmentv1.UnsafeSimulatorServiceServer

	cfg   Config
	start time.Time
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup

	mu       sync.Mutex
	rng      *rand.Rand
	requests map[string]*departmentv1.GetRequestStatusResponse
	submits  map[string]int64
	refused  int64
	closed   bool
}

// Ensure Simulator serves both services.
var (
	_ departmentv1.DepartmentServiceServer = (*Simulator)(nil)
	_ departmentv1.SimulatorServiceServer  = (*Simulator)(nil)
)

// New returns a Simulator whose outage schedule starts now.
func New(cfg Config) (*Simulator, error) {
	if cfg.Department == "" {
		return nil, errors.New("sim: the department code is required")
	}
	if cfg.Mode == "" {
		cfg.Mode = ModeAccept
	}
	if _, err := ParseMode(string(cfg.Mode)); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	if cfg.FailureRate < 0 || cfg.FailureRate > 1 {
		return nil, fmt.Errorf("sim: failure rate %v is not within 0..1", cfg.FailureRate)
	}
	if cfg.Latency < 0 || cfg.Jitter < 0 || cfg.ReportAfter < 0 {
		return nil, errors.New("sim: latency, jitter and report delay must not be negative")
	}
	if err := cfg.Down.Validate(); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	if cfg.ReportAfter == 0 {
		cfg.ReportAfter = DefaultReportAfter
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Simulator{
		cfg: cfg, start: cfg.Now(), ctx: ctx, stop: stop,
		rng:      rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		requests: map[string]*departmentv1.GetRequestStatusResponse{},
		submits:  map[string]int64{},
	}, nil
}

// Register registers the simulator's DepartmentService and
// SimulatorService on s.
func (s *Simulator) Register(r grpc.ServiceRegistrar) {
	departmentv1.RegisterDepartmentServiceServer(r, s)
	departmentv1.RegisterSimulatorServiceServer(r, s)
}

// Close stops the pending completions and reports and waits for them.
func (s *Simulator) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
}

// SubmitRequest takes a request in, or answers a request id it has seen with
// the decision it has.
func (s *Simulator) SubmitRequest(ctx context.Context, req *departmentv1.SubmitRequestRequest) (*departmentv1.SubmitRequestResponse, error) {
	var v apierror.Violations
	checkRequestID(&v, req.GetRequestId())
	if req.GetService() == "" {
		v.Add("service", "REQUIRED", "the service code is required")
	}
	if err := s.admit(ctx, true, &v); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.submits[req.RequestId]++
	r, seen := s.requests[req.RequestId]
	if !seen {
		r = s.decide(req)
		s.requests[req.RequestId] = r
		if r.Decision == departmentv1.Decision_DECISION_ACCEPTED && !s.closed {
			s.wg.Add(1)
			go s.complete(req.RequestId)
		}
	}
	s.cfg.Logger.Debug("SubmitRequest", "request_id", req.RequestId, "service", req.Service,
		"decision", r.Decision, "retry", seen, "fields", len(req.Fields))
	return &departmentv1.SubmitRequestResponse{Decision: r.Decision, Reason: r.Reason, Reference: r.Reference}, nil
}

// GetRequestStatus answers the decision on a request id it has seen.
func (s *Simulator) GetRequestStatus(ctx context.Context, req *departmentv1.GetRequestStatusRequest) (*departmentv1.GetRequestStatusResponse, error) {
	var v apierror.Violations
	checkRequestID(&v, req.GetRequestId())
	if err := s.admit(ctx, false, &v); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[req.RequestId]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "the %s department has no request %q", s.cfg.Department, req.RequestId)
	}
	return &departmentv1.GetRequestStatusResponse{Decision: r.Decision, Reason: r.Reason, Reference: r.Reference}, nil
}

// GetStats returns what the simulator has received so far.
func (s *Simulator) GetStats(context.Context, *departmentv1.GetStatsRequest) (*departmentv1.GetStatsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	submits := make(map[string]int64, len(s.submits))
	for id, n := range s.submits {
		submits[id] = n
	}
	return &departmentv1.GetStatsResponse{Submits: submits, Distinct: int64(len(s.requests)), Refused: s.refused}, nil
}

// Down reports whether the simulator is down now.
func (s *Simulator) Down() bool { return s.cfg.Down.Down(s.cfg.Now().Sub(s.start)) }

// admit decides whether a department call is handled: it is refused when
// the simulator is down or, for a submission, fails on purpose; else the
// request's violations v are answered INVALID_ARGUMENT; else it waits the
// latency.
func (s *Simulator) admit(ctx context.Context, submission bool, v *apierror.Violations) error {
	if err := s.refuse(submission); err != nil {
		return err
	}
	if err := v.Err("invalid request"); err != nil {
		return err
	}
	return s.wait(ctx)
}

// refuse returns UNAVAILABLE, and counts it, when the simulator is down or,
// for a submission (mayFail), fails on purpose.
func (s *Simulator) refuse(mayFail bool) error {
	down := s.Down()
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	switch {
	case down:
		err = status.Errorf(codes.Unavailable, "the %s department is down (simulated outage)", s.cfg.Department)
	case mayFail && s.cfg.FailureRate > 0 && s.rng.Float64() < s.cfg.FailureRate:
		err = status.Errorf(codes.Unavailable, "the %s department failed (simulated failure)", s.cfg.Department)
	default:
		return nil
	}
	s.refused++
	s.cfg.Logger.Debug("refused a call", "error", err)
	return err
}

// wait takes the configured latency, or returns ctx's error as a gRPC
// status when the caller gives up first.
func (s *Simulator) wait(ctx context.Context) error {
	d := s.cfg.Latency
	if s.cfg.Jitter > 0 {
		s.mu.Lock()
		d += time.Duration(s.rng.Int64N(int64(2*s.cfg.Jitter)+1)) - s.cfg.Jitter
		s.mu.Unlock()
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

// decide makes the decision on a new request; s.mu is held.
func (s *Simulator) decide(req *departmentv1.SubmitRequestRequest) *departmentv1.GetRequestStatusResponse {
	mode := s.cfg.Mode
	if mode == ModeMixed {
		h := fnv.New32a()
		h.Write([]byte(req.RequestId))
		mode = []Mode{ModeAccept, ModeReject, ModeComplete}[h.Sum32()%3]
	}
	r := &departmentv1.GetRequestStatusResponse{Reference: fmt.Sprintf("%s-%06d", s.cfg.Department, len(s.requests)+1)}
	switch mode {
	case ModeReject:
		r.Decision = departmentv1.Decision_DECISION_REJECTED
		r.Reason = fmt.Sprintf("the %s department does not grant %s (simulated rejection)", s.cfg.Department, req.Service)
	case ModeComplete:
		r.Decision = departmentv1.Decision_DECISION_COMPLETED
	default:
		r.Decision = departmentv1.Decision_DECISION_ACCEPTED
	}
	return r
}

// complete turns an accepted request COMPLETED after ReportAfter and
// reports it.
func (s *Simulator) complete(id string) {
	defer s.wg.Done()
	if !sleep(s.ctx, s.cfg.ReportAfter) {
		return
	}
	s.mu.Lock()
	r := s.requests[id]
	r.Decision = departmentv1.Decision_DECISION_COMPLETED
	report := &departmentv1.ReportStatusRequest{RequestId: id, Decision: r.Decision, Reference: r.Reference}
	s.mu.Unlock()
	if s.cfg.Reporter != nil {
		s.report(report)
	}
}

// report sends req to the node, retrying with backoff while the error is
// one worth retrying and the simulator runs.
func (s *Simulator) report(req *departmentv1.ReportStatusRequest) {
	backoff := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(s.ctx, reportTimeout)
		_, err := s.cfg.Reporter.ReportStatus(ctx, req)
		cancel()
		switch {
		case err == nil:
			s.cfg.Logger.Debug("reported", "request_id", req.RequestId, "decision", req.Decision, "attempt", attempt)
			return
		case s.ctx.Err() != nil:
			return
		case !department.Retryable(err):
			s.cfg.Logger.Error("the node refused the report; giving up", "request_id", req.RequestId, "error", err)
			return
		}
		s.cfg.Logger.Warn("report failed; retrying", "request_id", req.RequestId, "attempt", attempt, "in", backoff, "error", err)
		if !sleep(s.ctx, backoff) {
			return
		}
		backoff = min(2*backoff, reportBackoffMax)
	}
}

// sleep waits d and reports whether ctx was still running then.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// checkRequestID adds a violation when id is missing or too long.
func checkRequestID(v *apierror.Violations, id string) {
	switch {
	case id == "":
		v.Add("request_id", "REQUIRED", "the request id is required")
	case len(id) > maxRequestID:
		v.Add("request_id", "TOO_LONG", fmt.Sprintf("the request id is longer than %d bytes", maxRequestID))
	}
}
