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
	runSuite(t, srv.URL(), false, srv.Restart)
}

// TestStoreCluster runs the conformance suite against a Redis Cluster of
// three masters; the stores' divisions hash to slots of every master.
// Reopen dials again without restarting the nodes.
func TestStoreCluster(t *testing.T) {
	url := redistest.StartCluster(t, 3)
	runSuite(t, url, true, nil)
}

// runSuite runs the conformance suite with a division of its own for
// every store; Reopen closes the store, calls restart when it is set, and
// opens the division again.
func runSuite(t *testing.T, url string, cluster bool, restart func(testing.TB)) {
	var n atomic.Int64
	division := map[store.Store]string{}
	open := func(t *testing.T, div string) store.Store {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := Open(ctx, Options{URL: url, Cluster: cluster, Division: div})
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
			if restart != nil {
				restart(t)
			}
			return open(t, division[s])
		},
	})
}
