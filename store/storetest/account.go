package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"slices"
	"testing"
	"time"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// tokenHash is the SHA-256 hash of a test token.
func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// NewAccount returns a clerk account with this name whose token is token;
// an empty token makes a system account without one.
func NewAccount(name, token string) *store.Account {
	created := time.Date(2026, 1, 5, 8, 30, 0, 0, cst)
	a := &store.Account{
		Name:       name,
		Division:   "330604",
		Roles:      []epermitv1.Role{epermitv1.Role_ROLE_CLERK},
		Kind:       epermitv1.AccountKind_ACCOUNT_KIND_PERSON,
		Note:       "上虞区行政服务中心 3 号窗口",
		CreateTime: created,
		UpdateTime: created,
	}
	if token == "" {
		a.Kind, a.Roles = epermitv1.AccountKind_ACCOUNT_KIND_SYSTEM, []epermitv1.Role{epermitv1.Role_ROLE_PARTNER}
		a.Note = "partner node"
		return a
	}
	a.TokenHash, a.TokenTime = tokenHash(token), created
	return a
}

// sameAccount reports whether a and b hold the same account, times
// compared as instants.
func sameAccount(a, b *store.Account) bool {
	return a.Name == b.Name && a.Division == b.Division && slices.Equal(a.Roles, b.Roles) && a.Kind == b.Kind &&
		a.Disabled == b.Disabled && a.Note == b.Note && bytes.Equal(a.TokenHash, b.TokenHash) &&
		a.CreateTime.Equal(b.CreateTime) && a.UpdateTime.Equal(b.UpdateTime) && a.TokenTime.Equal(b.TokenTime)
}

// mustCreate creates a with an audit entry or fails the test.
func mustCreate(t *testing.T, s store.Store, a *store.Account) {
	t.Helper()
	if err := s.CreateAccount(t.Context(), a, accountEntry(a.Name)); err != nil {
		t.Fatalf("CreateAccount(%s): %v", a.Name, err)
	}
}

// accountEntry is the audit entry of a change of an account.
func accountEntry(name string) *epermitv1.AuditEntry {
	e := NewAuditEntry("admin.test-01", "/epermit.v1.AccountService/CreateAccount", "account:"+name, auditStart)
	e.Roles = []epermitv1.Role{epermitv1.Role_ROLE_ADMIN}
	return e
}

// wantAccounts fails the test unless ListAccounts returns exactly want, in
// order, and GetAccount returns each of them.
func wantAccounts(t *testing.T, s store.Store, want ...*store.Account) {
	t.Helper()
	got, err := s.ListAccounts(t.Context())
	if err != nil {
		t.Fatalf("ListAccounts: %v", err)
	}
	if !slices.EqualFunc(got, want, sameAccount) {
		t.Fatalf("ListAccounts =\n%+v\nwant\n%+v", got, want)
	}
	for _, w := range want {
		g, err := s.GetAccount(t.Context(), w.Name)
		if err != nil || !sameAccount(g, w) {
			t.Fatalf("GetAccount(%s) = %+v, %v; want %+v", w.Name, g, err, w)
		}
	}
}

// wantToken fails the test unless the token finds the account want, or no
// account when want is nil.
func wantToken(t *testing.T, s store.Store, token string, want *store.Account) {
	t.Helper()
	got, err := s.AccountByTokenHash(t.Context(), tokenHash(token))
	if want == nil {
		wantErr(t, "AccountByTokenHash("+token+")", err, store.ErrNotFound)
		return
	}
	if err != nil || !sameAccount(got, want) {
		t.Fatalf("AccountByTokenHash(%s) = %+v, %v; want %+v", token, got, err, want)
	}
}

func testAccounts(t *testing.T, b Backend) {
	s := open(t, b)
	ctx := t.Context()
	wantAccounts(t, s)

	clerk := NewAccount("clerk.test-02", "token-clerk")
	admin := NewAccount("admin.test-01", "token-admin")
	admin.Roles = []epermitv1.Role{epermitv1.Role_ROLE_ADMIN, epermitv1.Role_ROLE_AUDITOR}
	partner := NewAccount("partner.test-320506", "")
	mustCreate(t, s, clerk)
	if err := s.CreateAccount(ctx, admin, nil); err != nil { // the bootstrap admin has no entry
		t.Fatal(err)
	}
	mustCreate(t, s, partner)
	wantAccounts(t, s, admin, clerk, partner)
	wantToken(t, s, "token-clerk", clerk)
	wantToken(t, s, "token-admin", admin)
	wantToken(t, s, "token-unknown", nil)
	for _, h := range [][]byte{nil, {}} {
		_, err := s.AccountByTokenHash(ctx, h)
		wantErr(t, "AccountByTokenHash of an empty hash", err, store.ErrNotFound)
	}
	_, err := s.GetAccount(ctx, "nobody")
	wantErr(t, "GetAccount(nobody)", err, store.ErrNotFound)
	wantChain(t, s, 2)

	// Refused creations write nothing.
	taken := NewAccount(clerk.Name, "token-new")
	wantErr(t, "name taken", s.CreateAccount(ctx, taken, accountEntry(taken.Name)), store.ErrExists)
	wantToken(t, s, "token-new", nil)
	sameToken := NewAccount("clerk.test-03", "token-clerk")
	wantErr(t, "token hash taken", s.CreateAccount(ctx, sameToken, accountEntry(sameToken.Name)), store.ErrExists)
	wantAccounts(t, s, admin, clerk, partner)
	wantToken(t, s, "token-clerk", clerk)
	wantChain(t, s, 2)

	// The store keeps its own copy.
	clerk.Roles[0] = epermitv1.Role_ROLE_ADMIN
	got, err := s.GetAccount(ctx, clerk.Name)
	if err != nil {
		t.Fatal(err)
	}
	got.TokenHash[0] ^= 0xff
	got.Note = "changed"
	clerk.Roles[0] = epermitv1.Role_ROLE_CLERK
	wantAccounts(t, s, admin, clerk, partner)
	wantToken(t, s, "token-clerk", clerk)
}

// errRefused is what the update function of a refused update returns.
var errRefused = errors.New("refused by the update function")

func testAccountUpdate(t *testing.T, b Backend) {
	s := open(t, b)
	ctx := t.Context()
	clerk := NewAccount("clerk.test-02", "token-1")
	other := NewAccount("clerk.test-03", "token-other")
	partner := NewAccount("partner.test-320506", "")
	for _, a := range []*store.Account{clerk, other, partner} {
		mustCreate(t, s, a)
	}
	entries := 3
	later := clerk.CreateTime.Add(48 * time.Hour)

	// update runs UpdateAccount and checks what it returned and stored.
	update := func(t *testing.T, name string, change func(*store.Account)) *store.Account {
		t.Helper()
		want, err := s.GetAccount(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		change(want)
		e := accountEntry(name)
		got, err := s.UpdateAccount(ctx, name, func(a *store.Account) error { change(a); return nil }, e)
		if err != nil {
			t.Fatalf("UpdateAccount(%s): %v", name, err)
		}
		if !sameAccount(got, want) {
			t.Fatalf("UpdateAccount(%s) = %+v, want %+v", name, got, want)
		}
		entries++
		wantEntry(t, s, e)
		return got
	}

	// Rotation: the old token no longer finds the account.
	clerk = update(t, clerk.Name, func(a *store.Account) {
		a.TokenHash, a.TokenTime, a.UpdateTime = tokenHash("token-2"), later, later
	})
	wantToken(t, s, "token-1", nil)
	wantToken(t, s, "token-2", clerk)

	// A disabled account is still found; the caller checks Disabled.
	clerk = update(t, clerk.Name, func(a *store.Account) { a.Disabled, a.UpdateTime = true, later })
	wantToken(t, s, "token-2", clerk)
	clerk = update(t, clerk.Name, func(a *store.Account) { a.Disabled = false })

	// Changes that keep the token keep the index.
	clerk = update(t, clerk.Name, func(a *store.Account) {
		a.Roles = append(a.Roles, epermitv1.Role_ROLE_SUPERVISOR)
		a.Note = "调任督导"
	})
	wantToken(t, s, "token-2", clerk)

	// Refusals write nothing: not the account, its index or an entry.
	refusals := []struct {
		name   string
		target string
		change func(*store.Account) error
		check  func(*testing.T, error)
	}{
		{"update error", clerk.Name, func(a *store.Account) error {
			a.TokenHash = tokenHash("token-3")
			return errRefused
		}, wantIs(errRefused)},
		{"name change", clerk.Name, func(a *store.Account) error { a.Name = "clerk.test-09"; return nil }, nil},
		{"token of another account", clerk.Name, func(a *store.Account) error {
			a.TokenHash = tokenHash("token-other")
			return nil
		}, wantIs(store.ErrExists)},
		{"missing account", "nobody", func(*store.Account) error { return nil }, wantIs(store.ErrNotFound)},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			got, err := s.UpdateAccount(ctx, r.target, r.change, accountEntry(r.target))
			if err == nil {
				t.Fatalf("update succeeded: %+v", got)
			}
			if r.check != nil {
				r.check(t, err)
			}
			wantAccounts(t, s, clerk, other, partner)
			wantToken(t, s, "token-2", clerk)
			wantToken(t, s, "token-3", nil)
			wantToken(t, s, "token-other", other)
			_, err = s.GetAccount(ctx, "clerk.test-09")
			wantErr(t, "GetAccount after a refused rename", err, store.ErrNotFound)
			wantChain(t, s, entries)
		})
	}

	// A system account gains a token, and a person account loses its own.
	partner = update(t, partner.Name, func(a *store.Account) { a.TokenHash = tokenHash("token-partner") })
	wantToken(t, s, "token-partner", partner)
	clerk = update(t, clerk.Name, func(a *store.Account) { a.TokenHash, a.TokenTime = nil, time.Time{} })
	wantToken(t, s, "token-2", nil)
	// The freed hash may be taken by another account.
	other = update(t, other.Name, func(a *store.Account) { a.TokenHash = tokenHash("token-2") })
	wantToken(t, s, "token-2", other)
	wantToken(t, s, "token-other", nil)

	// An update without an entry appends none.
	if _, err := s.UpdateAccount(ctx, other.Name, func(a *store.Account) error { a.Note = "无审计"; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	other.Note = "无审计"
	wantAccounts(t, s, clerk, other, partner)
	wantChain(t, s, entries)
}
