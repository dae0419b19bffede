package redis

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// maxUpdateTries bounds how often UpdateAccount runs again after another
// writer changed the account between its read and its write.
const maxUpdateTries = 64

// GetAccount returns the account with this name, or store.ErrNotFound.
func (s *Store) GetAccount(ctx context.Context, name string) (*store.Account, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	a, _, err := s.getAccount(ctx, name)
	return a, err
}

// getAccount reads the account with this name and its stored JSON.
func (s *Store) getAccount(ctx context.Context, name string) (*store.Account, string, error) {
	v, err := s.c.Get(ctx, s.key("account:"+name)).Result()
	if isNil(err) {
		return nil, "", store.ErrNotFound
	}
	if err != nil {
		return nil, "", fmt.Errorf("redis: get account %s: %w", name, err)
	}
	a, err := store.DecodeAccount(name, []byte(v))
	return a, v, err
}

// AccountByTokenHash returns the account whose current token has this
// SHA-256 hash, or store.ErrNotFound, reading the token index and the
// account in one script. A disabled account is returned too; the caller
// checks Disabled. Nothing is cached: another replica may have changed
// the account.
func (s *Store) AccountByTokenHash(ctx context.Context, hash []byte) (*store.Account, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	if len(hash) == 0 {
		return nil, store.ErrNotFound
	}
	v, err := accountByTokenScript.Run(ctx, s.c, []string{s.key("token:" + hex.EncodeToString(hash))}, s.prefix).Text()
	if isNil(err) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redis: account by token: %w", err)
	}
	return store.DecodeAccount("of a token", []byte(v))
}

// ListAccounts returns every account, ordered by name, read in one script.
func (s *Store) ListAccounts(ctx context.Context) ([]*store.Account, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	vs, err := listAccountsScript.Run(ctx, s.c, []string{s.key("accounts")}, s.prefix).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redis: list accounts: %w", err)
	}
	out := make([]*store.Account, 0, len(vs))
	for _, v := range vs {
		if v == "" {
			return nil, errors.New("redis: the account index names a missing account")
		}
		a, err := store.DecodeAccount("in list", []byte(v))
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// CreateAccount stores a new account and indexes its token hash, with
// audit (which may be nil) appended, in one script. It returns
// store.ErrExists when the name is taken or the token hash is indexed
// already. Before any script it refuses an account without a name.
func (s *Store) CreateAccount(ctx context.Context, a *store.Account, audit *epermitv1.AuditEntry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if a == nil || a.Name == "" {
		return errors.New("redis: account has no name")
	}
	data, err := store.EncodeAccount(a)
	if err != nil {
		return err
	}
	v, err := s.run(ctx, "create account "+a.Name, createAccountScript, audit, a.Name, data, hex.EncodeToString(a.TokenHash))
	if err != nil {
		return err
	}
	switch v[0] {
	case "EXISTS_NAME":
		return fmt.Errorf("%w: account %s", store.ErrExists, a.Name)
	case "EXISTS_TOKEN":
		return fmt.Errorf("%w: the token hash of account %s belongs to another account", store.ErrExists, a.Name)
	}
	return refusal(v)
}

// UpdateAccount applies update to a copy of the stored account and stores
// the result with audit (which may be nil), keeping the token index in
// step. It reads the account, runs update in Go, and writes with a script
// that stores the result only if the account is still as read
// (compare-and-set on its JSON); when another writer changed it between,
// update runs again on the new state, up to maxUpdateTries times. It
// returns update's error unchanged, store.ErrNotFound when there is no
// such account, store.ErrExists when the new token hash belongs to
// another account, and an error when update changed the name; in every
// such case nothing is written. It returns the account as stored.
func (s *Store) UpdateAccount(ctx context.Context, name string, update func(*store.Account) error, audit *epermitv1.AuditEntry) (*store.Account, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	s.leave()
	for range maxUpdateTries {
		if err := s.enter(ctx); err != nil {
			return nil, err
		}
		old, from, err := s.getAccount(ctx, name)
		s.leave()
		if err != nil {
			return nil, err
		}
		a, err := store.DecodeAccount(name, []byte(from)) // the copy that update changes
		if err != nil {
			return nil, err
		}
		if err := update(a); err != nil {
			return nil, err
		}
		if a.Name != name {
			return nil, fmt.Errorf("redis: update account %s: the name cannot change (to %q)", name, a.Name)
		}
		data, err := store.EncodeAccount(a)
		if err != nil {
			return nil, err
		}
		oldToken, newToken := hex.EncodeToString(old.TokenHash), hex.EncodeToString(a.TokenHash)
		if bytes.Equal(old.TokenHash, a.TokenHash) {
			newToken = oldToken
		}
		v, err := s.run(ctx, "update account "+name, updateAccountScript, audit, name, from, data, oldToken, newToken)
		if err != nil {
			return nil, err
		}
		switch v[0] {
		case "RETRY":
			continue
		case "EXISTS_TOKEN":
			owner, _ := v[1].(string)
			return nil, fmt.Errorf("%w: the new token hash of account %s belongs to account %s", store.ErrExists, name, owner)
		}
		if err := refusal(v); err != nil {
			return nil, err
		}
		return store.DecodeAccount(name, data)
	}
	return nil, fmt.Errorf("redis: update account %s: changed by others %d times in a row", name, maxUpdateTries)
}
