package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"

	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// LayoutVersion is the version of the key layout that this package reads
// and writes, stored under the division's "layout" key.
const LayoutVersion = "2"

// marshalOptions encodes protobuf values the same way every time, so equal
// values are stored as equal bytes.
var marshalOptions = proto.MarshalOptions{Deterministic: true}

// Options says which Redis and which division a Store uses.
type Options struct {
	// URL is the server's address as a redis:// or rediss:// URL, with
	// user, password and database number if needed (go-redis ParseURL).
	URL string
	// Cluster says that URL names a Redis Cluster, in go-redis's
	// ParseClusterURL form (redis://host:port?addr=host2:port2&…).
	Cluster bool
	// TLS, when set, replaces the TLS configuration that a rediss:// URL
	// implies (the system roots): to trust a private CA, or to present a
	// client certificate. ServerName may be left empty: it is taken from
	// each node's address.
	TLS *tls.Config
	// Division is the code of the division whose data the store holds;
	// every key carries it as its hash tag ({epermit:<division>}), so one
	// server or Cluster can hold several divisions.
	Division string
}

// Store is a store.Store kept in Redis. It is safe for concurrent use, and
// several Stores (in several processes) may share one division's data:
// every invariant is checked and kept by a Lua script on the server.
type Store struct {
	// mu is held shared by every operation and exclusively by Close, so
	// Close waits for operations in flight and none starts after it.
	mu     sync.RWMutex
	closed bool
	c      goredis.UniversalClient
	prefix string // "{epermit:<division>}:"
}

// Store implements the store contract.
var _ store.Store = (*Store)(nil)

// noRetries: Open turns off go-redis's retries (MaxRetries -1, whatever
// the URL says). go-redis retries a command after a network error, and a
// write script whose reply was lost may have run: run again, it would
// find its own request id (ErrDuplicateRequest for the caller's own
// write), its own version (ErrConflict), or append a second audit entry
// (AppendAudit). Without retries a lost reply is an error with an unknown
// outcome, which callers resolve as for any write: retry under the same
// request id and Replay.

// Open connects to the Redis server at opts.URL, checks that it answers,
// and marks the division's keys with the layout version, or checks that
// they carry this one. It fails when the division's keys carry another
// layout version.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Division == "" || strings.ContainsAny(opts.Division, "{}") {
		return nil, fmt.Errorf("redis: division %q: want a division code without braces", opts.Division)
	}
	var c goredis.UniversalClient
	var addr string
	if opts.Cluster {
		o, err := goredis.ParseClusterURL(opts.URL)
		if err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
		o.MaxRetries = -1 // see noRetries
		if opts.TLS != nil {
			o.TLSConfig = opts.TLS
		}
		c, addr = goredis.NewClusterClient(o), "cluster "+strings.Join(o.Addrs, ",")
	} else {
		o, err := goredis.ParseURL(opts.URL)
		if err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
		o.MaxRetries = -1 // see noRetries
		if opts.TLS != nil {
			o.TLSConfig = opts.TLS
		}
		c, addr = goredis.NewClient(o), o.Addr
	}
	c.AddHook(unavailableHook{})
	s := &Store{c: c, prefix: "{epermit:" + opts.Division + "}:"}
	if err := s.prepare(ctx); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("redis: open %s division %s: %w", addr, opts.Division, err)
	}
	return s, nil
}

// prepare sets the layout key of an unused division, or checks it.
func (s *Store) prepare(ctx context.Context) error {
	if _, err := s.c.SetNX(ctx, s.key("layout"), LayoutVersion, 0).Result(); err != nil {
		return err
	}
	got, err := s.c.Get(ctx, s.key("layout")).Result()
	if err != nil {
		return err
	}
	if got != LayoutVersion {
		return fmt.Errorf("unknown key layout %q: this epermit reads layout %s", got, LayoutVersion)
	}
	return s.initStatusVersion(ctx)
}

// Close closes the connections after the operations in flight have
// finished. Calling it again does nothing. Durability is the server's:
// with appendfsync always, a write is on disk when it is acknowledged.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.c.Close(); err != nil {
		return fmt.Errorf("redis: close: %w", err)
	}
	return nil
}

// key returns the key with this name in the division.
func (s *Store) key(name string) string { return s.prefix + name }

// enter starts an operation: it fails when ctx is done or the store is
// closed, and otherwise holds the store open until leave.
func (s *Store) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return store.ErrClosed
	}
	return nil
}

// leave ends an operation begun with enter.
func (s *Store) leave() { s.mu.RUnlock() }

// auditArgs are the audit arguments of a write script (ARGV[2..4]).
type auditArgs [3]string

// auditParts prepares e for a write script: its deterministic encoding
// without seq, prev_hash and hash, split before field 11 (prev_hash), so
// that the script can put seq (field 1) before the first part and
// prev_hash and hash (fields 11 and 12) between the parts, and obtain
// exactly the bytes that proto.Marshal with Deterministic gives the entry
// with those fields set. Deterministic encoding writes known fields in
// field-number order and unknown ones last. A nil e appends no entry.
func auditParts(e *epermitv1.AuditEntry) (auditArgs, error) {
	if e == nil {
		return auditArgs{"0", "", ""}, nil
	}
	body := proto.CloneOf(e)
	body.Seq, body.PrevHash, body.Hash = 0, nil, nil
	b, err := marshalOptions.Marshal(body)
	if err != nil {
		return auditArgs{}, fmt.Errorf("redis: marshal audit entry: %w", err)
	}
	i := 0
	for i < len(b) {
		num, typ, n := protowire.ConsumeTag(b[i:])
		if n < 0 {
			return auditArgs{}, errors.New("redis: malformed audit entry encoding")
		}
		if num >= 11 {
			break
		}
		m := protowire.ConsumeFieldValue(num, typ, b[i+n:])
		if m < 0 {
			return auditArgs{}, errors.New("redis: malformed audit entry encoding")
		}
		i += n + m
	}
	return auditArgs{"1", string(b[:i]), string(b[i:])}, nil
}

// run runs a write script with the prefix, the audit arguments and args,
// and returns its reply: a list whose first element is "OK" or the name
// of a refusal. On "OK" with an entry it sets e's seq, prev_hash and hash.
func (s *Store) run(ctx context.Context, what string, sc *goredis.Script, e *epermitv1.AuditEntry, args ...any) ([]any, error) {
	argv, err := s.scriptArgv(e, args)
	if err != nil {
		return nil, err
	}
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	v, err := sc.Run(ctx, s.c, []string{s.key("layout")}, argv...).Slice()
	if err != nil {
		return nil, fmt.Errorf("redis: %s: %w", what, err)
	}
	if len(v) == 0 {
		return nil, fmt.Errorf("redis: %s: empty script reply", what)
	}
	setAudit(v, e)
	return v, nil
}

// scriptArgv is the ARGV of a write script: the prefix, the audit
// arguments of e, then args.
func (s *Store) scriptArgv(e *epermitv1.AuditEntry, args []any) ([]any, error) {
	audit, err := auditParts(e)
	if err != nil {
		return nil, err
	}
	return append([]any{s.prefix, audit[0], audit[1], audit[2]}, args...), nil
}

// setAudit sets e's seq, prev_hash and hash from a write script's reply
// "OK" with an entry.
func setAudit(v []any, e *epermitv1.AuditEntry) {
	if len(v) == 4 && v[0] == "OK" && e != nil {
		seq, _ := v[1].(int64)
		prev, _ := v[2].(string)
		hash, _ := v[3].(string)
		e.Seq, e.PrevHash, e.Hash = uint64(seq), []byte(prev), []byte(hash)
	}
}

// refusal turns a script's reply into the error it stands for: nil for
// "OK".
func refusal(v []any) error {
	arg := func(i int) string {
		if len(v) > i {
			s, _ := v[i].(string)
			return s
		}
		return ""
	}
	switch code := arg(0); code {
	case "OK":
		return nil
	case "DUP":
		return store.ErrDuplicateRequest
	case "CONFLICT":
		return store.ErrConflict
	case "NOTFOUND":
		return store.ErrNotFound
	case "NOPENDING":
		return store.ErrNoPending
	case "NOPENDING_OTHER":
		return fmt.Errorf("%w: it is a cancellation of permit %s", store.ErrNoPending, arg(1))
	case "ACTIVE":
		return &store.ActivePermitError{PermitID: arg(1)}
	case "PENDINGEXISTS":
		return &store.PendingExistsError{PendingID: arg(1)}
	case "INDEXTAKEN":
		return store.ErrIndexTaken
	case "INDEXFIXED":
		return fmt.Errorf("redis: the permit's status index %s is fixed once written", arg(1))
	default:
		return fmt.Errorf("redis: unexpected script reply %q", code)
	}
}

// Request record kinds, as in store/bolt; records are encoded with
// store.EncodeRequest.
const (
	kindPermit         byte = 1
	kindPendingAdded   byte = 2
	kindPendingRemoved byte = 3
	kindApplication    byte = 4
	kindServiceRequest byte = 5
)

// checkVersioned refuses, before any script, a write of a value of this
// kind without an id or with a version other than prev+1.
func checkVersioned(kind, id string, version, prev int64) error {
	switch {
	case id == "":
		return fmt.Errorf("redis: %s has no id", kind)
	case prev < 0 || version != prev+1:
		return fmt.Errorf("redis: %s %s: version %d does not follow previous version %d", kind, id, version, prev)
	}
	return nil
}

// lexAfter is the exclusive lower bound of a lex range after the given
// member, "-" (the start) for "".
func lexAfter(after string) string {
	if after == "" {
		return "-"
	}
	return "(" + after
}

// lexBefore is the exclusive upper bound of a lex range before the given
// member, "+" (the end) for "".
func lexBefore(before string) string {
	if before == "" {
		return "+"
	}
	return "(" + before
}

// pair is one member of an index and the value it names.
type pair struct{ member, value string }

// rangeIndex reads up to limit members of the sorted set index between
// min and max (max and min when rev) with the values they name: the field
// of the key prefix || the member without its first skip bytes.
func (s *Store) rangeIndex(ctx context.Context, index, valuePrefix, field, min, max string, limit int, rev bool, skip int) ([]pair, error) {
	r := "0"
	if rev {
		r = "1"
	}
	v, err := rangeScript.Run(ctx, s.c, []string{index}, valuePrefix, field, min, max, limit, r, skip).StringSlice()
	if err != nil {
		return nil, err
	}
	out := make([]pair, 0, len(v)/2)
	for i := 0; i+1 < len(v); i += 2 {
		out = append(out, pair{v[i], v[i+1]})
	}
	return out, nil
}
