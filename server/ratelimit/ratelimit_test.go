package ratelimit

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	goredis "github.com/redis/go-redis/v9"

	"github.com/yrd-epermit/epermit/store/redis/redistest"
)

// slow is a limit that does not refill noticeably during a test: one
// change an hour, three at once.
var slow = Limit{PerSecond: 1.0 / 3600, Burst: 3}

// redisClient starts a redis-server and returns a client of it.
func redisClient(t testing.TB) goredis.UniversalClient {
	t.Helper()
	srv := redistest.Start(t)
	o, err := goredis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

// backends are the Buckets under test: in memory, and on a real
// redis-server.
func backends(t *testing.T) map[string]Buckets {
	return map[string]Buckets{
		"memory": NewMemoryBuckets(nil),
		"redis":  NewRedisBuckets(redisClient(t), "330604"),
	}
}

// TestBuckets: a bucket allows its burst, then refuses with a retry hint
// of at most one interval and takes nothing; keys are independent; a reset
// refills.
func TestBuckets(t *testing.T) {
	ctx := context.Background()
	for name, b := range backends(t) {
		t.Run(name, func(t *testing.T) {
			for i := range slow.Burst {
				if wait, err := b.Allow(ctx, "caller:clerk1", slow); err != nil || wait != 0 {
					t.Fatalf("change %d of the burst: wait %v, %v", i+1, wait, err)
				}
			}
			for range 2 {
				wait, err := b.Allow(ctx, "caller:clerk1", slow)
				if err != nil || wait <= 0 || wait > time.Hour {
					t.Fatalf("beyond the burst: wait %v, %v; want a wait of at most an hour", wait, err)
				}
			}
			if wait, err := b.Allow(ctx, "caller:clerk2", slow); err != nil || wait != 0 {
				t.Fatalf("another key: wait %v, %v", wait, err)
			}
			if err := b.Reset(ctx, "caller:clerk1"); err != nil {
				t.Fatal(err)
			}
			for i := range slow.Burst {
				if wait, err := b.Allow(ctx, "caller:clerk1", slow); err != nil || wait != 0 {
					t.Fatalf("change %d after the reset: wait %v, %v", i+1, wait, err)
				}
			}
			if wait, _ := b.Allow(ctx, "caller:clerk1", slow); wait <= 0 {
				t.Fatal("the reset gave more than the burst")
			}
			// A larger burst (an override) applies to the same state at once.
			if wait, err := b.Allow(ctx, "caller:clerk1", Limit{PerSecond: slow.PerSecond, Burst: 5}); err != nil || wait != 0 {
				t.Fatalf("with a larger burst: wait %v, %v", wait, err)
			}
		})
	}
}

// TestBucketsConcurrent: 50 goroutines racing for one bucket of 20 get
// exactly 20 changes, on each backend.
func TestBucketsConcurrent(t *testing.T) {
	ctx := context.Background()
	limit := Limit{PerSecond: 1.0 / 3600, Burst: 20}
	for name, b := range backends(t) {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			allowed := 0
			var wg sync.WaitGroup
			for range 50 {
				wg.Go(func() {
					wait, err := b.Allow(ctx, "citizen:340104199003077311", limit)
					if err != nil {
						t.Error(err)
						return
					}
					if wait == 0 {
						mu.Lock()
						allowed++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if allowed != limit.Burst {
				t.Fatalf("%d changes allowed, want the burst of %d", allowed, limit.Burst)
			}
		})
	}
}

// TestMemoryRefillAndSweep: on a moved clock, a bucket refills one change
// per interval, and the sweep forgets buckets that are full again.
func TestMemoryRefillAndSweep(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	b := NewMemoryBuckets(func() time.Time { return now })
	l := Limit{PerSecond: 1, Burst: 2}
	for range 2 {
		if wait, _ := b.Allow(ctx, "caller:a", l); wait != 0 {
			t.Fatal("burst refused")
		}
	}
	if wait, _ := b.Allow(ctx, "caller:a", l); wait != time.Second {
		t.Fatalf("retry hint %v, want 1s", wait)
	}
	now = now.Add(time.Second)
	if wait, _ := b.Allow(ctx, "caller:a", l); wait != 0 {
		t.Fatal("no refill after one interval")
	}
	if wait, _ := b.Allow(ctx, "caller:a", l); wait != time.Second {
		t.Fatalf("refilled more than one change: wait %v", wait)
	}
	b.Allow(ctx, "caller:b", l)
	now = now.Add(sweepEvery + time.Second)
	b.Allow(ctx, "caller:c", l)
	b.mu.Lock()
	n := len(b.tat)
	b.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d keys kept after the sweep, want only the one just used", n)
	}
}

// overrideStores are the Overrides under test: a file, and a Redis hash.
func overrideStores(t *testing.T) map[string]Overrides {
	f, err := OpenFileOverrides(filepath.Join(t.TempDir(), "ratelimits.json"))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Overrides{"file": f, "redis": NewRedisOverrides(redisClient(t), "330604")}
}

// TestOverrides: put, get, list in key order, replace returning the old
// one, delete returning it, and nothing for an unknown key.
func TestOverrides(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	a := Override{Key: "caller:clerk1", Limit: Limit{PerSecond: 5, Burst: 10}, Note: "窗口", Actor: "admin", Time: at}
	c := Override{Key: "citizen:340104199003077311", Exempt: true, Actor: "admin", Time: at}
	for name, o := range overrideStores(t) {
		t.Run(name, func(t *testing.T) {
			for _, v := range []Override{c, a} {
				if prev, err := o.Put(ctx, v); err != nil || prev != nil {
					t.Fatalf("put %s: %v, %v", v.Key, prev, err)
				}
			}
			got, err := o.Get(ctx, "caller:clerk1", "caller:nobody")
			if err != nil || len(got) != 1 || !got["caller:clerk1"].Time.Equal(at) || got["caller:clerk1"].Limit != a.Limit || got["caller:clerk1"].Note != "窗口" {
				t.Fatalf("get = %v, %v", got, err)
			}
			list, err := o.List(ctx)
			if err != nil || len(list) != 2 || list[0].Key != a.Key || list[1].Key != c.Key || !list[1].Exempt {
				t.Fatalf("list = %v, %v", list, err)
			}
			b := a
			b.Limit.Burst = 20
			if prev, err := o.Put(ctx, b); err != nil || prev == nil || prev.Limit.Burst != 10 {
				t.Fatalf("replace: previous %v, %v", prev, err)
			}
			if prev, err := o.Delete(ctx, a.Key); err != nil || prev == nil || prev.Limit.Burst != 20 {
				t.Fatalf("delete: %v, %v", prev, err)
			}
			if prev, err := o.Delete(ctx, a.Key); err != nil || prev != nil {
				t.Fatalf("delete again: %v, %v", prev, err)
			}
		})
	}
}

// TestFileOverridesReopen: the overrides are read back from the file, and
// a corrupt file stops the open with its name.
func TestFileOverridesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ratelimits.json")
	f, err := OpenFileOverrides(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Put(ctx, Override{Key: "caller:clerk1", Limit: Limit{PerSecond: 2, Burst: 4}, Actor: "admin"})
	f.Put(ctx, Override{Key: "caller:clerk2", Exempt: true, Actor: "admin"})
	f.Delete(ctx, "caller:clerk2")
	again, err := OpenFileOverrides(path)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := again.List(ctx)
	if len(list) != 1 || list[0].Key != "caller:clerk1" || list[0].Limit.Burst != 4 {
		t.Fatalf("after reopening: %v", list)
	}
	os.WriteFile(path, []byte("{not json"), 0o600)
	if _, err := OpenFileOverrides(path); err == nil {
		t.Fatal("a corrupt file was accepted")
	}
}

// TestRedisKeys: a division's buckets and overrides lie under its hash
// tag, and a bucket expires once it is full again.
func TestRedisKeys(t *testing.T) {
	ctx := context.Background()
	c := redisClient(t)
	NewRedisBuckets(c, "330604").Allow(ctx, "caller:clerk1", Limit{PerSecond: 1, Burst: 5})
	NewRedisOverrides(c, "330604").Put(ctx, Override{Key: "caller:clerk1", Exempt: true})
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"rate:{epermit:330604}:ratelimit:caller:clerk1": true, "{epermit:330604}:ratelimit:overrides": true}
	for _, k := range keys {
		if !want[k] {
			t.Errorf("unexpected key %q", k)
		}
		delete(want, k)
	}
	if len(want) > 0 {
		t.Errorf("missing keys %v", want)
	}
	if ttl := c.TTL(ctx, "rate:{epermit:330604}:ratelimit:caller:clerk1").Val(); ttl <= 0 || ttl > time.Second {
		t.Errorf("bucket TTL %v, want at most the one second until it is full", ttl)
	}
}

// TestRedisCluster: buckets and overrides work on a Redis Cluster of three
// masters.
func TestRedisCluster(t *testing.T) {
	ctx := context.Background()
	o, err := goredis.ParseClusterURL(redistest.StartCluster(t, 3))
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClusterClient(o)
	t.Cleanup(func() { c.Close() })
	l := New(Config{Buckets: NewRedisBuckets(c, "310107"), Overrides: NewRedisOverrides(c, "310107"), Caller: slow})
	for range slow.Burst {
		if err := l.Check(ctx, "clerk1", ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Check(ctx, "clerk1", ""); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("beyond the burst: %v", err)
	}
	if _, err := l.SetOverride(ctx, Override{Key: "caller:clerk1", Exempt: true}); err != nil {
		t.Fatal(err)
	}
	if err := l.Check(ctx, "clerk1", ""); err != nil {
		t.Fatalf("exempt: %v", err)
	}
}

// TestCheck: the caller's limit, then the citizen's; a refusal names its
// limit and carries a retry hint; a caller refused takes nothing from the
// citizen; overrides replace the default or exempt; a limit of 0 is off.
func TestCheck(t *testing.T) {
	ctx := context.Background()
	for name, b := range backends(t) {
		t.Run(name, func(t *testing.T) {
			f, err := OpenFileOverrides(filepath.Join(t.TempDir(), "o.json"))
			if err != nil {
				t.Fatal(err)
			}
			l := New(Config{Buckets: b, Overrides: f, Caller: Limit{PerSecond: 1.0 / 3600, Burst: 2}, Citizen: slow})
			const citizen = "340104199003077311"
			for range 2 {
				if err := l.Check(ctx, "clerk1", citizen); err != nil {
					t.Fatal(err)
				}
			}
			// clerk1 is out; its refused change takes nothing from the citizen.
			expectRefusal(t, l.Check(ctx, "clerk1", citizen), Caller)
			if err := l.Check(ctx, "clerk2", citizen); err != nil {
				t.Fatalf("the citizen's third change: %v", err)
			}
			expectRefusal(t, l.Check(ctx, "clerk3", citizen), Citizen)
			if err := l.Check(ctx, "clerk3", "110101199003074514"); err != nil {
				t.Fatalf("another citizen: %v", err)
			}
			// Overrides: clerk1 gets a larger burst, the citizen is exempt.
			l.SetOverride(ctx, Override{Key: Key(Caller, "clerk1"), Limit: Limit{PerSecond: 1.0 / 3600, Burst: 4}})
			l.SetOverride(ctx, Override{Key: Key(Citizen, citizen), Exempt: true})
			for range 2 {
				if err := l.Check(ctx, "clerk1", citizen); err != nil {
					t.Fatalf("with the overrides: %v", err)
				}
			}
			expectRefusal(t, l.Check(ctx, "clerk1", ""), Caller)
			// Reset refills.
			if err := l.Reset(ctx, Key(Caller, "clerk1")); err != nil {
				t.Fatal(err)
			}
			if err := l.Check(ctx, "clerk1", ""); err != nil {
				t.Fatalf("after the reset: %v", err)
			}
			// A default of 0 is off.
			off := New(Config{Buckets: b, Overrides: f})
			for range 10 {
				if err := off.Check(ctx, "clerk9", "110101199003074514"); err != nil {
					t.Fatalf("limits off: %v", err)
				}
			}
		})
	}
}

// expectRefusal checks that err is RESOURCE_EXHAUSTED naming limit, with a
// retry hint.
func expectRefusal(t *testing.T, err error, limit string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("got %v, want ResourceExhausted of the %s limit", err, limit)
	}
	var retry, named bool
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.RetryInfo:
			retry = d.GetRetryDelay().AsDuration() > 0
		case *errdetails.ErrorInfo:
			named = d.GetMetadata()["limit"] == limit
		}
	}
	if !retry || !named {
		t.Fatalf("refusal %v: retry hint %v, names the %s limit %v", err, retry, limit, named)
	}
}

// TestRedisUnreachable: with Redis gone, changes are refused with
// UNAVAILABLE, not let through.
func TestRedisUnreachable(t *testing.T) {
	srv := redistest.Start(t)
	o, _ := goredis.ParseURL(srv.URL())
	o.MaxRetries = -1
	c := goredis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	l := New(Config{Buckets: NewRedisBuckets(c, "330604"), Overrides: NewRedisOverrides(c, "330604"), Caller: slow})
	ctx := context.Background()
	if err := l.Check(ctx, "clerk1", ""); err != nil {
		t.Fatal(err)
	}
	srv.Stop(syscall.SIGKILL)
	if err := l.Check(ctx, "clerk1", ""); status.Code(err) != codes.Unavailable {
		t.Fatalf("with Redis down: %v, want Unavailable", err)
	}
}
