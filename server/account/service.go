// Package account implements AccountService (the node's accounts of people
// and systems) and the bootstrap admin of a fresh data folder.
package account

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/yrd-epermit/epermit/division"
	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/server/auth"
	"github.com/yrd-epermit/epermit/store"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// BootstrapAdmin is the name of the account created on a fresh data folder.
const BootstrapAdmin = "admin"

// maxNote bounds an account's note, in characters.
const maxNote = 200

// validName is the account name rule.
var validName = regexp.MustCompile(`^[a-z][a-z0-9._-]{2,63}$`)

// Config names what the service needs.
type Config struct {
	Store store.Store
	// Clock tells the time; time.Now when nil.
	Clock func() time.Time
	// Logger receives causes hidden from callers; slog.Default when nil.
	Logger *slog.Logger
}

// Service implements epermitv1.AccountServiceServer.
type Service struct {
	epermitv1.UnsafeAccountServiceServer
	cfg Config
}

// New returns a Service for cfg.
func New(cfg Config) *Service {
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
	epermitv1.RegisterAccountServiceServer(s, svc)
}

// CreateAccount implements epermitv1.AccountServiceServer.
func (s *Service) CreateAccount(ctx context.Context, req *epermitv1.CreateAccountRequest) (*epermitv1.CreateAccountResponse, error) {
	var v apierror.Violations
	checkName(&v, req.GetName())
	div := req.GetDivision()
	if c := auth.CallFrom(ctx); div == "" && c != nil {
		div = c.Principal.Division // by default, the admin's own division
	}
	if _, ok := division.Lookup(div); !ok {
		v.Add("division", "UNKNOWN_DIVISION", fmt.Sprintf("%q is not a division of the Delta in the shipped table", div))
	}
	if len(req.GetRoles()) == 0 {
		v.Add("roles", "REQUIRED", "give at least one role")
	}
	for i, r := range req.GetRoles() {
		if _, ok := epermitv1.Role_name[int32(r)]; !ok || r == epermitv1.Role_ROLE_UNSPECIFIED {
			v.Add(fmt.Sprintf("roles[%d]", i), "UNKNOWN_ROLE", "roles are admin, supervisor, clerk, auditor and partner")
		} else if slices.Index(req.GetRoles(), r) != i {
			v.Add(fmt.Sprintf("roles[%d]", i), "DUPLICATE", "each role once")
		}
	}
	kind := req.GetKind()
	switch kind {
	case epermitv1.AccountKind_ACCOUNT_KIND_UNSPECIFIED:
		kind = epermitv1.AccountKind_ACCOUNT_KIND_PERSON
	case epermitv1.AccountKind_ACCOUNT_KIND_PERSON, epermitv1.AccountKind_ACCOUNT_KIND_SYSTEM:
	default:
		v.Add("kind", "UNKNOWN_KIND", "kind is person or system")
	}
	checkNote(&v, req.GetNote())
	if err := v.Err("invalid account"); err != nil {
		return nil, err
	}
	now := s.cfg.Clock()
	a := &store.Account{
		Name: req.GetName(), Division: div, Roles: slices.Clone(req.GetRoles()),
		Kind: kind, Note: req.GetNote(), CreateTime: now, UpdateTime: now,
	}
	var token string
	if kind == epermitv1.AccountKind_ACCOUNT_KIND_PERSON {
		token = auth.NewToken()
		a.TokenHash, a.TokenTime = auth.HashToken(token), now
	}
	call := auth.CallFrom(ctx)
	err := s.cfg.Store.CreateAccount(ctx, a, call.Entry("account:"+a.Name))
	switch {
	case errors.Is(err, store.ErrExists):
		return nil, apierror.AlreadyExists("account", a.Name, "an account named "+a.Name+" already exists")
	case err != nil:
		return nil, s.internal("creating an account", err)
	}
	call.Recorded()
	return &epermitv1.CreateAccountResponse{Account: Proto(a), Token: token}, nil
}

// ListAccounts implements epermitv1.AccountServiceServer.
func (s *Service) ListAccounts(ctx context.Context, _ *epermitv1.ListAccountsRequest) (*epermitv1.ListAccountsResponse, error) {
	all, err := s.cfg.Store.ListAccounts(ctx)
	if err != nil {
		return nil, s.internal("listing accounts", err)
	}
	resp := &epermitv1.ListAccountsResponse{}
	for _, a := range all {
		resp.Accounts = append(resp.Accounts, Proto(a))
	}
	return resp, nil
}

// DisableAccount implements epermitv1.AccountServiceServer. The last
// enabled admin cannot be disabled, so the node is never left without one.
func (s *Service) DisableAccount(ctx context.Context, req *epermitv1.DisableAccountRequest) (*epermitv1.DisableAccountResponse, error) {
	if err := s.lastAdmin(ctx, req.GetName()); err != nil {
		return nil, err
	}
	a, err := s.update(ctx, req.GetName(), func(a *store.Account) error {
		a.Disabled = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &epermitv1.DisableAccountResponse{Account: a}, nil
}

// EnableAccount implements epermitv1.AccountServiceServer.
func (s *Service) EnableAccount(ctx context.Context, req *epermitv1.EnableAccountRequest) (*epermitv1.EnableAccountResponse, error) {
	a, err := s.update(ctx, req.GetName(), func(a *store.Account) error {
		a.Disabled = false
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &epermitv1.EnableAccountResponse{Account: a}, nil
}

// RotateToken implements epermitv1.AccountServiceServer.
func (s *Service) RotateToken(ctx context.Context, req *epermitv1.RotateTokenRequest) (*epermitv1.RotateTokenResponse, error) {
	token := auth.NewToken()
	a, err := s.update(ctx, req.GetName(), func(a *store.Account) error {
		if a.Kind != epermitv1.AccountKind_ACCOUNT_KIND_PERSON {
			return apierror.FailedPrecondition("NOT_A_PERSON", "account:"+a.Name,
				"account "+a.Name+" is a system account: it authenticates with its certificate, not a token")
		}
		a.TokenHash, a.TokenTime = auth.HashToken(token), s.cfg.Clock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &epermitv1.RotateTokenResponse{Account: a, Token: token}, nil
}

// WhoAmI implements epermitv1.AccountServiceServer.
func (s *Service) WhoAmI(ctx context.Context, _ *epermitv1.WhoAmIRequest) (*epermitv1.WhoAmIResponse, error) {
	call := auth.CallFrom(ctx)
	if call == nil {
		return nil, apierror.Internal()
	}
	a, err := s.cfg.Store.GetAccount(ctx, call.Principal.Account)
	if err != nil {
		return nil, s.internal("reading the caller's account", err)
	}
	return &epermitv1.WhoAmIResponse{Account: Proto(a), AuthenticatedBy: call.Principal.Via}, nil
}

// update changes one account with its audit entry.
func (s *Service) update(ctx context.Context, name string, change func(*store.Account) error) (*epermitv1.Account, error) {
	if name == "" {
		return nil, apierror.InvalidField("name", "REQUIRED", "name the account")
	}
	call := auth.CallFrom(ctx)
	a, err := s.cfg.Store.UpdateAccount(ctx, name, func(a *store.Account) error {
		if err := change(a); err != nil {
			return err
		}
		a.UpdateTime = s.cfg.Clock()
		return nil
	}, call.Entry("account:"+name))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, apierror.NotFound("account", name)
	case err != nil && isStatus(err):
		return nil, err
	case err != nil:
		return nil, s.internal("updating an account", err)
	}
	call.Recorded()
	return Proto(a), nil
}

// lastAdmin refuses to disable the only enabled admin.
func (s *Service) lastAdmin(ctx context.Context, name string) error {
	all, err := s.cfg.Store.ListAccounts(ctx)
	if err != nil {
		return s.internal("listing accounts", err)
	}
	others := 0
	target := false
	for _, a := range all {
		if a.Disabled || !slices.Contains(a.Roles, epermitv1.Role_ROLE_ADMIN) {
			continue
		}
		if a.Name == name {
			target = true
		} else {
			others++
		}
	}
	if target && others == 0 {
		return apierror.FailedPrecondition("LAST_ADMIN", "account:"+name,
			"account "+name+" is the last enabled admin; create or enable another admin first")
	}
	return nil
}

func (s *Service) internal(doing string, err error) error {
	s.cfg.Logger.Error("store failure", "doing", doing, "err", err)
	return apierror.Failure(err)
}

// isStatus reports whether err is a gRPC status error made by a handler.
func isStatus(err error) bool {
	_, ok := status.FromError(err)
	return ok
}

func checkName(v *apierror.Violations, name string) {
	if !validName.MatchString(name) {
		v.Add("name", "FORMAT", "3-64 characters: lower-case letters, digits, '.', '_' and '-', starting with a letter")
	}
}

func checkNote(v *apierror.Violations, note string) {
	if !utf8.ValidString(note) || utf8.RuneCountInString(note) > maxNote {
		v.Add("note", "TOO_LONG", fmt.Sprintf("at most %d characters of valid UTF-8", maxNote))
	}
}

// Proto returns the API form of an account (without its token hash).
func Proto(a *store.Account) *epermitv1.Account {
	p := &epermitv1.Account{
		Name: a.Name, Division: a.Division, Roles: slices.Clone(a.Roles), Kind: a.Kind,
		Disabled: a.Disabled, Note: a.Note,
		CreateTime: timestamppb.New(a.CreateTime), UpdateTime: timestamppb.New(a.UpdateTime),
	}
	if !a.TokenTime.IsZero() {
		p.TokenTime = timestamppb.New(a.TokenTime)
	}
	return p
}

// Bootstrap creates the admin account on a node without accounts and writes
// its token to tokenFile (mode 0600, which must not exist yet). It reports
// whether it created the account.
func Bootstrap(ctx context.Context, st store.Store, divisionCode, tokenFile string, now time.Time) (bool, error) {
	all, err := st.ListAccounts(ctx)
	if err != nil {
		return false, err
	}
	if len(all) > 0 {
		return false, nil
	}
	token := auth.NewToken()
	f, err := os.OpenFile(tokenFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return false, fmt.Errorf("bootstrap admin token: %w (remove it if no account was ever created)", err)
	}
	_, werr := fmt.Fprintln(f, token)
	if werr == nil {
		werr = f.Sync() // the token is the only way in: on disk before the account exists
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = st.CreateAccount(ctx, &store.Account{
			Name: BootstrapAdmin, Division: divisionCode, Roles: []epermitv1.Role{epermitv1.Role_ROLE_ADMIN},
			Kind: epermitv1.AccountKind_ACCOUNT_KIND_PERSON, Note: "created on first start",
			TokenHash: auth.HashToken(token), CreateTime: now, UpdateTime: now, TokenTime: now,
		}, nil)
	}
	if werr != nil {
		os.Remove(tokenFile)
		return false, fmt.Errorf("bootstrap admin: %w", werr)
	}
	return true, nil
}
