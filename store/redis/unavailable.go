package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/yrd-epermit/epermit/store"
)

// unavailableHook wraps every failure to reach Redis in
// store.ErrUnavailable, so that callers can tell "retry shortly" from a
// fault of their own.
type unavailableHook struct{}

func (unavailableHook) DialHook(next goredis.DialHook) goredis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		return c, markUnavailable(err)
	}
}

func (unavailableHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		err := next(ctx, cmd)
		if wrapped := markUnavailable(err); wrapped != err {
			cmd.SetErr(wrapped)
			return wrapped
		}
		return err
	}
}

func (unavailableHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			if wrapped := markUnavailable(cmd.Err()); wrapped != cmd.Err() {
				cmd.SetErr(wrapped)
			}
		}
		return markUnavailable(err)
	}
}

// busyReplies start the error replies of a Redis that cannot serve yet:
// loading its data after a restart, a cluster without a quorum or slot
// owner, a replica without its master.
var busyReplies = []string{"LOADING ", "CLUSTERDOWN ", "TRYAGAIN ", "MASTERDOWN "}

// markUnavailable returns err wrapped in store.ErrUnavailable when it is a
// failure to reach Redis or a reply that it cannot serve yet, and err
// itself otherwise (nil, redis.Nil, script refusals, and errors already
// marked).
func markUnavailable(err error) error {
	if err == nil || errors.Is(err, goredis.Nil) || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	var netErr net.Error
	unavailable := errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, goredis.ErrPoolTimeout) || errors.Is(err, net.ErrClosed)
	for _, prefix := range busyReplies {
		unavailable = unavailable || strings.HasPrefix(err.Error(), prefix)
	}
	if !unavailable {
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}
