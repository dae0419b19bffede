package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/server/auth"
	"github.com/yrd-epermit/epermit/store"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Bounds of an override.
const (
	maxPerSecond = 1e6
	maxBurst     = 1_000_000
	maxNote      = 200
)

// ServiceConfig names what the service needs.
type ServiceConfig struct {
	Limiter *Limiter
	// Store holds the accounts that caller keys must name, and the audit
	// log.
	Store store.Store
	// Clock tells the time; time.Now when nil.
	Clock func() time.Time
	// Logger receives causes hidden from callers; slog.Default when nil.
	Logger *slog.Logger
}

// Service implements epermitv1.RateLimitServiceServer: the admins'
// overrides and resets. Each change is recorded in the audit log with the
// admin and the key as target.
type Service struct {
	epermitv1.UnsafeRateLimitServiceServer
	cfg ServiceConfig
}

// NewService returns a Service for cfg.
func NewService(cfg ServiceConfig) *Service {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Service{cfg: cfg}
}

// RegisterService registers svc on s.
func RegisterService(s grpc.ServiceRegistrar, svc *Service) {
	epermitv1.RegisterRateLimitServiceServer(s, svc)
}

// SetRateLimitOverride implements epermitv1.RateLimitServiceServer. The
// override is stored first and its audit entry appended after; when the
// entry cannot be appended the override is put back as it was, so none
// stands without its entry.
func (s *Service) SetRateLimitOverride(ctx context.Context, req *epermitv1.SetRateLimitOverrideRequest) (*epermitv1.SetRateLimitOverrideResponse, error) {
	in := req.GetOverride()
	var v apierror.Violations
	if in == nil {
		v.Add("override", "REQUIRED", "give the override: a key, and exempt or a limit")
		return nil, v.Err("invalid override")
	}
	key, err := s.checkKey(ctx, &v, "override.key", in.GetKey(), true)
	if err != nil {
		return nil, err
	}
	lim := in.GetLimit()
	switch {
	case in.GetExempt() && lim != nil:
		v.Add("override.limit", "NOT_WITH_EXEMPT", "an exempt key has no limit: give exempt or a limit, not both")
	case !in.GetExempt() && lim == nil:
		v.Add("override.limit", "REQUIRED", "give a limit (per_second and burst), or exempt")
	case lim != nil:
		if p := lim.GetPerSecond(); math.IsNaN(p) || p <= 0 || p > maxPerSecond {
			v.Add("override.limit.per_second", "OUT_OF_RANGE", fmt.Sprintf("changes a second, more than 0 and at most %g", float64(maxPerSecond)))
		}
		if b := lim.GetBurst(); b < 1 || b > maxBurst {
			v.Add("override.limit.burst", "OUT_OF_RANGE", fmt.Sprintf("changes at once, 1-%d", maxBurst))
		}
	}
	if n := in.GetNote(); !utf8.ValidString(n) || utf8.RuneCountInString(n) > maxNote {
		v.Add("override.note", "TOO_LONG", fmt.Sprintf("at most %d characters of valid UTF-8", maxNote))
	}
	if err := v.Err("invalid override"); err != nil {
		return nil, err
	}
	call := auth.CallFrom(ctx)
	o := Override{Key: key, Exempt: in.GetExempt(), Note: in.GetNote(), Time: s.cfg.Clock()}
	if lim != nil {
		o.Limit = Limit{PerSecond: lim.GetPerSecond(), Burst: int(lim.GetBurst())}
	}
	if call != nil {
		o.Actor = call.Principal.Account
	}
	prev, err := s.cfg.Limiter.SetOverride(ctx, o)
	if err != nil {
		return nil, s.internal("storing a rate limit override", err)
	}
	call.SetNote("set " + describe(o))
	if err := s.audit(ctx, call, key); err != nil {
		s.undo(ctx, key, prev)
		return nil, err
	}
	return &epermitv1.SetRateLimitOverrideResponse{Override: toProto(o)}, nil
}

// ClearRateLimitOverride implements epermitv1.RateLimitServiceServer. As
// for a set, a removal whose audit entry cannot be appended is undone.
func (s *Service) ClearRateLimitOverride(ctx context.Context, req *epermitv1.ClearRateLimitOverrideRequest) (*epermitv1.ClearRateLimitOverrideResponse, error) {
	var v apierror.Violations
	key, err := s.checkKey(ctx, &v, "key", req.GetKey(), false)
	if err != nil {
		return nil, err
	}
	if err := v.Err("invalid key"); err != nil {
		return nil, err
	}
	prev, err := s.cfg.Limiter.ClearOverride(ctx, key)
	if err != nil {
		return nil, s.internal("removing a rate limit override", err)
	}
	if prev == nil {
		return nil, apierror.NotFound("rate limit override", key)
	}
	call := auth.CallFrom(ctx)
	call.SetNote("cleared " + describe(*prev))
	if err := s.audit(ctx, call, key); err != nil {
		s.undo(ctx, key, prev)
		return nil, err
	}
	return &epermitv1.ClearRateLimitOverrideResponse{Override: toProto(*prev)}, nil
}

// ListRateLimitOverrides implements epermitv1.RateLimitServiceServer.
func (s *Service) ListRateLimitOverrides(ctx context.Context, _ *epermitv1.ListRateLimitOverridesRequest) (*epermitv1.ListRateLimitOverridesResponse, error) {
	all, err := s.cfg.Limiter.ListOverrides(ctx)
	if err != nil {
		return nil, s.internal("listing rate limit overrides", err)
	}
	caller, citizen := s.cfg.Limiter.Defaults()
	resp := &epermitv1.ListRateLimitOverridesResponse{CallerDefault: limitProto(caller), CitizenDefault: limitProto(citizen)}
	for _, o := range all {
		resp.Overrides = append(resp.Overrides, toProto(o))
	}
	return resp, nil
}

// ResetRateLimit implements epermitv1.RateLimitServiceServer. A reset
// cannot be undone, but it only gives the key its whole burst again: when
// its audit entry cannot be appended the caller gets INTERNAL and the
// reset stands.
func (s *Service) ResetRateLimit(ctx context.Context, req *epermitv1.ResetRateLimitRequest) (*epermitv1.ResetRateLimitResponse, error) {
	var v apierror.Violations
	key, err := s.checkKey(ctx, &v, "key", req.GetKey(), true)
	if err != nil {
		return nil, err
	}
	if err := v.Err("invalid key"); err != nil {
		return nil, err
	}
	if err := s.cfg.Limiter.Reset(ctx, key); err != nil {
		return nil, s.internal("resetting a rate limit", err)
	}
	call := auth.CallFrom(ctx)
	call.SetNote("bucket reset")
	if err := s.audit(ctx, call, key); err != nil {
		return nil, err
	}
	return &epermitv1.ResetRateLimitResponse{}, nil
}

// checkKey checks a key given in field and returns it normalised (a
// citizen id's x in upper case). With account, a caller key must name an
// existing account, which catches a mistyped name. It returns an error
// only when the accounts cannot be read.
func (s *Service) checkKey(ctx context.Context, v *apierror.Violations, field, key string, account bool) (string, error) {
	kind, id, ok := SplitKey(key)
	if !ok {
		v.Add(field, "FORMAT", `"caller:<account name>" or "citizen:<citizen id>"`)
		return "", nil
	}
	if kind == Citizen {
		cid, err := citizenid.Parse(id, s.cfg.Clock())
		if err != nil {
			var ce *citizenid.Error
			reason := "INVALID_CITIZEN_ID"
			if errors.As(err, &ce) {
				reason = "CITIZEN_ID_" + ce.Reason
			}
			v.Add(field, reason, err.Error())
			return "", nil
		}
		return Key(Citizen, cid.Number), nil
	}
	if account {
		_, err := s.cfg.Store.GetAccount(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			v.Add(field, "UNKNOWN_ACCOUNT", "no account is named "+strconv.Quote(id))
		case err != nil:
			return "", s.internal("reading an account", err)
		}
	}
	return key, nil
}

// audit appends the call's entry, naming key, and marks the call recorded.
func (s *Service) audit(ctx context.Context, call *auth.Call, key string) error {
	e := call.Entry(key)
	if e == nil {
		return nil
	}
	if err := s.cfg.Store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		return s.internal("appending an audit entry", err)
	}
	call.Recorded()
	return nil
}

// undo puts key's override back as it was before a change whose audit
// entry could not be appended.
func (s *Service) undo(ctx context.Context, key string, prev *Override) {
	ctx = context.WithoutCancel(ctx)
	var err error
	if prev != nil {
		_, err = s.cfg.Limiter.SetOverride(ctx, *prev)
	} else {
		_, err = s.cfg.Limiter.ClearOverride(ctx, key)
	}
	if err != nil {
		s.cfg.Logger.Error("a rate limit override changed without its audit entry could not be put back", "key", key, "err", err)
	}
}

func (s *Service) internal(doing string, err error) error {
	s.cfg.Logger.Error("rate limit failure", "doing", doing, "err", err)
	return apierror.Internal()
}

// describe says what an override does, for the audit entry's note.
func describe(o Override) string {
	s := "exempt"
	if !o.Exempt {
		s = fmt.Sprintf("%g/s burst %d", o.Limit.PerSecond, o.Limit.Burst)
	}
	if o.Note != "" {
		s += ": " + o.Note
	}
	return s
}

// toProto returns the API form of an override.
func toProto(o Override) *epermitv1.RateLimitOverride {
	p := &epermitv1.RateLimitOverride{Key: o.Key, Exempt: o.Exempt, Note: o.Note, UpdateActor: o.Actor}
	if !o.Exempt {
		p.Limit = limitProto(o.Limit)
	}
	if !o.Time.IsZero() {
		p.UpdateTime = timestamppb.New(o.Time)
	}
	return p
}

// limitProto returns the API form of a limit, nil when it is off.
func limitProto(l Limit) *epermitv1.RateLimit {
	if l.Off() {
		return nil
	}
	return &epermitv1.RateLimit{PerSecond: l.PerSecond, Burst: int32(l.Burst)}
}
