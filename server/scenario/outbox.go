package scenario

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/yrd-epermit/epermit/department"
	"github.com/yrd-epermit/epermit/store"

	departmentv1 "github.com/yrd-epermit/epermit/proto/epermit/department/v1"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// OutboxConfig tunes delivery.
type OutboxConfig struct {
	// Departments are the adapters, by department code.
	Departments map[string]department.Adapter
	// Timeouts bound one call per department; DefaultTimeout for those
	// not named.
	Timeouts       map[string]time.Duration
	DefaultTimeout time.Duration
	// Lease is how long a claimed request is held for this node's
	// delivery before others may take it: longer than any call's
	// timeout. Zero means the longest timeout plus LeaseMargin.
	Lease time.Duration
	// MaxAttempts is how many deliveries are tried before FAILED.
	MaxAttempts int
	// Backoff is the wait after the first failed attempt; it doubles per
	// attempt up to MaxBackoff, with full jitter.
	Backoff, MaxBackoff time.Duration
	// Workers bounds the deliveries in flight.
	Workers int
	// Poll is how often a waiting worker looks for due requests when
	// nothing woke it.
	Poll time.Duration
}

// LeaseMargin is what the default lease adds to the longest timeout: time
// to read the request before the call and to record its outcome after,
// and for the clocks of replicas to differ.
const LeaseMargin = 10 * time.Second

// DefaultOutboxConfig is a config for production: 8 attempts over about
// half an hour, 16 deliveries in flight.
func DefaultOutboxConfig() OutboxConfig {
	return OutboxConfig{DefaultTimeout: 5 * time.Second, MaxAttempts: 8, Backoff: 2 * time.Second,
		MaxBackoff: 10 * time.Minute, Workers: 16, Poll: time.Second}
}

// lease is Lease, or the longest timeout plus LeaseMargin when it is zero.
func (c OutboxConfig) lease() time.Duration {
	if c.Lease > 0 {
		return c.Lease
	}
	longest := c.DefaultTimeout
	for _, t := range c.Timeouts {
		longest = max(longest, t)
	}
	return longest + LeaseMargin
}

// RunOutbox delivers due requests until ctx ends, then waits for the
// deliveries in flight. It runs cfg.Workers workers. Each claims one due
// request at a time (Store.ClaimDeliveries) for the lease, so that no
// other replica on the same store delivers it meanwhile, delivers it and
// claims the next; the outcome it records ends the claim, and the
// requests of a replica that died are taken over when their lease runs
// out. A worker that finds nothing due waits until a request becomes due
// here (SubmitServiceRequest wakes one waiting worker) or until cfg.Poll
// has passed. Every delivery is a call to the department with the
// request's id as idempotency key, so a delivery repeated after a crash
// is the same request to the department.
func (s *Service) RunOutbox(ctx context.Context, cfg OutboxConfig) {
	o := &outbox{svc: s, cfg: cfg, lease: cfg.lease(), inFlight: map[string]bool{}}
	var wg sync.WaitGroup
	for range max(cfg.Workers, 1) {
		wg.Go(func() { o.work(ctx) })
	}
	wg.Wait()
}

// outbox is the state its workers share.
type outbox struct {
	svc   *Service
	cfg   OutboxConfig
	lease time.Duration

	mu       sync.Mutex
	inFlight map[string]bool // ids being delivered here
}

// work claims and delivers due requests one at a time until ctx ends.
func (o *outbox) work(ctx context.Context) {
	s := o.svc
	poll := time.NewTimer(o.cfg.Poll)
	defer poll.Stop()
	for ctx.Err() == nil {
		due, err := s.cfg.Store.ClaimDeliveries(ctx, s.cfg.Clock(), o.lease, 1)
		if err != nil && ctx.Err() == nil {
			s.cfg.Logger.Error("outbox: claim due deliveries", "err", err)
		}
		if len(due) == 0 {
			poll.Reset(o.cfg.Poll)
			select {
			case <-ctx.Done():
			case <-s.kick:
			case <-poll.C:
			}
			continue
		}
		s.wake() // more may be due: another waiting worker looks too
		o.deliver(ctx, due[0])
	}
}

// deliver delivers the claimed request r unless it is still being
// delivered here past its lease (that delivery records the outcome) or
// was written since the claim (a cancellation, an outcome), which ended
// the claim.
func (o *outbox) deliver(ctx context.Context, r *epermitv1.ServiceRequest) {
	o.mu.Lock()
	busy := o.inFlight[r.Id]
	o.inFlight[r.Id] = true
	o.mu.Unlock()
	if busy {
		return
	}
	defer func() {
		o.mu.Lock()
		delete(o.inFlight, r.Id)
		o.mu.Unlock()
	}()
	cur, err := o.svc.cfg.Store.GetServiceRequest(ctx, r.Id)
	if err != nil || cur.Version != r.Version || cur.NextAttemptTime == nil {
		return
	}
	o.svc.deliver(ctx, o.cfg, cur)
}

// deliver makes one delivery attempt of r and records its outcome.
func (s *Service) deliver(ctx context.Context, cfg OutboxConfig, r *epermitv1.ServiceRequest) {
	adapter, ok := cfg.Departments[r.Department]
	if !ok {
		s.record(ctx, r, func(next *epermitv1.ServiceRequest, now time.Time) bool {
			next.NextAttemptTime = nil
			transition(next, epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_FAILED,
				"no department system is configured for "+r.Department, "outbox", now)
			return true
		})
		return
	}
	timeout := cfg.Timeouts[r.Department]
	if timeout <= 0 {
		timeout = cfg.DefaultTimeout
	}
	callCtx, cancel := context.WithTimeout(ctx, timeout)
	resp, err := adapter.Submit(callCtx, &departmentv1.SubmitRequestRequest{
		RequestId: r.Id, NodeDivision: s.cfg.Division, Service: r.Service,
		Purpose: "service request " + r.Id + " for " + r.Service, Fields: r.DepartmentFields,
	})
	cancel()
	if ctx.Err() != nil {
		return // shutting down: the request stays due and is delivered after the restart
	}
	s.record(ctx, r, func(next *epermitv1.ServiceRequest, now time.Time) bool {
		next.Attempts++
		switch {
		case err == nil:
			next.NextAttemptTime = nil
			next.DepartmentReference = resp.GetReference()
			to, reason := stateOfDecision(resp.GetDecision()), resp.GetReason()
			if to == epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_ROUTED {
				reason = "delivered; the department has not decided yet"
			}
			transition(next, to, reason, "department", now)
			return true
		case department.Retryable(err) && int(next.Attempts) < cfg.MaxAttempts:
			next.NextAttemptTime = timestamppb.New(now.Add(backoff(cfg, int(next.Attempts))))
			next.Reason = fmt.Sprintf("attempt %d failed: %v", next.Attempts, status.Convert(err).Message())
			return false
		default:
			next.NextAttemptTime = nil
			why := status.Convert(err).Message()
			if department.Retryable(err) {
				why = fmt.Sprintf("no delivery after %d attempts; last: %s", next.Attempts, why)
			}
			transition(next, epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_FAILED, why, "outbox", now)
			return true
		}
	})
}

// stateOfDecision maps a department's decision to a request state.
func stateOfDecision(d departmentv1.Decision) epermitv1.ServiceRequestState {
	switch d {
	case departmentv1.Decision_DECISION_ACCEPTED:
		return epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_ACCEPTED
	case departmentv1.Decision_DECISION_REJECTED:
		return epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_REJECTED
	case departmentv1.Decision_DECISION_COMPLETED:
		return epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_COMPLETED
	}
	return epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_ROUTED
}

// backoff is the wait before attempt n+1: Backoff doubled per attempt, at
// most MaxBackoff, drawn at random below that (full jitter), so that
// requests refused together do not come back together.
func backoff(cfg OutboxConfig, n int) time.Duration {
	d := cfg.Backoff
	for i := 1; i < n && d < cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, cfg.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// record writes the outcome of a delivery: change edits a copy of the
// stored request and says whether its state changed (an event). A request
// changed meanwhile (cancelled, reported) is read again and changed only
// if it is still the one delivered.
func (s *Service) record(ctx context.Context, delivered *epermitv1.ServiceRequest, change func(*epermitv1.ServiceRequest, time.Time) bool) {
	cur := delivered
	for attempt := 0; attempt < 3; attempt++ {
		if cur.State != delivered.State || cur.NextAttemptTime == nil {
			return // cancelled or decided meanwhile
		}
		now := s.cfg.Clock()
		next := proto.Clone(cur).(*epermitv1.ServiceRequest)
		event := change(next, now)
		next.Version = cur.Version + 1
		next.UpdateTime = timestamppb.New(now)
		err := s.cfg.Store.WriteServiceRequest(ctx, store.ServiceRequestWrite{
			PrevVersion: cur.Version, Request: next, Event: event, Audit: s.outboxEntry(next),
		})
		if errors.Is(err, store.ErrConflict) {
			if cur, err = s.cfg.Store.GetServiceRequest(ctx, delivered.Id); err != nil {
				break
			}
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.Logger.Error("outbox: record delivery", "request", delivered.Id, "err", err)
			}
			return
		}
		if event {
			s.events.notify()
		}
		return
	}
}

// outboxEntry is the audit entry of a delivery attempt: the request's
// fields were sent to the department named, for the request's purpose
// (also when the answer was lost: they may have arrived).
func (s *Service) outboxEntry(r *epermitv1.ServiceRequest) *epermitv1.AuditEntry {
	return &epermitv1.AuditEntry{
		Time: r.UpdateTime, Actor: "outbox", Division: s.cfg.Division, Method: "permitd/deliver",
		Target: r.Id, Outcome: "OK", Purpose: "service request for " + r.Service + " to " + r.Department,
		Note: fmt.Sprintf("attempt %d, now %s; fields sent: %s", r.Attempts, stateWord(r.State), fieldNames(r.DepartmentFields)),
	}
}

// fieldNames lists the names of the fields sent, sorted.
func fieldNames(fields map[string]string) string {
	return strings.Join(slices.Sorted(maps.Keys(fields)), ", ")
}
