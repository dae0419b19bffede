package ratelimit

import (
	"context"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
)

// BenchmarkCheck measures Limiter.Check of a change that names a caller
// and a citizen (one override lookup and two buckets), from 50 goroutines
// (RunParallel with parallelism 25 on 2 cores), for 50 callers and many
// citizens: in memory with the overrides in a file, and on a real
// redis-server (appendfsync always) as replicas use it.
func BenchmarkCheck(b *testing.B) {
	f, err := OpenFileOverrides(filepath.Join(b.TempDir(), "o.json"))
	if err != nil {
		b.Fatal(err)
	}
	c := redisClient(b)
	lax := Limit{PerSecond: 1e6, Burst: 1_000_000}
	for name, cfg := range map[string]Config{
		"memory": {Buckets: NewMemoryBuckets(nil), Overrides: f},
		"redis":  {Buckets: NewRedisBuckets(c, "330604"), Overrides: NewRedisOverrides(c, "330604")},
	} {
		cfg.Caller, cfg.Citizen = lax, lax
		l := New(cfg)
		b.Run(name, func(b *testing.B) {
			var n atomic.Int64
			b.SetParallelism(25)
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					i := n.Add(1)
					if err := l.Check(ctx, "clerk"+strconv.FormatInt(i%50, 10), "3401041990030"+strconv.FormatInt(70000+i%20000, 10)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
