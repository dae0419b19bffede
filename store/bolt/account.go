package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"go.etcd.io/bbolt"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// GetAccount returns the account with this name, or store.ErrNotFound.
func (s *Store) GetAccount(ctx context.Context, name string) (*store.Account, error) {
	var a *store.Account
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		a, err = getAccount(tx, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// AccountByTokenHash returns the account whose current token has this
// SHA-256 hash, or store.ErrNotFound. A disabled account is returned too;
// the caller checks Disabled.
func (s *Store) AccountByTokenHash(ctx context.Context, hash []byte) (*store.Account, error) {
	cached, gen := s.tokens.get(hash)
	if cached != nil {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return cached, nil
	}
	var a *store.Account
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if len(hash) == 0 {
			return store.ErrNotFound
		}
		name := tx.Bucket(bucketTokens).Get(hash)
		if name == nil {
			return store.ErrNotFound
		}
		var err error
		if a, err = getAccount(tx, string(name)); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("bolt: token index names missing account %q", name)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	s.tokens.put(hash, a, gen)
	return a, nil
}

// accountCache keeps decoded accounts by token hash for AccountByTokenHash,
// the lookup of every call made with a token. Every account write clears
// it before its caller hears the outcome, and a lookup that read the file
// before a write cleared the cache does not fill it (the generation
// check), so a disabled account or a replaced token stops working once the
// change is acknowledged. Only found accounts are kept, so unknown tokens
// cannot grow it beyond the number of accounts.
type accountCache struct {
	mu  sync.Mutex
	gen uint64
	m   map[string]store.Account
}

// get returns a copy of the cached account of hash, or nil and the
// generation to fill it with.
func (c *accountCache) get(hash []byte) (*store.Account, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.m[string(hash)]; ok {
		return copyAccount(a), c.gen
	}
	return nil, c.gen
}

// put caches a, read in generation gen, unless a write cleared the cache
// since.
func (c *accountCache) put(hash []byte, a *store.Account, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.m == nil {
		c.m = map[string]store.Account{}
	}
	c.m[string(hash)] = *copyAccount(*a)
}

// clear empties the cache and starts a new generation.
func (c *accountCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
}

// copyAccount returns a copy of a that shares no slice with it.
func copyAccount(a store.Account) *store.Account {
	a.Roles = slices.Clone(a.Roles)
	a.TokenHash = slices.Clone(a.TokenHash)
	return &a
}

// ListAccounts returns every account, ordered by name.
func (s *Store) ListAccounts(ctx context.Context) ([]*store.Account, error) {
	var out []*store.Account
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketAccounts).ForEach(func(k, v []byte) error {
			a, err := store.DecodeAccount(string(k), v)
			if err != nil {
				return err
			}
			out = append(out, a)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CreateAccount stores a new account and indexes its token hash, with
// audit (which may be nil) appended in the same transaction. It returns
// store.ErrExists when the name is taken or the token hash is indexed
// already. The write is durable when it returns nil, unless the store was
// opened with NoSync. Before any transaction it refuses an account without
// a name.
func (s *Store) CreateAccount(ctx context.Context, a *store.Account, audit *epermitv1.AuditEntry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if a == nil || a.Name == "" {
		return errors.New("bolt: account has no name")
	}
	data, err := store.EncodeAccount(a)
	if err != nil {
		return err
	}
	defer s.tokens.clear()
	return s.batch(ctx, "create account "+a.Name, func(tx *bbolt.Tx) (refused, err error) {
		accounts, tokens := tx.Bucket(bucketAccounts), tx.Bucket(bucketTokens)
		if accounts.Get([]byte(a.Name)) != nil {
			return fmt.Errorf("%w: account %s", store.ErrExists, a.Name), nil
		}
		if len(a.TokenHash) > 0 && tokens.Get(a.TokenHash) != nil {
			return fmt.Errorf("%w: the token hash of account %s belongs to another account", store.ErrExists, a.Name), nil
		}
		if err := accounts.Put([]byte(a.Name), data); err != nil {
			return nil, err
		}
		if len(a.TokenHash) > 0 {
			if err := tokens.Put(a.TokenHash, []byte(a.Name)); err != nil {
				return nil, err
			}
		}
		if audit != nil {
			if err := appendAudit(tx, audit); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
}

// UpdateAccount applies update to a copy of the stored account and stores
// the result with audit (which may be nil), keeping the token index in
// step, in one transaction. update may run more than once. It returns
// update's error unchanged, store.ErrNotFound when there is no such
// account, store.ErrExists when the new token hash belongs to another
// account, and an error when update changed the name; in every such case
// nothing is written. It returns the account as stored.
func (s *Store) UpdateAccount(ctx context.Context, name string, update func(*store.Account) error, audit *epermitv1.AuditEntry) (*store.Account, error) {
	var stored *store.Account
	defer s.tokens.clear()
	err := s.batch(ctx, "update account "+name, func(tx *bbolt.Tx) (refused, err error) {
		accounts, tokens := tx.Bucket(bucketAccounts), tx.Bucket(bucketTokens)
		old, err := getAccount(tx, name)
		if errors.Is(err, store.ErrNotFound) {
			return err, nil
		}
		if err != nil {
			return nil, err
		}
		a, err := getAccount(tx, name) // the copy that update changes
		if err != nil {
			return nil, err
		}
		if err := update(a); err != nil {
			return err, nil
		}
		if a.Name != name {
			return fmt.Errorf("bolt: update account %s: the name cannot change (to %q)", name, a.Name), nil
		}
		newToken := !bytes.Equal(a.TokenHash, old.TokenHash)
		if newToken && len(a.TokenHash) > 0 {
			if owner := tokens.Get(a.TokenHash); owner != nil {
				return fmt.Errorf("%w: the new token hash of account %s belongs to account %s", store.ErrExists, name, owner), nil
			}
		}
		data, err := store.EncodeAccount(a)
		if err != nil {
			return err, nil
		}

		if err := accounts.Put([]byte(name), data); err != nil {
			return nil, err
		}
		if newToken {
			if len(old.TokenHash) > 0 {
				if err := tokens.Delete(old.TokenHash); err != nil {
					return nil, err
				}
			}
			if len(a.TokenHash) > 0 {
				if err := tokens.Put(a.TokenHash, []byte(name)); err != nil {
					return nil, err
				}
			}
		}
		if audit != nil {
			if err := appendAudit(tx, audit); err != nil {
				return nil, err
			}
		}
		stored, err = store.DecodeAccount(name, data)
		return nil, err
	})
	if err != nil {
		return nil, err
	}
	return stored, nil
}

// getAccount reads the account with this name, or returns
// store.ErrNotFound.
func getAccount(tx *bbolt.Tx, name string) (*store.Account, error) {
	v := tx.Bucket(bucketAccounts).Get([]byte(name))
	if v == nil {
		return nil, store.ErrNotFound
	}
	return store.DecodeAccount(name, v)
}
