package bolt

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/yrd-epermit/epermit/store"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// TestAccountCacheFollowsWrites: a cached token lookup never outlives the
// account change that invalidates it, also with lookups running during
// the change.
func TestAccountCacheFollowsWrites(t *testing.T) {
	s := tempStore(t, nil)
	ctx := context.Background()
	oldHash, newHash := []byte("hash-of-the-first-token-000000000"), []byte("hash-of-the-second-token-00000000")
	if err := s.CreateAccount(ctx, &store.Account{Name: "clerk1", Division: "330604",
		Roles: []epermitv1.Role{epermitv1.Role_ROLE_CLERK}, Kind: epermitv1.AccountKind_ACCOUNT_KIND_PERSON,
		TokenHash: oldHash}, nil); err != nil {
		t.Fatal(err)
	}
	a, err := s.AccountByTokenHash(ctx, oldHash) // now cached
	if err != nil || a.Disabled {
		t.Fatalf("lookup = %+v, %v", a, err)
	}
	a.Roles[0] = epermitv1.Role_ROLE_ADMIN // a caller's change must not reach the cache
	if again, _ := s.AccountByTokenHash(ctx, oldHash); again.Roles[0] != epermitv1.Role_ROLE_CLERK {
		t.Fatalf("the cache shares its roles with callers: %v", again.Roles)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					s.AccountByTokenHash(ctx, oldHash)
				}
			}
		})
	}
	if _, err := s.UpdateAccount(ctx, "clerk1", func(a *store.Account) error { a.Disabled = true; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if a, err := s.AccountByTokenHash(ctx, oldHash); err != nil || !a.Disabled {
			t.Fatalf("after disabling: %+v, %v", a, err)
		}
	}
	if _, err := s.UpdateAccount(ctx, "clerk1", func(a *store.Account) error { a.TokenHash = newHash; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if _, err := s.AccountByTokenHash(ctx, oldHash); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the replaced token still finds the account: %v", err)
		}
	}
	close(stop)
	wg.Wait()
	if a, err := s.AccountByTokenHash(ctx, newHash); err != nil || a.Name != "clerk1" {
		t.Fatalf("new token: %+v, %v", a, err)
	}
}
