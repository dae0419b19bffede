package redis

import goredis "github.com/redis/go-redis/v9"

// Client returns the Redis client the store uses, so that other state of
// the division that replicas share (the rate limits of server/ratelimit)
// lives on the same server with the same connection settings. Closing the
// store closes it.
func (s *Store) Client() goredis.UniversalClient { return s.c }
