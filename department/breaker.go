package department

import (
	"context"
	"errors"
	"time"

	"github.com/sony/gobreaker/v2"

	departmentv1 "github.com/yrd-epermit/epermit/proto/epermit/department/v1"
)

// Breaker defaults.
const (
	// DefaultFailures is how many consecutive failures open the circuit
	// when BreakerConfig.Failures is zero.
	DefaultFailures = 5
	// DefaultCoolDown is how long the circuit stays open when
	// BreakerConfig.CoolDown is zero.
	DefaultCoolDown = 30 * time.Second
)

// State is the state of a Breaker's circuit.
type State int

// The circuit's states.
const (
	// StateClosed lets every call through.
	StateClosed State = iota
	// StateHalfOpen lets one call through to test the department.
	StateHalfOpen
	// StateOpen fails every call at once with ErrOpen.
	StateOpen
)

// String returns "closed", "half-open" or "open".
func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateHalfOpen:
		return "half-open"
	case StateOpen:
		return "open"
	}
	return "unknown"
}

// BreakerConfig configures a Breaker.
type BreakerConfig struct {
	// Department names the department in errors and state changes.
	Department string
	// Failures is how many consecutive failures open the circuit;
	// DefaultFailures when zero.
	Failures int
	// CoolDown is how long the circuit stays open before it half-opens;
	// DefaultCoolDown when zero.
	CoolDown time.Duration
	// OnStateChange, when set, is called on every change of state, under
	// the breaker's lock: it must be quick and must not call the breaker.
	OnStateChange func(department string, from, to State)
}

// Breaker is an Adapter that stops calling a department that keeps failing.
// Failures are UNAVAILABLE (connection errors included) and
// DEADLINE_EXCEEDED; any answer, a business refusal too, is a success, and
// a call the caller cancelled counts as neither. After Failures consecutive
// failures the circuit opens: calls fail at once with an error wrapping
// [ErrOpen] (code UNAVAILABLE) for CoolDown. Then it half-opens and lets
// one call through, while others still fail fast: a success closes it, a
// failure opens it for another CoolDown. Submit and Status share the one
// circuit. It is safe for concurrent use.
type Breaker struct {
	next       Adapter
	department string
	cb         *gobreaker.CircuitBreaker[any]
}

// Ensure Breaker is an Adapter.
var _ Adapter = (*Breaker)(nil)

// NewBreaker returns next behind a circuit breaker.
func NewBreaker(next Adapter, cfg BreakerConfig) *Breaker {
	failures := uint32(DefaultFailures)
	if cfg.Failures > 0 {
		failures = uint32(cfg.Failures)
	}
	if cfg.CoolDown <= 0 {
		cfg.CoolDown = DefaultCoolDown
	}
	st := gobreaker.Settings{
		Name:         cfg.Department,
		MaxRequests:  1,
		Timeout:      cfg.CoolDown,
		ReadyToTrip:  func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		IsSuccessful: func(err error) bool { return !breakerFailure(err) },
		IsExcluded:   breakerExcluded,
	}
	if f := cfg.OnStateChange; f != nil {
		st.OnStateChange = func(name string, from, to gobreaker.State) { f(name, state(from), state(to)) }
	}
	return &Breaker{next: next, department: cfg.Department, cb: gobreaker.NewCircuitBreaker[any](st)}
}

// Submit calls the department's Submit unless the circuit is open.
func (b *Breaker) Submit(ctx context.Context, req *departmentv1.SubmitRequestRequest) (*departmentv1.SubmitRequestResponse, error) {
	r, err := b.execute(func() (any, error) { return b.next.Submit(ctx, req) })
	resp, _ := r.(*departmentv1.SubmitRequestResponse)
	return resp, err
}

// Status calls the department's Status unless the circuit is open.
func (b *Breaker) Status(ctx context.Context, requestID string) (*departmentv1.GetRequestStatusResponse, error) {
	r, err := b.execute(func() (any, error) { return b.next.Status(ctx, requestID) })
	resp, _ := r.(*departmentv1.GetRequestStatusResponse)
	return resp, err
}

// State returns the circuit's state now.
func (b *Breaker) State() State { return state(b.cb.State()) }

// execute runs call through the circuit.
func (b *Breaker) execute(call func() (any, error)) (any, error) {
	r, err := b.cb.Execute(call)
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return nil, &openError{department: b.department}
	}
	return r, err
}

// state converts gobreaker's state.
func state(s gobreaker.State) State {
	switch s {
	case gobreaker.StateHalfOpen:
		return StateHalfOpen
	case gobreaker.StateOpen:
		return StateOpen
	}
	return StateClosed
}
