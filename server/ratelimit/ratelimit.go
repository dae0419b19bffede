// Package ratelimit decides whether a change may go on: every change is
// limited per caller, and a change that names a citizen also per citizen
// id, each by GCRA (the generic cell rate algorithm: a sustained rate and
// a burst, kept as one "theoretical arrival time" per key).
//
// # Keys
//
// A key is "caller:<account name>" or "citizen:<citizen id>". Each kind has
// a default limit from the node's configuration; an operator's Override
// gives one key its own limit, or exempts it.
//
// # Backends
//
// Buckets keep the arrival times and Overrides the operators' settings.
// With the bbolt store (one process) the buckets are in memory
// (MemoryBuckets) and the overrides in a small file in the data folder
// (FileOverrides). With the Redis store the replicas of a division share
// both on the store's Redis (RedisBuckets with github.com/go-redis/redis_rate,
// RedisOverrides in a hash), so a caller's budget is one budget however
// the load balancer spreads its calls, and an override or a reset takes
// effect on every replica at once.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Kinds of key.
const (
	// Caller keys limit one authenticated account (person or system).
	Caller = "caller"
	// Citizen keys limit the changes that name one citizen id.
	Citizen = "citizen"
)

// Limit is a GCRA limit: PerSecond changes a second sustained, Burst at
// once. A PerSecond of 0 turns the limit off.
type Limit struct {
	PerSecond float64 `json:"per_second"`
	Burst     int     `json:"burst"`
}

// Off reports whether the limit lets everything through.
func (l Limit) Off() bool { return l.PerSecond <= 0 }

// interval is the time one change costs: the emission interval.
func (l Limit) interval() time.Duration {
	return time.Duration(float64(time.Second) / l.PerSecond)
}

// Override is an operator's setting for one key.
type Override struct {
	Key string `json:"key"`
	// Exempt keys are not limited; Limit is then zero.
	Exempt bool  `json:"exempt,omitempty"`
	Limit  Limit `json:"limit"`
	// Note says why; Actor and Time who set it and when.
	Note  string    `json:"note,omitempty"`
	Actor string    `json:"actor"`
	Time  time.Time `json:"time"`
}

// Buckets keep one GCRA state per key.
type Buckets interface {
	// Allow takes one change from key's bucket under limit l. It returns 0
	// when the change may go on, else how long until one would (and
	// takes nothing).
	Allow(ctx context.Context, key string, l Limit) (time.Duration, error)
	// Reset forgets key's state: its bucket is full again.
	Reset(ctx context.Context, key string) error
}

// Overrides keep the operators' overrides, where every replica reads them.
type Overrides interface {
	// Get returns the overrides of those keys that have one.
	Get(ctx context.Context, keys ...string) (map[string]Override, error)
	// List returns every override, ordered by key.
	List(ctx context.Context) ([]Override, error)
	// Put stores o, replacing the key's override, and returns the one it
	// replaced (nil when none).
	Put(ctx context.Context, o Override) (*Override, error)
	// Delete removes key's override and returns it (nil when none).
	Delete(ctx context.Context, key string) (*Override, error)
}

// Config configures a Limiter.
type Config struct {
	Buckets   Buckets
	Overrides Overrides
	// Caller and Citizen are the default limits of the two kinds of key.
	Caller, Citizen Limit
	// Logger logs backend failures; slog.Default() when nil.
	Logger *slog.Logger
}

// Limiter decides whether changes may go on.
type Limiter struct {
	cfg Config
}

// New returns a Limiter.
func New(cfg Config) *Limiter {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Limiter{cfg: cfg}
}

// Key returns the key of kind (Caller or Citizen) for id.
func Key(kind, id string) string { return kind + ":" + id }

// SplitKey returns the kind and id of a key, or ok false when it is not
// "caller:..." or "citizen:..." with a non-empty id.
func SplitKey(key string) (kind, id string, ok bool) {
	kind, id, found := strings.Cut(key, ":")
	if !found || id == "" || (kind != Caller && kind != Citizen) {
		return "", "", false
	}
	return kind, id, true
}

// Defaults returns the default limits of callers and citizens.
func (l *Limiter) Defaults() (caller, citizen Limit) { return l.cfg.Caller, l.cfg.Citizen }

// Check takes one change from the caller's bucket and, when citizen is not
// empty, then from the citizen's, each under its override or its default.
// Beyond a limit it returns RESOURCE_EXHAUSTED with a RetryInfo and an
// ErrorInfo naming the limit (caller or citizen); a caller refused takes
// nothing from the citizen's bucket. When the backend cannot be reached it
// returns UNAVAILABLE: changes are refused rather than let through
// unlimited.
func (l *Limiter) Check(ctx context.Context, caller, citizen string) error {
	type check struct {
		kind, key string
		limit     Limit
	}
	checks := []check{{Caller, Key(Caller, caller), l.cfg.Caller}}
	if citizen != "" {
		checks = append(checks, check{Citizen, Key(Citizen, citizen), l.cfg.Citizen})
	}
	keys := make([]string, len(checks))
	for i, c := range checks {
		keys[i] = c.key
	}
	overrides, err := l.cfg.Overrides.Get(ctx, keys...)
	if err != nil {
		return l.unavailable("reading rate limit overrides", err)
	}
	for _, c := range checks {
		limit := c.limit
		if o, ok := overrides[c.key]; ok {
			if o.Exempt {
				continue
			}
			limit = o.Limit
		}
		if limit.Off() {
			continue
		}
		wait, err := l.cfg.Buckets.Allow(ctx, c.key, limit)
		if err != nil {
			return l.unavailable("taking from a rate limit bucket", err)
		}
		if wait > 0 {
			return exhausted(c.kind, caller, wait)
		}
	}
	return nil
}

// exhausted is the refusal of a change beyond the limit of kind.
func exhausted(kind, caller string, wait time.Duration) error {
	msg := "too many changes from account " + caller + "; retry later"
	if kind == Citizen {
		msg = "too many changes for this citizen id; retry later"
	}
	st, err := status.New(codes.ResourceExhausted, msg).WithDetails(
		&errdetails.RetryInfo{RetryDelay: durationpb.New(max(wait, 10*time.Millisecond))},
		&errdetails.ErrorInfo{Reason: "RATE_LIMITED", Domain: "epermit", Metadata: map[string]string{"limit": kind}},
	)
	if err != nil {
		return status.Error(codes.ResourceExhausted, msg)
	}
	return st.Err()
}

// unavailable logs a backend failure and refuses the change.
func (l *Limiter) unavailable(doing string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	l.cfg.Logger.Warn("rate limits unreachable; change refused", "doing", doing, "err", err)
	return status.Error(codes.Unavailable, "the rate limits cannot be checked now; retry later")
}

// Reset refills key's bucket.
func (l *Limiter) Reset(ctx context.Context, key string) error {
	if err := l.cfg.Buckets.Reset(ctx, key); err != nil {
		return fmt.Errorf("ratelimit: reset %s: %w", key, err)
	}
	return nil
}

// SetOverride stores o and returns the override it replaced, if any.
func (l *Limiter) SetOverride(ctx context.Context, o Override) (*Override, error) {
	return l.cfg.Overrides.Put(ctx, o)
}

// ClearOverride removes key's override and returns it (nil when none).
func (l *Limiter) ClearOverride(ctx context.Context, key string) (*Override, error) {
	return l.cfg.Overrides.Delete(ctx, key)
}

// ListOverrides returns every override, ordered by key.
func (l *Limiter) ListOverrides(ctx context.Context) ([]Override, error) {
	return l.cfg.Overrides.List(ctx)
}
