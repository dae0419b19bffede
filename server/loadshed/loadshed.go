// Package loadshed keeps a node answering under overload: it bounds the
// unary calls handled at once, lets a call that finds every slot taken
// wait a short while for one, and refuses it with RESOURCE_EXHAUSTED and a
// google.rpc.RetryInfo when none frees, so that callers get a fast answer
// they can act on instead of a deadline that runs out in a queue. Health
// checks are never limited: a load balancer must see the node alive while
// it sheds.
package loadshed

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// retryDelay is the least delay a refusal asks for; the hint is drawn
// between it and twice it.
const retryDelay = 500 * time.Millisecond

// exempt is the prefix of the methods never limited: gRPC health checking.
var exempt = "/" + healthpb.Health_ServiceDesc.ServiceName + "/"

// Limiter bounds the unary calls in flight. It is safe for concurrent use.
type Limiter struct {
	slots    chan struct{}
	wait     time.Duration
	inFlight atomic.Int64
	shed     atomic.Uint64
}

// New returns a limiter letting maxInFlight calls run at once (at least
// one); a call beyond waits up to wait for a slot and is then refused,
// with a retry hint between 0.5 and 1 s, drawn at random so that callers
// refused together do not come back together.
func New(maxInFlight int, wait time.Duration) *Limiter {
	return &Limiter{slots: make(chan struct{}, max(maxInFlight, 1)), wait: wait}
}

// Unary is the interceptor that applies the limit to every unary call but
// health checks. Streams are bounded per connection by the server's
// MaxConcurrentStreams instead: a watch holds its stream for long and
// would otherwise hold a slot.
func (l *Limiter) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if strings.HasPrefix(info.FullMethod, exempt) {
			return h(ctx, req)
		}
		if err := l.acquire(ctx); err != nil {
			return nil, err
		}
		defer l.release()
		return h(ctx, req)
	}
}

// acquire takes a slot, waiting up to l.wait for one.
func (l *Limiter) acquire(ctx context.Context) error {
	select {
	case l.slots <- struct{}{}:
		l.inFlight.Add(1)
		return nil
	default:
	}
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		l.inFlight.Add(1)
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	case <-t.C:
		l.shed.Add(1)
		return l.refusal()
	}
}

func (l *Limiter) release() {
	l.inFlight.Add(-1)
	<-l.slots
}

// refusal is the RESOURCE_EXHAUSTED answer, with when to retry.
func (l *Limiter) refusal() error {
	delay := retryDelay + rand.N(retryDelay+1)
	st, err := status.New(codes.ResourceExhausted, "the node is at its limit of calls in flight; retry after the delay given").
		WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(delay)})
	if err != nil {
		return status.Error(codes.ResourceExhausted, "the node is at its limit of calls in flight; retry later")
	}
	return st.Err()
}

// InFlight is the number of calls holding a slot now.
func (l *Limiter) InFlight() int { return int(l.inFlight.Load()) }

// Shed is the number of calls refused since the limiter was made.
func (l *Limiter) Shed() uint64 { return l.shed.Load() }
