package node

import (
	"path/filepath"

	"github.com/yrd-epermit/epermit/server/ratelimit"
	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/redis"
)

// RateLimitFile holds the rate limit overrides of a node on bbolt, in the
// data folder. On Redis they are kept in Redis, shared by the replicas.
const RateLimitFile = "ratelimits.json"

// newLimiter returns the node's rate limiter: on the store's Redis when the
// store is Redis, so that replicas share the budgets and the overrides;
// else in memory, with the overrides in the data folder.
func newLimiter(cfg Config, st store.Store) (*ratelimit.Limiter, error) {
	c := ratelimit.Config{
		Caller:  ratelimit.Limit{PerSecond: cfg.Limits.MutationsPerSecond, Burst: cfg.Limits.MutationBurst},
		Citizen: ratelimit.Limit{PerSecond: cfg.Limits.CitizenMutationsPerMinute / 60, Burst: cfg.Limits.CitizenMutationBurst},
	}
	if rs, ok := st.(*redis.Store); ok {
		c.Buckets = ratelimit.NewRedisBuckets(rs.Client(), cfg.Division)
		c.Overrides = ratelimit.NewRedisOverrides(rs.Client(), cfg.Division)
	} else {
		overrides, err := ratelimit.OpenFileOverrides(filepath.Join(cfg.Data, RateLimitFile))
		if err != nil {
			return nil, err
		}
		c.Buckets, c.Overrides = ratelimit.NewMemoryBuckets(nil), overrides
	}
	return ratelimit.New(c), nil
}
