package ratelimit

import (
	"context"
	"sync"
	"time"
)

// sweepEvery is how often MemoryBuckets drops the keys whose bucket is full
// again, so that memory follows the keys active in the last minutes rather
// than every citizen ever named.
const sweepEvery = time.Minute

// MemoryBuckets keeps GCRA state in this process: for a single node (the
// bbolt store). It is safe for concurrent use.
//
// GCRA keeps one time per key, the theoretical arrival time (TAT): a
// change at now is allowed when now >= TAT - burst*interval, and then moves
// TAT to max(TAT, now) + interval. A key whose TAT has passed has a full
// bucket and needs no state, which is what the sweep drops. The arithmetic
// is the one RedisBuckets runs on the server (redis_rate's script), so the
// two backends admit the same calls.
type MemoryBuckets struct {
	now func() time.Time

	mu        sync.Mutex
	tat       map[string]time.Time
	lastSweep time.Time
}

// NewMemoryBuckets returns empty buckets on the wall clock, or on now when
// it is not nil (for tests).
func NewMemoryBuckets(now func() time.Time) *MemoryBuckets {
	if now == nil {
		now = time.Now
	}
	return &MemoryBuckets{now: now, tat: map[string]time.Time{}}
}

// Allow implements Buckets.
func (b *MemoryBuckets) Allow(_ context.Context, key string, l Limit) (time.Duration, error) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweep(now)
	tat := b.tat[key]
	if tat.Before(now) {
		tat = now
	}
	interval := l.interval()
	next := tat.Add(interval)
	if allowAt := next.Add(-time.Duration(l.Burst) * interval); now.Before(allowAt) {
		return allowAt.Sub(now), nil
	}
	b.tat[key] = next
	return 0, nil
}

// Reset implements Buckets.
func (b *MemoryBuckets) Reset(_ context.Context, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.tat, key)
	return nil
}

// sweep drops the full buckets, at most once every sweepEvery.
func (b *MemoryBuckets) sweep(now time.Time) {
	if now.Sub(b.lastSweep) < sweepEvery {
		return
	}
	b.lastSweep = now
	for k, tat := range b.tat {
		if !tat.After(now) {
			delete(b.tat, k)
		}
	}
}
