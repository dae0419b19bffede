package redis

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/redis/redistest"
	"github.com/yrd-epermit/epermit/store/storetest"
)

// TestStore runs the conformance suite against a real redis-server. Each
// store gets a division of its own on the one server; Reopen kills the
// server with SIGKILL and starts it again on the same folder, so that a
// reopen proves that every acknowledged write was on disk.
func TestStore(t *testing.T) {
	srv := redistest.Start(t)
	var n atomic.Int64
	division := map[store.Store]string{}
	open := func(t *testing.T, div string) store.Store {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := Open(ctx, Options{URL: srv.URL(), Division: div})
		if err != nil {
			t.Fatal(err)
		}
		division[s] = div
		return s
	}
	storetest.Run(t, storetest.Backend{
		Open: func(t *testing.T) store.Store {
			return open(t, fmt.Sprintf("test%04d", n.Add(1)))
		},
		Reopen: func(t *testing.T, s store.Store) store.Store {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			srv.Restart(t)
			return open(t, division[s])
		},
	})
}
