package ratelimit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"
)

// keyPrefix is the prefix of a division's rate limit keys in Redis: the
// division's hash tag, as in store/redis, so that on a Cluster they lie in
// the division's slot.
func keyPrefix(division string) string { return "{epermit:" + division + "}:ratelimit:" }

// RedisBuckets keeps GCRA state on Redis, shared by every replica of a
// division: github.com/go-redis/redis_rate runs GCRA in one Lua script per
// change, on the server's clock, so replicas whose clocks differ still
// share one budget. A bucket's key is "rate:{epermit:<division>}:ratelimit:"
// followed by the limit key; it expires when the bucket is full again.
type RedisBuckets struct {
	limiter *redis_rate.Limiter
	prefix  string
}

// NewRedisBuckets returns the buckets of division on c (the store's
// client, store/redis.Store.Client).
func NewRedisBuckets(c goredis.UniversalClient, division string) *RedisBuckets {
	return &RedisBuckets{limiter: redis_rate.NewLimiter(c), prefix: keyPrefix(division)}
}

// Allow implements Buckets.
func (b *RedisBuckets) Allow(ctx context.Context, key string, l Limit) (time.Duration, error) {
	res, err := b.limiter.Allow(ctx, b.prefix+key, redis_rate.Limit{Rate: 1, Period: l.interval(), Burst: l.Burst})
	if err != nil {
		return 0, err
	}
	if res.Allowed > 0 {
		return 0, nil
	}
	return max(res.RetryAfter, time.Millisecond), nil
}

// Reset implements Buckets.
func (b *RedisBuckets) Reset(ctx context.Context, key string) error {
	return b.limiter.Reset(ctx, b.prefix+key)
}

// RedisOverrides keeps the overrides of a division in one Redis hash,
// "{epermit:<division>}:ratelimit:overrides", field the key and value the
// override as JSON. Every replica reads it at every change (one HMGET), so
// an override takes effect on all of them at once.
type RedisOverrides struct {
	c    goredis.UniversalClient
	hash string
}

// NewRedisOverrides returns the overrides of division on c.
func NewRedisOverrides(c goredis.UniversalClient, division string) *RedisOverrides {
	return &RedisOverrides{c: c, hash: keyPrefix(division) + "overrides"}
}

// Get implements Overrides.
func (r *RedisOverrides) Get(ctx context.Context, keys ...string) (map[string]Override, error) {
	vals, err := r.c.HMGet(ctx, r.hash, keys...).Result()
	if err != nil {
		return nil, err
	}
	out := map[string]Override{}
	for _, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		o, err := decodeOverride(s)
		if err != nil {
			return nil, err
		}
		out[o.Key] = o
	}
	return out, nil
}

// List implements Overrides.
func (r *RedisOverrides) List(ctx context.Context) ([]Override, error) {
	all, err := r.c.HGetAll(ctx, r.hash).Result()
	if err != nil {
		return nil, err
	}
	out := make([]Override, 0, len(all))
	for _, s := range all {
		o, err := decodeOverride(s)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b Override) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Put implements Overrides: the old value is read in the same MULTI/EXEC
// transaction as the new one is written.
func (r *RedisOverrides) Put(ctx context.Context, o Override) (*Override, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	var old *goredis.StringCmd
	if _, err := r.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		old = p.HGet(ctx, r.hash, o.Key)
		p.HSet(ctx, r.hash, o.Key, b)
		return nil
	}); err != nil && !errors.Is(err, goredis.Nil) {
		return nil, err
	}
	return previous(old)
}

// Delete implements Overrides.
func (r *RedisOverrides) Delete(ctx context.Context, key string) (*Override, error) {
	var old *goredis.StringCmd
	if _, err := r.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		old = p.HGet(ctx, r.hash, key)
		p.HDel(ctx, r.hash, key)
		return nil
	}); err != nil && !errors.Is(err, goredis.Nil) {
		return nil, err
	}
	return previous(old)
}

// previous decodes the value an HGET in a transaction read, nil when the
// field did not exist.
func previous(cmd *goredis.StringCmd) (*Override, error) {
	s, err := cmd.Result()
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	o, err := decodeOverride(s)
	if err != nil {
		return nil, err
	}
	return &o, nil
}

// decodeOverride decodes an override stored as JSON.
func decodeOverride(s string) (Override, error) {
	var o Override
	if err := json.Unmarshal([]byte(s), &o); err != nil {
		return Override{}, fmt.Errorf("ratelimit: corrupt override %q: %w", s, err)
	}
	return o, nil
}
