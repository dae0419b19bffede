package redis

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/redis/redistest"
	"github.com/yrd-epermit/epermit/store/storetest"
)

// TestUnavailable: while redis-server is down, reads and writes fail with
// store.ErrUnavailable; a refusal of the store's own is not marked; once
// the server is back the same Store works again.
func TestUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	s, err := Open(t.Context(), Options{URL: srv.URL(), Division: "330604"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := s.GetPermit(ctx, "330604-none"); !errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("a missing permit: %v, want ErrNotFound only", err)
	}
	srv.Stop(syscall.SIGKILL)
	if _, err := s.GetPermit(ctx, "330604-none"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("a read with Redis down: %v, want ErrUnavailable", err)
	}
	p := storetest.NewPermit("330604-20261129-aaaa", citizenid.NewGenerator(5).Next())
	if err := s.WritePermit(ctx, store.PermitWrite{Permit: p}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("a write with Redis down: %v, want ErrUnavailable", err)
	}
	srv.Restart(t)
	if err := s.WritePermit(ctx, store.PermitWrite{Permit: p}); err != nil {
		t.Errorf("a write once Redis is back: %v", err)
	}
}
