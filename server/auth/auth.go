// Package auth decides who may call the node: it authenticates every call
// (a bearer token for people, a client certificate for systems), checks the
// permission table, asks partners for the purpose of reading personal data,
// has changes rate-limited per identity and per citizen (server/ratelimit),
// and records the audit entries that the handlers do not write with their
// changes.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/pki"
	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/store"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Metadata keys a caller sends.
const (
	// AuthorizationKey carries "Bearer <token>".
	AuthorizationKey = "authorization"
	// PurposeKey carries the stated purpose of a read of personal data.
	PurposeKey = "x-epermit-purpose"
)

// maxPurpose bounds the stated purpose, in characters.
const maxPurpose = 200

// Ways a principal authenticated.
const (
	ByToken       = "token"
	ByCertificate = "certificate"
)

// Principal is an authenticated caller.
type Principal struct {
	Account  string
	Division string
	Roles    []epermitv1.Role
	// Via is ByToken or ByCertificate.
	Via string
}

// Has reports whether the principal holds role r.
func (p *Principal) Has(r epermitv1.Role) bool { return slices.Contains(p.Roles, r) }

// Call is what the audit log records of one call. The interceptor fills in
// the caller; a handler names the target when the request does not, and
// marks the call recorded once its change committed with its entry.
type Call struct {
	Principal *Principal
	Method    string
	RequestID string
	Purpose   string

	mu       sync.Mutex
	target   string
	note     string
	recorded bool
	now      func() time.Time
}

type callKey struct{}

// CallFrom returns the call of ctx, or nil outside an authenticated call.
func CallFrom(ctx context.Context) *Call {
	c, _ := ctx.Value(callKey{}).(*Call)
	return c
}

// WithCall returns ctx carrying c, for tests and embedders.
func WithCall(ctx context.Context, c *Call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

// SetTarget names what the call was about.
func (c *Call) SetTarget(target string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.target = target
	c.mu.Unlock()
}

// SetNote records a note the caller gave, such as why it rejected a
// request.
func (c *Call) SetNote(note string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.note = note
	c.mu.Unlock()
}

// Entry returns the audit entry of the call with outcome OK, to be written
// in the same transaction as the change, naming target. It is nil for a
// nil call (code running outside the gRPC server, such as tests).
func (c *Call) Entry(target string) *epermitv1.AuditEntry {
	if c == nil {
		return nil
	}
	c.SetTarget(target)
	return c.entry(codes.OK)
}

// Recorded marks that the call's entry was committed with its change.
func (c *Call) Recorded() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.recorded = true
	c.mu.Unlock()
}

func (c *Call) isRecorded() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recorded
}

func (c *Call) entry(outcome codes.Code) *epermitv1.AuditEntry {
	c.mu.Lock()
	target, note := c.target, c.note
	c.mu.Unlock()
	o := "OK"
	if outcome != codes.OK {
		o = strings.ToUpper(snake(outcome.String()))
	}
	return &epermitv1.AuditEntry{
		Time:      timestamppb.New(c.now()),
		Actor:     c.Principal.Account,
		Roles:     c.Principal.Roles,
		Division:  c.Principal.Division,
		Method:    c.Method,
		Target:    target,
		RequestId: c.RequestID,
		Outcome:   o,
		Purpose:   c.Purpose,
		Note:      note,
	}
}

// snake turns a code name such as PermissionDenied into PERMISSION_DENIED
// form (before upper-casing).
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Config configures a Guard.
type Config struct {
	// Store holds the accounts and the audit log.
	Store store.Store
	// Division is the node's division: clerks, supervisors, admins and
	// auditors act only for it.
	Division string
	// Limiter decides whether a change may go on; nil lets every change
	// through.
	Limiter Limiter
	// Clock tells the time; time.Now when nil.
	Clock func() time.Time
	// Logger logs refusals; slog.Default() when nil.
	Logger *slog.Logger
}

// Limiter rate-limits changes (server/ratelimit.Limiter).
type Limiter interface {
	// Check takes one change from the caller's budget and, when citizen is
	// not empty, from the citizen id's. Beyond a limit it returns the
	// refusal for the caller (RESOURCE_EXHAUSTED with a retry hint).
	Check(ctx context.Context, caller, citizen string) error
}

// Guard is the node's authentication, authorization, rate limiting and
// audit interceptor.
type Guard struct {
	cfg Config
}

// New returns a Guard.
func New(cfg Config) *Guard {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Guard{cfg: cfg}
}

var (
	errUnauthenticated = status.Error(codes.Unauthenticated,
		"missing or invalid credentials: send a valid account token (authorization: Bearer <token>) or a registered client certificate")
	errNoPurpose = apierror.InvalidField("metadata."+PurposeKey, "PURPOSE_REQUIRED",
		"a partner must state why it reads personal data (x-epermit-purpose metadata, 1-200 characters)")
)

// Unary is the unary server interceptor.
func (g *Guard) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		rule, ok := Permissions[info.FullMethod]
		if !ok {
			g.cfg.Logger.Error("method missing from the permission table; refused", "method", info.FullMethod)
			return nil, status.Errorf(codes.PermissionDenied, "%s is not open to anyone", info.FullMethod)
		}
		if rule.Public {
			return h(ctx, req)
		}
		p, err := g.authenticate(ctx)
		if err != nil {
			return nil, err
		}
		call := &Call{Principal: p, Method: info.FullMethod, RequestID: requestID(req), Purpose: purpose(ctx), now: g.cfg.Clock}
		call.SetTarget(targetOf(req))
		audited := rule.Mutation || rule.Audited || rule.Personal == AlwaysPersonalData ||
			rule.Personal == PersonalDataOnRequest && asksPersonal(req)

		err = g.authorize(p, rule, call, audited)
		if err == nil && rule.Mutation {
			err = g.limit(ctx, p, rule, req)
		}
		if err != nil {
			if status.Code(err) != codes.ResourceExhausted {
				g.audit(ctx, call, err)
			}
			return nil, err
		}
		resp, err := h(WithCall(ctx, call), req)
		if call.isRecorded() || !audited && status.Code(err) != codes.PermissionDenied {
			return resp, err
		}
		if aerr := g.audit(ctx, call, err); aerr != nil && err == nil {
			// Personal data is not handed out without its trace.
			return nil, aerr
		}
		return resp, err
	}
}

// Stream is the stream server interceptor: the public standard streams
// (health Watch, reflection) pass; any other is authenticated and
// authorized like a unary call, and one that carries personal data
// (WatchServiceRequests) is recorded in the audit log when it opens,
// before anything is sent.
func (g *Guard) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		rule, ok := Permissions[info.FullMethod]
		if !ok {
			g.cfg.Logger.Error("method missing from the permission table; refused", "method", info.FullMethod)
			return status.Errorf(codes.PermissionDenied, "%s is not open to anyone", info.FullMethod)
		}
		if rule.Public {
			return h(srv, ss)
		}
		ctx := ss.Context()
		p, err := g.authenticate(ctx)
		if err != nil {
			return err
		}
		call := &Call{Principal: p, Method: info.FullMethod, Purpose: purpose(ctx), now: g.cfg.Clock}
		audited := rule.Mutation || rule.Audited || rule.Personal != NoPersonalData
		if err := g.authorize(p, rule, call, audited); err != nil {
			g.audit(ctx, call, err)
			return err
		}
		if audited {
			call.SetNote("stream opened")
			if err := g.audit(ctx, call, nil); err != nil {
				return err
			}
		}
		return h(srv, &callStream{ServerStream: ss, ctx: WithCall(ctx, call)})
	}
}

// callStream is a server stream whose context carries its Call.
type callStream struct {
	grpc.ServerStream
	ctx context.Context
}

// Context returns the stream's context with its Call.
func (s *callStream) Context() context.Context { return s.ctx }

// authenticate finds the caller's account: by bearer token when one is
// sent, else by the verified client certificate.
func (g *Guard) authenticate(ctx context.Context) (*Principal, error) {
	// ValueFromIncomingContext copies one key's values; FromIncomingContext
	// would copy the whole metadata on every call.
	if v := metadata.ValueFromIncomingContext(ctx, AuthorizationKey); len(v) > 0 {
		token, ok := strings.CutPrefix(v[0], "Bearer ")
		if !ok || token == "" {
			return nil, errUnauthenticated
		}
		a, err := g.cfg.Store.AccountByTokenHash(ctx, HashToken(token))
		if errors.Is(err, store.ErrNotFound) {
			return nil, errUnauthenticated
		}
		if err != nil {
			return nil, g.internal("looking up a token", err)
		}
		if a.Disabled || a.Kind != epermitv1.AccountKind_ACCOUNT_KIND_PERSON {
			return nil, errUnauthenticated
		}
		return &Principal{Account: a.Name, Division: a.Division, Roles: a.Roles, Via: ByToken}, nil
	}
	pr, ok := peer.FromContext(ctx)
	if !ok {
		return nil, errUnauthenticated
	}
	info, ok := pr.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return nil, errUnauthenticated
	}
	name, division, ok := pki.PeerIdentity(info.State)
	if !ok {
		return nil, errUnauthenticated
	}
	a, err := g.cfg.Store.GetAccount(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errUnauthenticated
	}
	if err != nil {
		return nil, g.internal("looking up a certificate's account", err)
	}
	if a.Disabled || a.Kind != epermitv1.AccountKind_ACCOUNT_KIND_SYSTEM || a.Division != division {
		return nil, errUnauthenticated
	}
	return &Principal{Account: a.Name, Division: a.Division, Roles: a.Roles, Via: ByCertificate}, nil
}

// authorize checks the permission table and the stated purpose. The
// answer never depends on the target, so a refusal does not tell whether a
// permit exists.
func (g *Guard) authorize(p *Principal, rule Rule, call *Call, personal bool) error {
	var acting []epermitv1.Role
	for _, r := range rule.Roles {
		if p.Has(r) && (p.Division == g.cfg.Division || slices.Contains(rule.AnyDivision, r)) {
			acting = append(acting, r)
		}
	}
	if len(acting) == 0 {
		return status.Errorf(codes.PermissionDenied, "account %s (%s, division %s) may not call %s",
			p.Account, roleNames(p.Roles), p.Division, call.Method)
	}
	if personal && rule.Personal != NoPersonalData && !slices.ContainsFunc(acting, func(r epermitv1.Role) bool { return r != partner }) {
		if call.Purpose == "" {
			return errNoPurpose
		}
	}
	return nil
}

// limit has a change rate-limited: per caller, and per citizen id when the
// rule says so and the request names a valid one.
func (g *Guard) limit(ctx context.Context, p *Principal, rule Rule, req any) error {
	if g.cfg.Limiter == nil {
		return nil
	}
	citizen := ""
	if rule.CitizenLimited {
		citizen = g.citizenOf(ctx, req)
	}
	return g.cfg.Limiter.Check(ctx, p.Account, citizen)
}

// citizenOf is the citizen id a change names, normalised, or "" when it
// names none or an invalid one (the handler refuses that). A service
// request for a permit of this node names its holder: the permit is read
// for it, since a citizen id sent beside a permit id is not checked.
func (g *Guard) citizenOf(ctx context.Context, req any) string {
	var id string
	switch r := req.(type) {
	case interface{ GetHolder() *epermitv1.Holder }:
		id = r.GetHolder().GetCitizenId()
	case interface{ GetApplication() *epermitv1.Application }:
		id = r.GetApplication().GetHolder().GetCitizenId()
	case interface {
		GetPermit() *epermitv1.ServicePermit
	}:
		sp := r.GetPermit()
		id = sp.GetCitizenId()
		if permitID := sp.GetPermitId(); permitID != "" {
			id = ""
			if p, err := g.cfg.Store.GetPermit(ctx, permitID); err == nil {
				id = p.GetHolder().GetCitizenId()
			}
		}
	case interface{ GetCitizenId() string }:
		id = r.GetCitizenId()
	}
	if id == "" {
		return ""
	}
	parsed, err := citizenid.Parse(id, g.cfg.Clock())
	if err != nil {
		return ""
	}
	return parsed.Number
}

// audit appends the call's entry with the outcome of err.
func (g *Guard) audit(ctx context.Context, call *Call, err error) error {
	e := call.entry(status.Code(err))
	if aerr := g.cfg.Store.AppendAudit(context.WithoutCancel(ctx), e); aerr != nil {
		return g.internal("appending an audit entry", aerr)
	}
	return nil
}

// internal logs a cause the caller must not see and answers INTERNAL.
func (g *Guard) internal(doing string, err error) error {
	g.cfg.Logger.Error("store failure", "doing", doing, "err", err)
	return apierror.Failure(err)
}

// requestID is the request's request_id field, if it has one.
func requestID(req any) string {
	if r, ok := req.(interface{ GetRequestId() string }); ok {
		return r.GetRequestId()
	}
	return ""
}

// targetOf names what a request is about, from its fields.
func targetOf(req any) string {
	if r, ok := req.(interface{ GetPermitId() string }); ok && r.GetPermitId() != "" {
		return r.GetPermitId()
	}
	if r, ok := req.(interface{ GetPendingId() string }); ok && r.GetPendingId() != "" {
		return r.GetPendingId()
	}
	if r, ok := req.(interface{ GetCitizenId() string }); ok && r.GetCitizenId() != "" {
		return "citizen:" + r.GetCitizenId()
	}
	if r, ok := req.(interface{ GetName() string }); ok && r.GetName() != "" {
		return "account:" + r.GetName()
	}
	return ""
}

// asksPersonal reports whether a request asks for personal data.
func asksPersonal(req any) bool {
	r, ok := req.(interface{ GetIncludePersonalData() bool })
	return ok && r.GetIncludePersonalData()
}

// purpose is the caller's stated purpose, percent-decoded (metadata carries
// only ASCII, so UTF-8 text comes percent-encoded), cleaned and bounded;
// empty when none was stated or it is not valid text.
func purpose(ctx context.Context) string {
	v := metadata.ValueFromIncomingContext(ctx, PurposeKey)
	if len(v) == 0 {
		return ""
	}
	p := v[0]
	if u, err := url.PathUnescape(p); err == nil {
		p = u
	}
	p = strings.TrimSpace(p)
	if !utf8.ValidString(p) || utf8.RuneCountInString(p) > maxPurpose {
		return ""
	}
	return p
}

// roleNames lists roles in lower case, for messages.
func roleNames(rs []epermitv1.Role) string {
	var names []string
	for _, r := range rs {
		names = append(names, RoleName(r))
	}
	if len(names) == 0 {
		return "no role"
	}
	return strings.Join(names, ", ")
}

// RoleName is the lower-case name of a role, e.g. "clerk".
func RoleName(r epermitv1.Role) string {
	return strings.ToLower(strings.TrimPrefix(r.String(), "ROLE_"))
}

// NewToken returns a fresh bearer token: "ept_" and 26 characters carrying
// 130 random bits.
func NewToken() string { return "ept_" + rand.Text() }

// HashToken is how tokens are stored and looked up: SHA-256. Tokens are
// random with 130 bits, so a fast hash suffices (no password stretching).
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
