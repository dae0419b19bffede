package main

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// result is one measurement: calls made for a fixed time by concurrent
// callers, their latencies, and the CPU time the processes used meanwhile.
type result struct {
	Name       string
	Calls      int // calls answered without error
	Errors     int
	FirstError string
	Elapsed    time.Duration
	P50, P99   time.Duration
	ServerCPU  time.Duration // the permitd processes
	OtherCPU   time.Duration // redis-server (when started here) and the department simulator
	CallerCPU  time.Duration // this process: the callers and the gRPC client
}

// QPS is the calls answered without error per second.
func (r result) QPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Calls) / r.Elapsed.Seconds()
}

// perThousand is d in seconds per 1,000 calls answered.
func (r result) perThousand(d time.Duration) float64 {
	if r.Calls == 0 {
		return 0
	}
	return d.Seconds() * 1000 / float64(r.Calls)
}

// cpuBoundQPS is the QPS the CPU time per call of every process measured
// would allow on cores cores kept busy: an estimate that leaves out
// contention with other work on the machine, and also any waiting, such as
// for fsync, that costs no CPU.
func (r result) cpuBoundQPS(cores int) float64 {
	total := r.ServerCPU + r.OtherCPU + r.CallerCPU
	if total <= 0 {
		return 0
	}
	return float64(cores) * float64(r.Calls) / total.Seconds()
}

// cpuOf adds up the CPU time the processes have used so far; a process
// whose /proc entry cannot be read counts as none.
func cpuOf(ps []*proc) time.Duration {
	var sum time.Duration
	for _, p := range ps {
		if d, err := p.cpu(); err == nil {
			sum += d
		}
	}
	return sum
}

// measure runs call from callers goroutines until d has passed, each
// goroutine calling again as soon as its call returns (a closed loop), and
// returns what it measured. Call i gets the worker number w and a number i
// unique within the measurement. The CPU of servers and others is read
// from /proc before and after.
func measure(ctx context.Context, name string, d time.Duration, callers int, servers, others []*proc,
	call func(ctx context.Context, w, i int) error) result {
	var (
		next    atomic.Int64
		errs    atomic.Int64
		firstMu sync.Mutex
		first   string
		lats    = make([][]time.Duration, callers)
		wg      sync.WaitGroup
	)
	serverCPU, otherCPU, callerCPU := cpuOf(servers), cpuOf(others), selfCPU()
	start := time.Now()
	deadline := start.Add(d)
	for w := range callers {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				t0 := time.Now()
				if err := call(ctx, w, i); err != nil {
					if errs.Add(1) == 1 {
						firstMu.Lock()
						first = err.Error()
						firstMu.Unlock()
					}
					continue
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	r := result{Name: name, Elapsed: time.Since(start), Errors: int(errs.Load()), FirstError: first,
		ServerCPU: cpuOf(servers) - serverCPU, OtherCPU: cpuOf(others) - otherCPU, CallerCPU: selfCPU() - callerCPU}
	all := slices.Concat(lats...)
	slices.Sort(all)
	r.Calls = len(all)
	if r.Calls > 0 {
		r.P50, r.P99 = all[r.Calls/2], all[r.Calls*99/100]
	}
	return r
}
