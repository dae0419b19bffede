package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// claimSrc is ClaimDeliveries. KEYS[1] is the outbox. ARGV: 1 the key
// prefix, 2 now and 3 the end of the lease (16 hex digits of Unix
// nanoseconds each), 4 the limit, 5 the exclusive lex end of the due
// members. It walks the due members in order, skips those whose request's
// field cl (the end of its hold) is after now, sets cl to the end of the
// lease on the others until it has limit, and returns id, encoding, id,
// encoding, …
//
// Times are compared as two 32-bit halves: Lua numbers are doubles, exact
// only to 2^53, and Lua compares strings with strcoll, which depends on
// the server's locale.
const claimSrc = `
local P, now, hold, limit, last = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local function after(a, b)
  local ah, bh = tonumber(string.sub(a, 1, 8), 16), tonumber(string.sub(b, 1, 8), 16)
  if ah ~= bh then return ah > bh end
  return tonumber(string.sub(a, 9, 16), 16) > tonumber(string.sub(b, 9, 16), 16)
end
local out, n, from = {}, 0, "-"
while n < limit do
  local page = redis.call("ZRANGEBYLEX", KEYS[1], from, last, "LIMIT", 0, 64)
  for _, m in ipairs(page) do
    local id = string.sub(m, 17)
    local k = P .. "sr:" .. id
    local f = redis.call("HMGET", k, "d", "cl")
    if not f[1] then return redis.error_reply("outbox names missing service request " .. id) end
    if not f[2] or not after(f[2], now) then
      redis.call("HSET", k, "cl", hold)
      n = n + 1
      out[2 * n - 1] = id
      out[2 * n] = f[1]
      if n == limit then break end
    end
  end
  if #page < 64 then break end
  from = "(" .. page[#page]
end
return out
`

// claimScript runs claimSrc.
var claimScript = goredis.NewScript(claimSrc)

// ClaimDeliveries takes up to limit due service requests that no claim
// holds, earliest next_attempt_time first (then by id), and holds each
// until now+lease, as store.Store.ClaimDeliveries says, in one script.
// The hold is the field cl of the request's hash (sr:<id>), the end of
// the lease as 16 hex digits of Unix nanoseconds; the outbox member stays
// where it is, so the request keeps its place, and every write of the
// request deletes the field. The script skips held members one by one:
// there are at most as many as deliveries in flight on all replicas.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*epermitv1.ServiceRequest, error) {
	if lease <= 0 {
		return nil, fmt.Errorf("redis: claim deliveries: lease %v is not positive", lease)
	}
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	if limit < 1 {
		return nil, nil
	}
	// Members up to now: every member below the prefix of now plus 1 ns.
	end := "(" + fmt.Sprintf("%016x", uint64(max(now.UnixNano(), 0))+1)
	v, err := claimScript.Run(ctx, s.c, []string{s.key("outbox")}, s.prefix, timePrefix(now), timePrefix(now.Add(lease)), limit, end).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redis: claim deliveries: %w", err)
	}
	out := make([]*epermitv1.ServiceRequest, 0, len(v)/2)
	for i := 0; i+1 < len(v); i += 2 {
		r, err := unmarshalServiceRequest(v[i], []byte(v[i+1]))
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
