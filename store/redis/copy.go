package redis

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// The store copies its content out and in as records.
var (
	_ store.Exporter = (*Store)(nil)
	_ store.Importer = (*Store)(nil)
)

// ExportCount returns how many records Export yields, counting the
// request records with a SCAN.
func (s *Store) ExportCount(ctx context.Context) (int64, error) {
	if err := s.enter(ctx); err != nil {
		return 0, err
	}
	defer s.leave()
	reqs, err := s.requestKeys(ctx)
	if err != nil {
		return 0, err
	}
	n := int64(len(reqs))
	for _, zset := range []string{"permits", "accounts", "apps", "srs"} {
		c, err := s.c.ZCard(ctx, s.key(zset)).Result()
		if err != nil {
			return 0, fmt.Errorf("redis: count %s: %w", zset, err)
		}
		n += c
	}
	pending, err := s.c.SCard(ctx, s.key("pendings")).Result()
	if err != nil {
		return 0, fmt.Errorf("redis: count pending cancellations: %w", err)
	}
	events, err := s.eventHead(ctx)
	if err != nil {
		return 0, err
	}
	head, err := s.auditHead(ctx)
	if err != nil {
		return 0, err
	}
	return n + pending + int64(events) + int64(head.Seq), nil
}

// Export calls fn with every record of the division: values as stored,
// read index by index, a chunk a command; request records, which no index
// lists, are found with SCAN on the division's node and sorted. It is not
// one snapshot: the division should not be written meanwhile.
func (s *Store) Export(ctx context.Context, fn func(store.Record) error) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.leave()
	emit := func(kind store.Kind, k, v string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(store.Record{Kind: kind, Key: []byte(k), Value: []byte(v)})
	}
	if err := s.exportIndex(ctx, "permits", "permit:", store.KindPermit, emit); err != nil {
		return err
	}
	if err := s.exportRequests(ctx, emit); err != nil {
		return err
	}
	if err := s.exportPending(ctx, emit); err != nil {
		return err
	}
	if err := s.exportAccounts(ctx, emit); err != nil {
		return err
	}
	if err := s.exportIndex(ctx, "apps", "app:", store.KindApplication, emit); err != nil {
		return err
	}
	if err := s.exportIndex(ctx, "srs", "sr:", store.KindServiceRequest, emit); err != nil {
		return err
	}
	events, err := s.eventHead(ctx)
	if err != nil {
		return err
	}
	if err := s.exportLog(ctx, "sr_events", events, store.KindEvent, emit); err != nil {
		return err
	}
	head, err := s.auditHead(ctx)
	if err != nil {
		return err
	}
	return s.exportLog(ctx, "audit", head.Seq, store.KindAudit, emit)
}

// exportIndex emits the field d of the hash of every id in the sorted set
// index, in id order.
func (s *Store) exportIndex(ctx context.Context, index, valuePrefix string, kind store.Kind, emit func(store.Kind, string, string) error) error {
	from := "-"
	for {
		page, err := s.rangeIndex(ctx, s.key(index), s.key(valuePrefix), "d", from, "+", listChunk, false, 0)
		if err != nil {
			return fmt.Errorf("redis: export %s: %w", kind, err)
		}
		for _, p := range page {
			if p.value == "" {
				return fmt.Errorf("redis: export: index %s names missing %s %s", index, kind, p.member)
			}
			if err := emit(kind, p.member, p.value); err != nil {
				return err
			}
		}
		if len(page) < listChunk {
			return nil
		}
		from = "(" + page[len(page)-1].member
	}
}

// requestKeys returns the keys of every request record, sorted, found with
// SCAN on the node that holds the division's slot.
func (s *Store) requestKeys(ctx context.Context) ([]string, error) {
	var node goredis.Cmdable = s.c
	if cl, ok := s.c.(*goredis.ClusterClient); ok {
		c, err := cl.MasterForKey(ctx, s.key("layout"))
		if err != nil {
			return nil, fmt.Errorf("redis: find the division's node: %w", err)
		}
		node = c
	}
	var keys []string
	it := node.Scan(ctx, 0, globEscape(s.key("req:"))+"*", 1000).Iterator()
	for it.Next(ctx) {
		keys = append(keys, it.Val())
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("redis: scan request records: %w", err)
	}
	slices.Sort(keys)
	return slices.Compact(keys), nil // SCAN may return a key twice
}

// globEscape escapes the characters that SCAN's MATCH pattern treats
// specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// exportRequests emits every request record in request id order.
func (s *Store) exportRequests(ctx context.Context, emit func(store.Kind, string, string) error) error {
	keys, err := s.requestKeys(ctx)
	if err != nil {
		return err
	}
	prefix := s.key("req:")
	for chunk := range slices.Chunk(keys, listChunk) {
		vs, err := s.c.MGet(ctx, chunk...).Result()
		if err != nil {
			return fmt.Errorf("redis: export request records: %w", err)
		}
		for i, v := range vs {
			if str, ok := v.(string); ok { // gone since the scan: nothing to copy
				if err := emit(store.KindRequest, strings.TrimPrefix(chunk[i], prefix), str); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// exportPending emits every pending cancellation in id order.
func (s *Store) exportPending(ctx context.Context, emit func(store.Kind, string, string) error) error {
	ids, err := s.c.SMembers(ctx, s.key("pendings")).Result()
	if err != nil {
		return fmt.Errorf("redis: export pending cancellations: %w", err)
	}
	slices.Sort(ids)
	for _, id := range ids {
		v, err := s.c.HGet(ctx, s.key("pending:"+id), "d").Result()
		if err != nil {
			return fmt.Errorf("redis: export pending cancellation %s: %w", id, err)
		}
		if err := emit(store.KindPending, id, v); err != nil {
			return err
		}
	}
	return nil
}

// exportAccounts emits every account in name order.
func (s *Store) exportAccounts(ctx context.Context, emit func(store.Kind, string, string) error) error {
	names, err := s.c.ZRange(ctx, s.key("accounts"), 0, -1).Result()
	if err != nil {
		return fmt.Errorf("redis: export accounts: %w", err)
	}
	for chunk := range slices.Chunk(names, listChunk) {
		keys := make([]string, len(chunk))
		for i, n := range chunk {
			keys[i] = s.key("account:" + n)
		}
		vs, err := s.c.MGet(ctx, keys...).Result()
		if err != nil {
			return fmt.Errorf("redis: export accounts: %w", err)
		}
		for i, v := range vs {
			str, ok := v.(string)
			if !ok {
				return fmt.Errorf("redis: export: the account index names missing account %s", chunk[i])
			}
			if err := emit(store.KindAccount, chunk[i], str); err != nil {
				return err
			}
		}
	}
	return nil
}

// exportLog emits the entries 1..head of a log kept as a hash from
// decimal seq, keyed by 8-byte seq; a missing seq is left out (the chain
// check on the copy reports it).
func (s *Store) exportLog(ctx context.Context, log string, head uint64, kind store.Kind, emit func(store.Kind, string, string) error) error {
	for from := uint64(1); from <= head; from += auditChunk {
		to := min(head, from+auditChunk-1)
		fields := make([]string, 0, to-from+1)
		for seq := from; seq <= to; seq++ {
			fields = append(fields, strconv.FormatUint(seq, 10))
		}
		vs, err := s.c.HMGet(ctx, s.key(log), fields...).Result()
		if err != nil {
			return fmt.Errorf("redis: export %s: %w", kind, err)
		}
		for i, v := range vs {
			if str, ok := v.(string); ok {
				if err := emit(kind, string(store.SeqKey(from+uint64(i))), str); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// raiseAuditHeadSrc sets the audit head (KEYS[1]) to seq ARGV[1] and hash
// ARGV[2] when it is behind; raiseEventHeadSrc sets the event head
// (KEYS[1]) to ARGV[1] when it is behind. An import moves the heads only
// forward, so importing a batch again leaves them where they are.
const (
	raiseAuditHeadSrc = `
local cur = tonumber(redis.call("HGET", KEYS[1], "seq") or "0")
if tonumber(ARGV[1]) > cur then redis.call("HSET", KEYS[1], "seq", ARGV[1], "hash", ARGV[2]) end
return 0
`
	raiseEventHeadSrc = `
local cur = tonumber(redis.call("GET", KEYS[1]) or "0")
if tonumber(ARGV[1]) > cur then redis.call("SET", KEYS[1], ARGV[1]) end
return 0
`
)

// Import writes batch in one MULTI/EXEC transaction, every key in the
// division's slot, so it works on Cluster: each value with the index
// entries the write scripts keep for it, and the audit and event heads,
// which move only forward. Nothing is sent when a record is malformed.
func (s *Store) Import(ctx context.Context, batch []store.Record) error {
	recs := make([]*store.Decoded, len(batch))
	for i, r := range batch {
		d, err := r.Decode()
		if err != nil {
			return fmt.Errorf("redis: import: %w", err)
		}
		recs[i] = d
	}
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.leave()
	_, err := s.c.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
		var audit *epermitv1.AuditEntry
		var event uint64
		for _, d := range recs {
			s.importOne(ctx, pipe, d)
			switch d.Kind {
			case store.KindAudit:
				audit = d.Audit
			case store.KindEvent:
				event = d.Seq
			}
		}
		if audit != nil {
			pipe.Eval(ctx, raiseAuditHeadSrc, []string{s.key("audit:head")}, strconv.FormatUint(audit.GetSeq(), 10), audit.GetHash())
		}
		if event != 0 {
			pipe.Eval(ctx, raiseEventHeadSrc, []string{s.key("sr_events:head")}, strconv.FormatUint(event, 10))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis: import: %w", err)
	}
	return nil
}

// importOne queues the commands that store one decoded record and its
// index entries, as the write scripts keep them (doc.go lists the keys).
func (s *Store) importOne(ctx context.Context, pipe goredis.Pipeliner, d *store.Decoded) {
	k, v := string(d.Key), d.Value
	switch d.Kind {
	case store.KindPermit:
		p := d.Permit
		citizen, final := p.GetHolder().GetCitizenId(), "0"
		if store.IsFinal(p.GetStatus()) {
			final = "1"
		}
		si := ""
		if p.StatusIndex != nil {
			si = strconv.FormatUint(uint64(p.GetStatusIndex()), 10)
		}
		pipe.HSet(ctx, s.key("permit:"+k), "d", v, "v", strconv.FormatInt(p.GetVersion(), 10), "c", citizen, "f", final, "si", si)
		pipe.ZAdd(ctx, s.key("permits"), goredis.Z{Member: k})
		pipe.ZAdd(ctx, s.key("citizen:"+citizen), goredis.Z{Member: k})
		if final == "0" {
			pipe.Set(ctx, s.key("active:"+citizen), k, 0)
		}
		if p.StatusIndex != nil {
			// The status list is kept beside the permits: its entry,
			// the index held, and a new version (as WritePermit does).
			i := int64(p.GetStatusIndex())
			pipe.SetBit(ctx, s.key("status_held"), i, 1)
			pipe.BitField(ctx, s.key("status"), "SET", "u4", "#"+strconv.FormatInt(i^1, 10), int(store.ListState(p.GetStatus())))
			pipe.Incr(ctx, s.key("status:version"))
		}
	case store.KindRequest:
		pipe.Set(ctx, s.key("req:"+k), v, 0)
	case store.KindPending:
		pc := d.Pending
		pipe.HSet(ctx, s.key("pending:"+k), "d", v, "permit", pc.GetPermitId())
		pipe.Set(ctx, s.key("pending_permit:"+pc.GetPermitId()), k, 0)
		pipe.SAdd(ctx, s.key("pendings"), k)
	case store.KindAccount:
		pipe.Set(ctx, s.key("account:"+k), v, 0)
		pipe.ZAdd(ctx, s.key("accounts"), goredis.Z{Member: k})
		if len(d.Account.TokenHash) > 0 {
			pipe.Set(ctx, s.key("token:"+hex.EncodeToString(d.Account.TokenHash)), k, 0)
		}
	case store.KindApplication:
		a := d.Application
		deadline := ""
		if a.GetState() == epermitv1.ApplicationState_APPLICATION_STATE_ACCEPTED && a.GetDeadline() != nil {
			deadline = timePrefix(a.GetDeadline().AsTime()) + k
		}
		state := strconv.Itoa(int(a.GetState()))
		pipe.HSet(ctx, s.key("app:"+k), "d", v, "v", strconv.FormatInt(a.GetVersion(), 10), "dl", deadline, "st", state)
		pipe.ZAdd(ctx, s.key("apps"), goredis.Z{Member: k})
		if deadline != "" {
			pipe.ZAdd(ctx, s.key("app_deadlines"), goredis.Z{Member: deadline})
		}
		pipe.ZAdd(ctx, s.key("app_state:"+state), goredis.Z{Member: k})
	case store.KindServiceRequest:
		r := d.ServiceRequest
		outbox := s.importOutbox(ctx, pipe, r)
		pipe.HSet(ctx, s.key("sr:"+k), "d", v, "v", strconv.FormatInt(r.GetVersion(), 10), "ob", outbox, "pm", r.GetPermitId())
		pipe.ZAdd(ctx, s.key("srs"), goredis.Z{Member: k})
		if r.GetPermitId() != "" {
			pipe.ZAdd(ctx, s.key("sr_permit:"+r.GetPermitId()), goredis.Z{Member: k})
		}
	case store.KindEvent:
		pipe.HSet(ctx, s.key("sr_events"), strconv.FormatUint(d.Seq, 10), v)
	case store.KindAudit:
		pipe.HSet(ctx, s.key("audit"), strconv.FormatUint(d.Seq, 10), v)
	}
}

// importOutbox puts an imported service request in the outbox when it has
// a next attempt time, as WriteServiceRequest does, without a claim, and
// returns its outbox member ("" for none): the one place the import knows
// the outbox.
func (s *Store) importOutbox(ctx context.Context, pipe goredis.Pipeliner, r *epermitv1.ServiceRequest) string {
	pipe.HDel(ctx, s.key("sr:"+r.GetId()), "cl")
	if r.GetNextAttemptTime() == nil {
		return ""
	}
	member := timePrefix(r.GetNextAttemptTime().AsTime()) + r.GetId()
	pipe.ZAdd(ctx, s.key("outbox"), goredis.Z{Member: member})
	return member
}
