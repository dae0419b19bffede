package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/yrd-epermit/epermit/store"
)

// OutboxStats counts the members of the outbox index and those up to now
// in one transaction, and reads the earliest member's time; the counts are
// capped at limit.
func (s *Store) OutboxStats(ctx context.Context, now time.Time, limit int) (store.OutboxStats, error) {
	if err := s.enter(ctx); err != nil {
		return store.OutboxStats{}, err
	}
	defer s.leave()
	key := s.key("outbox")
	end := "(" + fmt.Sprintf("%016x", uint64(max(now.UnixNano(), 0))+1)
	var queued, due *goredis.IntCmd
	var first *goredis.StringSliceCmd
	if _, err := s.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		queued = p.ZCard(ctx, key)
		due = p.ZLexCount(ctx, key, "-", end)
		first = p.ZRangeByLex(ctx, key, &goredis.ZRangeBy{Min: "-", Max: end, Count: 1})
		return nil
	}); err != nil {
		return store.OutboxStats{}, fmt.Errorf("redis: outbox stats: %w", err)
	}
	st := store.OutboxStats{Queued: int(min(queued.Val(), int64(limit))), Due: int(min(due.Val(), int64(limit)))}
	if m := first.Val(); len(m) > 0 {
		if len(m[0]) <= 16 {
			return store.OutboxStats{}, fmt.Errorf("redis: malformed outbox member %q", m[0])
		}
		ns, err := strconv.ParseUint(m[0][:16], 16, 64)
		if err != nil {
			return store.OutboxStats{}, fmt.Errorf("redis: malformed outbox member %q", m[0])
		}
		st.OldestDue = time.Unix(0, int64(ns))
	}
	return st, nil
}
