package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/redis/redistest"
	"github.com/yrd-epermit/epermit/store/storetest"
)

// TestKillUnderLoad kills redis-server with SIGKILL while 20 writers
// issue permits with audit entries (appendfsync always), restarts it, and
// checks that every acknowledged permit, its request record and its audit
// entry are there, and that the audit chain is intact.
func TestKillUnderLoad(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	s, err := Open(ctx, Options{URL: srv.URL(), Division: "330604"})
	if err != nil {
		t.Fatal(err)
	}
	const writers = 20
	var mu sync.Mutex
	var acked []int
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				i := k*writers + w
				p := storetest.NewPermit(storetest.PermitID(i), storetest.CitizenID(i))
				e := storetest.NewAuditEntry("clerk.test-01", "/epermit.v1.PermitService/IssuePermit", p.GetId(), time.Now())
				wctx, cancel := context.WithTimeout(ctx, time.Second)
				err := s.WritePermit(wctx, store.PermitWrite{RequestID: fmt.Sprint("issue-", i), RequestHash: []byte{1}, Permit: p, Audit: e})
				cancel()
				if err != nil {
					time.Sleep(10 * time.Millisecond) // the server is down
					continue
				}
				mu.Lock()
				acked = append(acked, i)
				mu.Unlock()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	srv.Stop(syscall.SIGKILL)
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	close(stop)
	wg.Wait()
	s.Close()
	if n == 0 {
		t.Fatal("no write was acknowledged before the kill")
	}
	srv.Restart(t)
	s, err = Open(ctx, Options{URL: srv.URL(), Division: "330604"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, i := range acked {
		if _, err := s.GetPermit(ctx, storetest.PermitID(i)); err != nil {
			t.Fatalf("acknowledged permit %d: %v", i, err)
		}
		if _, err := s.Replay(ctx, fmt.Sprint("issue-", i)); err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		} else if err != nil {
			t.Fatalf("acknowledged request issue-%d lost", i)
		}
	}
	r, err := store.CheckAuditChain(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Intact || r.Entries < uint64(len(acked)) {
		t.Fatalf("audit log after the kill: %+v; want intact with at least %d entries", r, len(acked))
	}
	t.Logf("%d writes acknowledged before the kill (%d when it was sent), all there after the restart; the log holds %d entries", len(acked), n, r.Entries)
}
