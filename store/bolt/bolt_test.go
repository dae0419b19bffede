package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.etcd.io/bbolt"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		Open: func(t *testing.T) store.Store {
			return openTest(t, filepath.Join(t.TempDir(), "epermit.db"), nil)
		},
		Reopen: func(t *testing.T, s store.Store) store.Store {
			path := s.(*Store).db.Path()
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return openTest(t, path, nil)
		},
	})
}

// openTest opens the store at path or fails the test.
func openTest(tb testing.TB, path string, opts *Options) *Store {
	tb.Helper()
	s, err := Open(path, opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return s
}

// tempStore opens a store in a new temporary folder; it is closed when tb
// ends.
func tempStore(tb testing.TB, opts *Options) *Store {
	tb.Helper()
	s := openTest(tb, filepath.Join(tb.TempDir(), "epermit.db"), opts)
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

// newWrite creates a permit with id n for citizen n, under requestID when
// set.
func newWrite(n int, requestID string) store.PermitWrite {
	w := store.PermitWrite{Permit: storetest.NewPermit(storetest.PermitID(n), storetest.CitizenID(n))}
	if requestID != "" {
		w.RequestID, w.RequestHash = requestID, []byte("hash of "+requestID)
	}
	return w
}

// create writes newWrite(n, requestID) and returns its permit, or fails the
// test. It must run on the test's goroutine.
func create(tb testing.TB, s *Store, n int, requestID string) *epermitv1.Permit {
	tb.Helper()
	w := newWrite(n, requestID)
	if err := s.WritePermit(context.Background(), w); err != nil {
		tb.Fatalf("WritePermit(%s): %v", w.Permit.GetId(), err)
	}
	return w.Permit
}

// writeAll writes newWrite(i, requestID(i)) for every i that next returns
// until it returns false, reporting failures without stopping tb. It is
// safe to call from any goroutine.
func writeAll(tb testing.TB, s *Store, next func() (int, bool), requestID func(int) string) {
	ctx := context.Background()
	for i, ok := next(); ok; i, ok = next() {
		if err := s.WritePermit(ctx, newWrite(i, requestID(i))); err != nil {
			tb.Error(err)
			return
		}
	}
}

func TestOpenFileMode(t *testing.T) {
	s := tempStore(t, nil)
	fi, err := os.Stat(s.db.Path())
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Fatalf("file mode %v, want 0600", mode)
	}
}

func TestOpenLocked(t *testing.T) {
	s := tempStore(t, nil)
	_, err := Open(s.db.Path(), nil)
	if err == nil || !strings.Contains(err.Error(), "is another permitd running on this data folder?") {
		t.Fatalf("second Open: got error %v, want one that asks about another permitd", err)
	}
}

func TestOpenMissingFolder(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "missing", "epermit.db"), nil); err == nil {
		t.Fatal("Open in a missing folder succeeded")
	}
}

// TestOpenAddsBuckets checks that a layout 2 file written before
// applications and service requests existed is converted and gains their
// buckets.
func TestOpenAddsBuckets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "epermit.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range []string{"meta", "permits", "requests", "pending", "pending_permits", "accounts", "tokens", "audit"} {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte("meta")).Put([]byte("layout"), []byte("2"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, nil)
	if err != nil {
		t.Fatalf("Open of a layout 2 file without the newer buckets: %v", err)
	}
	defer s.Close()
	if _, err := s.GetApplication(t.Context(), "A330604-0000000000000"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetApplication on the opened file: %v, want ErrNotFound", err)
	}
	if _, err := s.GetServiceRequest(t.Context(), "S330604-0000000000000"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetServiceRequest on the opened file: %v, want ErrNotFound", err)
	}
	r := storetest.NewServiceRequest(storetest.ServiceRequestID(1), storetest.PermitID(1))
	if err := s.WriteServiceRequest(t.Context(), store.ServiceRequestWrite{Request: r, Event: true}); err != nil {
		t.Fatalf("WriteServiceRequest on the opened file: %v", err)
	}
}

// TestOpenLayout checks that Open lays out a new file and refuses one whose
// layout it does not know.
func TestOpenLayout(t *testing.T) {
	s := tempStore(t, nil)
	var names []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		if v := string(tx.Bucket([]byte("meta")).Get([]byte("layout"))); v != "3" {
			t.Errorf("layout version %q, want 3", v)
		}
		return tx.ForEach(func(name []byte, _ *bbolt.Bucket) error { names = append(names, string(name)); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"accounts", "application_deadlines", "application_states", "applications", "audit", "citizens", "meta", "pending", "pending_permits", "permits", "requests", "service_request_events", "service_request_outbox", "service_requests", "status", "tokens"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("buckets %q, want %q", names, want)
	}

	for _, tt := range []struct {
		name  string
		setup func(tx *bbolt.Tx) error
		want  string
	}{
		{"buckets without a layout version", func(tx *bbolt.Tx) error {
			for _, name := range []string{"permits", "citizens", "active", "requests"} {
				if _, err := tx.CreateBucket([]byte(name)); err != nil {
					return err
				}
			}
			return nil
		}, "has no layout version"},
		{"another layout version", func(tx *bbolt.Tx) error {
			meta, err := tx.CreateBucket([]byte("meta"))
			if err != nil {
				return err
			}
			return meta.Put([]byte("layout"), []byte("4"))
		}, `unknown file layout "4"`},
		{"layout 1, with the citizens bucket", func(tx *bbolt.Tx) error {
			for _, name := range []string{"meta", "permits", "citizens", "requests", "pending", "pending_permits", "accounts", "tokens", "audit"} {
				if _, err := tx.CreateBucket([]byte(name)); err != nil {
					return err
				}
			}
			return tx.Bucket([]byte("meta")).Put([]byte("layout"), []byte("1"))
		}, "file layout 1, from a development version of epermit"},
		{"a missing bucket", func(tx *bbolt.Tx) error {
			meta, err := tx.CreateBucket([]byte("meta"))
			if err != nil {
				return err
			}
			return meta.Put([]byte("layout"), []byte("3"))
		}, "layout 3 but no permits bucket"},
		{"layout 2 with a missing bucket", func(tx *bbolt.Tx) error {
			meta, err := tx.CreateBucket([]byte("meta"))
			if err != nil {
				return err
			}
			return meta.Put([]byte("layout"), []byte("2"))
		}, "layout 2 but no permits bucket"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "epermit.db")
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(tt.setup); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, nil)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Open: %v; want an error naming the file and saying %q", err, tt.want)
			}
		})
	}
}

func TestCloseTwice(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "epermit.db"), nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestOptions(t *testing.T) {
	s := tempStore(t, &Options{MaxBatchDelay: 7, MaxBatchSize: 9, NoSync: true})
	if s.writes.linger != 7 || s.writes.maxSize != 9 || !s.db.NoSync {
		t.Fatalf("options not applied: delay %v, size %d, NoSync %v", s.writes.linger, s.writes.maxSize, s.db.NoSync)
	}
	for _, opts := range []*Options{nil, {}} {
		s := tempStore(t, opts)
		if s.writes.linger != 0 || s.writes.maxSize != DefaultMaxBatchSize || s.db.NoSync {
			t.Fatalf("Open(%+v): delay %v, size %d, NoSync %v; want the defaults", opts, s.writes.linger, s.writes.maxSize, s.db.NoSync)
		}
	}
}

// TestInvalidWrites checks the writes refused before any transaction.
func TestInvalidWrites(t *testing.T) {
	s := tempStore(t, nil)
	ctx := t.Context()
	permit := func(n int, change func(*epermitv1.Permit)) *epermitv1.Permit {
		p := storetest.NewPermit(storetest.PermitID(n), storetest.CitizenID(n))
		change(p)
		return p
	}
	for name, w := range map[string]store.PermitWrite{
		"no permit":         {},
		"no id":             {Permit: permit(1, func(p *epermitv1.Permit) { p.Id = "" })},
		"no holder":         {Permit: permit(2, func(p *epermitv1.Permit) { p.Holder = nil })},
		"no citizen id":     {Permit: permit(3, func(p *epermitv1.Permit) { p.Holder.CitizenId = "" })},
		"NUL in citizen id": {Permit: permit(4, func(p *epermitv1.Permit) { p.Holder.CitizenId = "3401041990\x000101" })},
		"NUL in permit id":  {Permit: permit(8, func(p *epermitv1.Permit) { p.Id = "330604-0000\x00000001" })},
		"version skips":     {Permit: permit(5, func(p *epermitv1.Permit) { p.Version = 2 })},
		"version repeats":   {PrevVersion: 1, Permit: permit(6, func(*epermitv1.Permit) {})},
		"negative version":  {PrevVersion: -1, Permit: permit(7, func(p *epermitv1.Permit) { p.Version = 0 })},
	} {
		w.RequestID = "r"
		if err := s.WritePermit(ctx, w); err == nil {
			t.Errorf("%s: write succeeded", name)
		}
	}
	if _, err := s.Replay(ctx, "r"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Replay after invalid writes: %v, want ErrNotFound", err)
	}
	if ps, err := s.ListPermits(ctx, store.PermitFilter{}, "", 10); err != nil || len(ps) != 0 {
		t.Fatalf("ListPermits after invalid writes: %d permits, %v", len(ps), err)
	}
}

func TestCanceledContext(t *testing.T) {
	s := tempStore(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	p := storetest.NewPermit(storetest.PermitID(1), storetest.CitizenID(1))
	if err := s.WritePermit(ctx, store.PermitWrite{Permit: p}); !errors.Is(err, context.Canceled) {
		t.Fatalf("WritePermit: %v, want context.Canceled", err)
	}
	if _, err := s.GetPermit(ctx, p.GetId()); !errors.Is(err, context.Canceled) {
		t.Fatalf("GetPermit: %v, want context.Canceled", err)
	}
	if _, err := s.GetPermit(t.Context(), p.GetId()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetPermit after canceled write: %v, want ErrNotFound", err)
	}
}

func TestNonPositiveLimit(t *testing.T) {
	s := tempStore(t, nil)
	create(t, s, 1, "")
	for _, limit := range []int{0, -1} {
		if ps, err := s.ListPermits(t.Context(), store.PermitFilter{}, "", limit); err != nil || len(ps) != 0 {
			t.Fatalf("limit %d: %d permits, %v; want none", limit, len(ps), err)
		}
	}
}

func TestRequestRecord(t *testing.T) {
	for _, hash := range [][]byte{nil, {1}, make([]byte, 200)} {
		rec, err := decodeRequest(encodePermitRequest(hash, "330604-X", 7))
		if err != nil || string(rec.hash) != string(hash) || rec.kind != kindPermit || rec.permitID != "330604-X" || rec.version != 7 {
			t.Fatalf("decodeRequest(encodePermitRequest(%x)) = %+v, %v", hash, rec, err)
		}
		for _, kind := range []byte{kindPendingAdded, kindPendingRemoved, kindApplication, kindServiceRequest} {
			rec, err = decodeRequest(encodePendingRequest(kind, hash, []byte("pending bytes")))
			if err != nil || string(rec.hash) != string(hash) || rec.kind != kind || string(rec.pending) != "pending bytes" {
				t.Fatalf("decodeRequest(encodePendingRequest(%d, %x)) = %+v, %v", kind, hash, rec, err)
			}
		}
	}
	for _, rec := range [][]byte{nil, {kindPermit}, {kindPermit, 0x80}, {kindPermit, 5, 1, 2}, {kindPermit, 0, 1, 2}, {9, 0}} {
		if _, err := decodeRequest(rec); err == nil {
			t.Fatalf("decodeRequest(%x) accepted a corrupt record", rec)
		}
	}
}

func TestPermitKey(t *testing.T) {
	for _, tt := range []struct {
		id      string
		version int64
	}{{"330604-0000000000001", 1}, {"x", 1 << 40}} {
		id, version, ok := splitPermitKey(permitKey(tt.id, tt.version))
		if !ok || string(id) != tt.id || version != tt.version {
			t.Fatalf("splitPermitKey(permitKey(%q, %d)) = %q, %d, %v", tt.id, tt.version, id, version, ok)
		}
	}
	for _, k := range []string{"", "12345678", "\x00123456789", "id\x01\x00\x00\x00\x00\x00\x00\x00\x01"} {
		if _, _, ok := splitPermitKey([]byte(k)); ok {
			t.Fatalf("splitPermitKey(%q) accepted a malformed key", k)
		}
	}
}

// TestIndexes looks into the file and the citizen index: as a permit
// changes, the permits bucket keeps every version and the index follows its
// holder and status, the same after a reopen.
func TestIndexes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "epermit.db")
	s := openTest(t, path, nil)
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	c1, c2 := storetest.CitizenID(1), storetest.CitizenID(2)
	p := create(t, s, 1, "r1")
	id := p.GetId()
	version := func(v int64) string { return id + "\x00" + string(binary.BigEndian.AppendUint64(nil, uint64(v))) }
	wantIndex(t, s, c1+": "+id+"+")
	wantKeys(t, s, bucketPermits, version(1)+"=")

	change := func(f func(*epermitv1.Permit)) {
		t.Helper()
		prev := p.GetVersion()
		p.Version++
		f(p)
		if err := s.WritePermit(ctx, store.PermitWrite{PrevVersion: prev, Permit: p}); err != nil {
			t.Fatal(err)
		}
	}
	change(func(p *epermitv1.Permit) { p.Holder.CitizenId = c2 })
	wantIndex(t, s, c2+": "+id+"+")
	change(func(p *epermitv1.Permit) { p.Status = epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED })
	wantIndex(t, s, c2+": "+id+"-")
	change(func(p *epermitv1.Permit) { p.Holder.CitizenId = c1 })
	wantIndex(t, s, c1+": "+id+"-")
	wantKeys(t, s, bucketPermits, version(1)+"=", version(2)+"=", version(3)+"=", version(4)+"=")

	q := create(t, s, 2, "")
	r := create(t, s, 0, "") // sorts before id
	wantIndex(t, s, c1+": "+id+"-", c2+": "+q.GetId()+"+", storetest.CitizenID(0)+": "+r.GetId()+"+")
	change(func(p *epermitv1.Permit) { p.Holder.CitizenId = c2 })
	wantIndex(t, s, c2+": "+id+"- "+q.GetId()+"+", storetest.CitizenID(0)+": "+r.GetId()+"+")
	wantKeys(t, s, bucketRequests, "r1=")

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, nil)
	wantIndex(t, s, c2+": "+id+"- "+q.GetId()+"+", storetest.CitizenID(0)+": "+r.GetId()+"+")
}

// wantIndex fails the test unless the citizen index holds exactly these
// citizens, each written "citizen: id± id± …" with its permits in id order,
// + for not final and - for final.
func wantIndex(t *testing.T, s *Store, want ...string) {
	t.Helper()
	var index map[string]string
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		index, err = indexInFile(tx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for citizen, h := range index {
		got = append(got, citizen+": "+h)
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Fatalf("citizen index = %q, want %q", got, want)
	}
}

// wantKeys fails the test unless the bucket holds exactly these keys, in
// order. A want ending in "=" matches the key with any value; otherwise it
// is key=value.
func wantKeys(t *testing.T, s *Store, bucket []byte, want ...string) {
	t.Helper()
	var got []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			got = append(got, string(k)+"="+string(v))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		if strings.HasSuffix(want[i], "=") {
			ok = strings.HasPrefix(got[i], want[i])
		} else {
			ok = got[i] == want[i]
		}
	}
	if !ok {
		t.Fatalf("bucket %s = %q, want %q", bucket, got, want)
	}
}

// writers is how many goroutines the write benchmarks run, as an
// epermit node under load might.
const writers = 50

// BenchmarkWritePermitParallel measures new permits written by 50
// goroutines, each write durable.
func BenchmarkWritePermitParallel(b *testing.B) {
	benchmarkWrite(b, nil)
}

// BenchmarkWritePermitParallelNoSync is BenchmarkWritePermitParallel without
// fsync.
func BenchmarkWritePermitParallelNoSync(b *testing.B) {
	benchmarkWrite(b, &Options{NoSync: true})
}

// BenchmarkWritePermitSerial measures one writer alone, whose every write
// waits out the batch delay.
func BenchmarkWritePermitSerial(b *testing.B) {
	s := tempStore(b, nil)
	for i := 0; b.Loop(); i++ {
		create(b, s, i, requestID(i))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

// requestID is the request id of the i-th benchmark write.
func requestID(i int) string { return fmt.Sprintf("req-%d", i) }

func benchmarkWrite(b *testing.B, opts *Options) {
	s := tempStore(b, opts)
	var n atomic.Int64
	b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		writeAll(b, s, func() (int, bool) { return int(n.Add(1)), pb.Next() }, requestID)
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

// BenchmarkGetPermitParallel measures reads of random permits among 10,000.
func BenchmarkGetPermitParallel(b *testing.B) {
	s := tempStore(b, &Options{NoSync: true})
	const permits = 10_000
	var wg sync.WaitGroup
	for w := range writers {
		i := w - writers
		wg.Go(func() {
			writeAll(b, s, func() (int, bool) { i += writers; return i, i < permits }, func(int) string { return "" })
		})
	}
	wg.Wait()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := s.GetPermit(ctx, storetest.PermitID(rand.IntN(permits))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
