package command

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// fakeAccounts is the fake node's in-memory AccountService. People
// authenticate with their token, systems with a client certificate whose
// common name is the account name. It shares the node's mutex.
type fakeAccounts struct {
	epermitv1.UnimplementedAccountServiceServer

	node     *fakeNode
	accounts map[string]*fakeAccount
	rotated  int
}

// fakeAccount is an account and its token.
type fakeAccount struct {
	account *epermitv1.Account
	token   string
}

// add stores account a with token, for a test's setup.
func (f *fakeAccounts) add(a *epermitv1.Account, token string) {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	f.accounts[a.GetName()] = &fakeAccount{account: proto.CloneOf(a), token: token}
}

// authenticate returns the caller's account and how it authenticated:
// "certificate" or "token".
func (f *fakeAccounts) authenticate(ctx context.Context) (*epermitv1.Account, string, error) {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.PeerCertificates) > 0 {
			a, ok := f.accounts[info.State.PeerCertificates[0].Subject.CommonName]
			if !ok || a.account.GetKind() != epermitv1.AccountKind_ACCOUNT_KIND_SYSTEM || a.account.GetDisabled() {
				return nil, "", status.Error(codes.Unauthenticated, "no enabled system account for this client certificate")
			}
			return proto.CloneOf(a.account), "certificate", nil
		}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	auth := md.Get("authorization")
	if len(auth) == 0 {
		return nil, "", status.Error(codes.Unauthenticated, "no credentials: send a bearer token or a client certificate")
	}
	token, ok := strings.CutPrefix(auth[0], "Bearer ")
	for _, a := range f.accounts {
		if ok && a.token != "" && a.token == token && !a.account.GetDisabled() {
			return proto.CloneOf(a.account), "token", nil
		}
	}
	return nil, "", status.Error(codes.Unauthenticated, "unknown or disabled token")
}

// fakeToken returns the token the fake makes for a person account.
func fakeToken(name string, rotation int) string {
	if rotation == 0 {
		return "epk_test_" + name
	}
	return fmt.Sprintf("epk_test_%s_r%d", name, rotation)
}

func (f *fakeAccounts) CreateAccount(_ context.Context, req *epermitv1.CreateAccountRequest) (*epermitv1.CreateAccountResponse, error) {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	f.node.requests = append(f.node.requests, req)
	if _, ok := f.accounts[req.GetName()]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "account %s exists", req.GetName())
	}
	a := &epermitv1.Account{
		Name:       req.GetName(),
		Division:   req.GetDivision(),
		Roles:      req.GetRoles(),
		Kind:       req.GetKind(),
		Note:       req.GetNote(),
		CreateTime: ts("2026-03-01 09:00:00"),
		UpdateTime: ts("2026-03-01 09:00:00"),
	}
	if a.Division == "" {
		a.Division = "330604"
	}
	var token string
	if a.GetKind() == epermitv1.AccountKind_ACCOUNT_KIND_PERSON {
		token = fakeToken(a.GetName(), 0)
		a.TokenTime = ts("2026-03-01 09:00:00")
	}
	f.accounts[a.GetName()] = &fakeAccount{account: a, token: token}
	return &epermitv1.CreateAccountResponse{Account: proto.CloneOf(a), Token: token}, nil
}

func (f *fakeAccounts) ListAccounts(context.Context, *epermitv1.ListAccountsRequest) (*epermitv1.ListAccountsResponse, error) {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	resp := &epermitv1.ListAccountsResponse{}
	for _, name := range slices.Sorted(maps.Keys(f.accounts)) {
		resp.Accounts = append(resp.Accounts, proto.CloneOf(f.accounts[name].account))
	}
	return resp, nil
}

// change records req and applies change to account name.
func (f *fakeAccounts) change(req proto.Message, name string, change func(*fakeAccount) error) (*fakeAccount, error) {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	f.node.requests = append(f.node.requests, req)
	a, ok := f.accounts[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "account %s not found", name)
	}
	if err := change(a); err != nil {
		return nil, err
	}
	a.account.UpdateTime = ts("2026-03-02 10:00:00")
	return &fakeAccount{account: proto.CloneOf(a.account), token: a.token}, nil
}

func (f *fakeAccounts) DisableAccount(_ context.Context, req *epermitv1.DisableAccountRequest) (*epermitv1.DisableAccountResponse, error) {
	a, err := f.change(req, req.GetName(), func(a *fakeAccount) error { a.account.Disabled = true; return nil })
	if err != nil {
		return nil, err
	}
	return &epermitv1.DisableAccountResponse{Account: a.account}, nil
}

func (f *fakeAccounts) EnableAccount(_ context.Context, req *epermitv1.EnableAccountRequest) (*epermitv1.EnableAccountResponse, error) {
	a, err := f.change(req, req.GetName(), func(a *fakeAccount) error { a.account.Disabled = false; return nil })
	if err != nil {
		return nil, err
	}
	return &epermitv1.EnableAccountResponse{Account: a.account}, nil
}

func (f *fakeAccounts) RotateToken(_ context.Context, req *epermitv1.RotateTokenRequest) (*epermitv1.RotateTokenResponse, error) {
	a, err := f.change(req, req.GetName(), func(a *fakeAccount) error {
		if a.account.GetKind() != epermitv1.AccountKind_ACCOUNT_KIND_PERSON {
			return status.Errorf(codes.FailedPrecondition, "account %s is a system account and has no token", a.account.GetName())
		}
		f.rotated++
		a.token = fakeToken(a.account.GetName(), f.rotated)
		a.account.TokenTime = ts("2026-03-02 10:00:00")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &epermitv1.RotateTokenResponse{Account: a.account, Token: a.token}, nil
}

// WhoAmI authenticates the caller whether or not the node requires it.
func (f *fakeAccounts) WhoAmI(ctx context.Context, _ *epermitv1.WhoAmIRequest) (*epermitv1.WhoAmIResponse, error) {
	a, by, err := f.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	return &epermitv1.WhoAmIResponse{Account: a, AuthenticatedBy: by}, nil
}
