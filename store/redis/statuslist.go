package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/yrd-epermit/epermit/store"
)

// Store keeps the division's status list (WritePermit sets the entries).
var _ store.StatusListKeeper = (*Store)(nil)

// initStatusVersion gives a division's status list its first version, the
// Unix time in microseconds, unless it has one: versions then continue
// above those of any list the division published before (from a bbolt
// store, or from a Redis whose data was lost).
func (s *Store) initStatusVersion(ctx context.Context) error {
	return s.c.SetNX(ctx, s.key("status:version"), time.Now().UnixMicro(), 0).Err()
}

// StatusListVersion returns the version of the division's status list.
func (s *Store) StatusListVersion(ctx context.Context) (uint64, error) {
	if err := s.enter(ctx); err != nil {
		return 0, err
	}
	defer s.leave()
	v, err := s.c.Get(ctx, s.key("status:version")).Uint64()
	if err != nil {
		return 0, fmt.Errorf("redis: status list version: %w", err)
	}
	return v, nil
}

// StatusList returns the division's status-list entries, packed as
// statuslist packs them, up to the byte of the highest entry set, and
// their version, in one step.
func (s *Store) StatusList(ctx context.Context) ([]byte, uint64, error) {
	if err := s.enter(ctx); err != nil {
		return nil, 0, err
	}
	defer s.leave()
	v, err := statusListScript.Run(ctx, s.c, []string{s.key("layout")}, s.prefix).Slice()
	if err != nil {
		return nil, 0, fmt.Errorf("redis: status list: %w", err)
	}
	if len(v) != 2 {
		return nil, 0, errors.New("redis: status list: unexpected script reply")
	}
	packed, _ := v[0].(string)
	version, _ := v[1].(string)
	n, err := strconv.ParseUint(version, 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("redis: status list version %q: %w", version, err)
	}
	return []byte(packed), n, nil
}

// StatusListShared reports true: the replicas of a division share the
// list.
func (s *Store) StatusListShared() bool { return true }

// statusListSrc returns the packed entries ("" for none) and the version
// of the status list. ARGV[1] is the key prefix.
const statusListSrc = `
return {redis.call("GET", ARGV[1] .. "status") or "", redis.call("GET", ARGV[1] .. "status:version") or "0"}
`

var statusListScript = goredis.NewScript(statusListSrc)

// SharedTrustList returns the signed trust list that the division's
// replicas share, nil when none has been stored. It is not verified here:
// trust.Holder verifies it as any other list.
func (s *Store) SharedTrustList(ctx context.Context) ([]byte, error) {
	return s.getShared(ctx, "trust_list")
}

// ShareTrustList stores data as the shared trust list if the stored one is
// still prev (nil for none), in one step, and reports whether it did.
func (s *Store) ShareTrustList(ctx context.Context, data, prev []byte) (bool, error) {
	return s.swapShared(ctx, "trust_list", data, prev)
}

// PeerStatusList returns the signed status list of the member division
// issuer that the replicas share, nil when none has been stored. It is not
// verified here: the poller verifies it as one fetched from the member.
func (s *Store) PeerStatusList(ctx context.Context, issuer string) ([]byte, error) {
	return s.getShared(ctx, "peer_status:"+issuer)
}

// SharePeerStatusList stores data as the shared status list of issuer if
// the stored one is still prev (nil for none), in one step, and reports
// whether it did.
func (s *Store) SharePeerStatusList(ctx context.Context, issuer string, data, prev []byte) (bool, error) {
	return s.swapShared(ctx, "peer_status:"+issuer, data, prev)
}

// getShared reads a shared value, nil when absent.
func (s *Store) getShared(ctx context.Context, name string) ([]byte, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	v, err := s.c.Get(ctx, s.key(name)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("redis: get %s: %w", name, err)
	}
	return v, nil
}

// swapShared sets a shared value to data if it is still prev (nil for
// absent): a compare-and-set, so a replica replaces only the value it read
// and judged older.
func (s *Store) swapShared(ctx context.Context, name string, data, prev []byte) (bool, error) {
	if len(data) == 0 {
		return false, fmt.Errorf("redis: share %s: empty value", name)
	}
	if err := s.enter(ctx); err != nil {
		return false, err
	}
	defer s.leave()
	absent := "0"
	if prev == nil {
		absent = "1"
	}
	n, err := swapScript.Run(ctx, s.c, []string{s.key(name)}, absent, prev, data).Int()
	if err != nil {
		return false, fmt.Errorf("redis: share %s: %w", name, err)
	}
	return n == 1, nil
}

// swapSrc is a compare-and-set of KEYS[1]: ARGV[1] "1" when the key must
// be absent, else ARGV[2] is the value it must hold; ARGV[3] the new
// value. Returns 1 when set, 0 when the key held something else.
const swapSrc = `
local cur = redis.call("GET", KEYS[1])
if ARGV[1] == "1" then
  if cur then return 0 end
elseif cur ~= ARGV[2] then
  return 0
end
redis.call("SET", KEYS[1], ARGV[3])
return 1
`

var swapScript = goredis.NewScript(swapSrc)
