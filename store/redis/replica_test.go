package redis

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/storetest"
)

// TestReplicas runs three Stores on one division, as three permitd
// replicas would: racing issuances for the same citizens through
// different stores give each citizen exactly one permit, and the audit
// log they share stays one intact chain.
func TestReplicas(t *testing.T) {
	url := startTestServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var replicas []*Store
	for range 3 {
		s, err := Open(ctx, Options{URL: url, Division: "330604"})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		replicas = append(replicas, s)
	}
	const citizens, tries = 10, 12
	var wg sync.WaitGroup
	errs := make([]error, citizens*tries)
	for i := range errs {
		wg.Go(func() {
			s := replicas[i%len(replicas)]
			p := storetest.NewPermit(storetest.PermitID(i), storetest.CitizenID(i%citizens))
			e := storetest.NewAuditEntry("clerk.test-01", "/epermit.v1.PermitService/IssuePermit", p.GetId(), time.Now())
			errs[i] = s.WritePermit(ctx, store.PermitWrite{RequestID: fmt.Sprint("issue-", i), RequestHash: []byte{1}, Permit: p, Audit: e})
		})
	}
	wg.Wait()
	won := make([]int, citizens)
	for i, err := range errs {
		switch {
		case err == nil:
			won[i%citizens]++
		case !errors.Is(err, store.ErrActivePermit):
			t.Fatalf("issuance %d: %v", i, err)
		}
	}
	for c, n := range won {
		if n != 1 {
			t.Fatalf("citizen %d got %d permits, want 1", c, n)
		}
	}
	r, err := store.CheckAuditChain(ctx, replicas[2])
	if err != nil {
		t.Fatal(err)
	}
	if !r.Intact || r.Entries != citizens {
		t.Fatalf("audit log after the race: %+v, want intact with %d entries", r, citizens)
	}
}

// BenchmarkWritePermit issues permits with an audit entry each from 50
// goroutines on one Store (appendfsync always), like
// store/bolt's BenchmarkIssueLikeNode but on an empty division.
func BenchmarkWritePermit(b *testing.B) { benchWritePermits(b, false) }

// BenchmarkWritePermitIndexed is BenchmarkWritePermit with a status index
// on every permit, as the node issues them: the script then also checks
// and sets the index's bit and entry and the list's version.
func BenchmarkWritePermitIndexed(b *testing.B) { benchWritePermits(b, true) }

// benchWritePermits writes new permits with their audit entries from 50
// goroutines, with distinct status indices scattered over 2^21 entries
// when indexed.
func benchWritePermits(b *testing.B, indexed bool) {
	url := startTestServer(b)
	s, err := Open(context.Background(), Options{URL: url, Division: "330604"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var mu sync.Mutex
	n := 0
	b.SetParallelism(max(1, 50/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			i := n
			n++
			mu.Unlock()
			p := storetest.NewPermit(storetest.PermitID(i), storetest.CitizenID(i))
			if indexed {
				index := uint32(i*2654435761) % (1 << 21) // an odd multiplier: distinct for i < 2^21
				p.StatusIndex = &index
			}
			e := storetest.NewAuditEntry("clerk.test-01", "/epermit.v1.PermitService/IssuePermit", p.GetId(), time.Now())
			if err := s.WritePermit(context.Background(), store.PermitWrite{RequestID: fmt.Sprint("issue-", i), RequestHash: make([]byte, 32), Permit: p, Audit: e}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
	logScriptTime(b, url)
}

// BenchmarkAppendAudit appends audit entries on their own from 50
// goroutines, to show what hashing in Lua costs the server.
func BenchmarkAppendAudit(b *testing.B) {
	url := startTestServer(b)
	s, err := Open(context.Background(), Options{URL: url, Division: "330604"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.SetParallelism(max(1, 50/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := storetest.NewAuditEntry("clerk.test-01", "/epermit.v1.PermitService/GetPermit", storetest.PermitID(1), time.Now())
			if err := s.AppendAudit(context.Background(), e); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
	logScriptTime(b, url)
}

// logScriptTime logs how long the server spent in each script call
// (INFO commandstats: evalsha's usec_per_call), which is the server time
// of a write without its fsync.
func logScriptTime(b *testing.B, url string) {
	o, _ := goredis.ParseURL(url)
	c := goredis.NewClient(o)
	defer c.Close()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if strings.HasPrefix(line, "cmdstat_evalsha:") {
			b.Log(strings.TrimSpace(line))
		}
	}
}
