package bolt

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/permitid"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/statuslist"
	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/storetest"
)

// nodeFill is how many permits the node benchmark's file holds before it
// starts timing.
const nodeFill = 30_000

// citizens makes the benchmark citizen ids: random, synthetic, valid, and
// never the same twice, in the filled file or after.
var citizens = citizenid.NewGenerator(1)

// filled is a bbolt file holding nodeFill permits, made once and copied for
// every run of the node benchmark.
var filled struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// TestMain removes the node benchmark's filled file after the run. Started
// by TestKill9, it writes until killed instead.
func TestMain(m *testing.M) {
	if path := os.Getenv(kill9Env); path != "" {
		os.Exit(kill9Child(path))
	}
	code := m.Run()
	if filled.dir != "" {
		os.RemoveAll(filled.dir)
	}
	os.Exit(code)
}

// BenchmarkIssueLikeNode mimics the node's IssuePermit at the store: a file
// of 30,000 permits, 50 concurrent writers, each write a new permit with a
// time-ordered id (permitid.New) for a random citizen id, a time-ordered
// request id and one audit entry, every commit fsync'd. Besides writes/s it
// reports the writes a commit carried and the pages a write dirtied, which
// vary much less from run to run than the disk's fsync time.
func BenchmarkIssueLikeNode(b *testing.B) {
	benchmarkNode(b, timeRequestID)
}

// BenchmarkIssueLikeNodeRandomRequestIDs is BenchmarkIssueLikeNode with
// random request ids, as from clients that do not start them with the time.
func BenchmarkIssueLikeNodeRandomRequestIDs(b *testing.B) {
	benchmarkNode(b, func() string { return rand.Text() })
}

func benchmarkNode(b *testing.B, requestID func() string) {
	filled.once.Do(func() { filled.dir, filled.path, filled.err = fillNodeFile() })
	if filled.err != nil {
		b.Fatal(filled.err)
	}
	path := filepath.Join(b.TempDir(), "epermit.db")
	if err := copyFile(path, filled.path); err != nil {
		b.Fatal(err)
	}
	s := openTest(b, path, nil)
	b.Cleanup(func() { s.Close() })
	b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
	tx0 := lastTx(b, s)
	st0 := s.db.Stats()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if err := issue(ctx, s, citizens.Next(), requestID()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
	commits := float64(lastTx(b, s) - tx0)
	st1 := s.db.Stats()
	d := st1.Sub(&st0)
	b.ReportMetric(float64(b.N)/commits, "writes/commit")
	b.ReportMetric(float64(d.TxStats.GetWrite())/float64(b.N), "pages/write")
}

// fillNodeFile writes nodeFill permits into a new file without fsync, 50
// writers at a time, and returns the folder and the file.
func fillNodeFile() (dir, path string, err error) {
	dir, err = os.MkdirTemp("", "epermit-bench-")
	if err != nil {
		return "", "", err
	}
	path = filepath.Join(dir, "filled.db")
	s, err := Open(path, &Options{NoSync: true})
	if err != nil {
		return dir, "", err
	}
	var n atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for n.Add(1) <= nodeFill {
				if err := issue(context.Background(), s, citizens.Next(), timeRequestID()); err != nil {
					failed.Store(&err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		return dir, "", err
	}
	if e := failed.Load(); e != nil {
		return dir, "", *e
	}
	return dir, path, nil
}

// issue writes a new permit for the citizen under requestID with its audit
// entry and a status-list entry drawn at random from a list of
// statuslist.MinSize entries, as IssuePermit does, drawing again when the
// entry is taken.
func issue(ctx context.Context, s *Store, citizen, requestID string) error {
	for {
		err := issueOnce(ctx, s, citizen, requestID, mathrand.Uint32N(statuslist.MinSize))
		if !errors.Is(err, store.ErrIndexTaken) {
			return err
		}
	}
}

// issueOnce is one attempt of issue, with this status-list entry.
func issueOnce(ctx context.Context, s *Store, citizen, requestID string, index uint32) error {
	id, err := permitid.New("330604")
	if err != nil {
		return err
	}
	p := storetest.NewPermit(id, citizen)
	p.StatusIndex = &index
	now := timestamppb.Now()
	return s.WritePermit(ctx, store.PermitWrite{
		RequestID:   requestID,
		RequestHash: []byte("0123456789abcdef0123456789abcdef"),
		Permit:      p,
		Audit: &epermitv1.AuditEntry{
			Time:      now,
			Actor:     "clerk.test-01",
			Roles:     []epermitv1.Role{epermitv1.Role_ROLE_CLERK},
			Division:  "330604",
			Method:    "/epermit.v1.PermitService/IssuePermit",
			Target:    id,
			RequestId: requestID,
			Outcome:   "OK",
			Purpose:   "居住证办理",
		},
	})
}

// timeRequestID returns a request id that starts with the time in
// milliseconds, in base 36, followed by random characters, so request ids
// made later sort after earlier ones.
func timeRequestID() string {
	return fmt.Sprintf("%09s", strconv.FormatInt(time.Now().UnixMilli(), 36)) + rand.Text()[:16]
}

// copyFile copies the file src to dst and flushes dst to the disk.
func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	// Flushed now, so the timed commits do not pay for the copy.
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// lastTx returns the id of the last committed write transaction.
func lastTx(tb testing.TB, s *Store) int {
	var id int
	if err := s.db.View(func(tx *bbolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		tb.Fatal(err)
	}
	return id
}

// openPermits lists the sizes of the files that BenchmarkOpen opens.
var openPermits = flag.String("open-permits", "10000,100000", "comma-separated `counts` of permits in the files BenchmarkOpen opens")

// BenchmarkOpen measures Open on files of -open-permits permits, with the
// file in the page cache: layout=2 the first open of a layout 2 file,
// which converts it (a fresh copy each time), and layout=3 the open of the
// converted file. Besides the time of an open it reports the heap that
// the open store holds per permit.
func BenchmarkOpen(b *testing.B) {
	for _, field := range strings.Split(*openPermits, ",") {
		n, err := strconv.Atoi(field)
		if err != nil {
			b.Fatalf("-open-permits: %v", err)
		}
		layout2 := filepath.Join(b.TempDir(), fmt.Sprintf("open-%d.db", n))
		if err := fillOpenFile(layout2, n); err != nil {
			b.Fatal(err)
		}
		path := filepath.Join(b.TempDir(), "epermit.db")
		for _, layout := range []string{"2", "3"} {
			b.Run(fmt.Sprintf("permits=%d/layout=%s", n, layout), func(b *testing.B) {
				var held uint64
				for range b.N {
					b.StopTimer()
					if layout == "2" {
						if err := copyFile(path, layout2); err != nil {
							b.Fatal(err)
						}
					}
					before := liveHeap()
					b.StartTimer()
					s := openTest(b, path, nil)
					b.StopTimer()
					held = liveHeap() - before
					if err := s.Close(); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/open")
				b.ReportMetric(float64(held)/float64(n), "heap-B/permit")
			})
		}
	}
}

// liveHeap returns the bytes of live heap objects after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// fillOpenFile makes a layout 2 store file at path holding n permits with
// time-ordered ids and distinct status indices, each of its own random
// citizen, except that every tenth replaces the permit before it: the
// earlier one gets a second, superseded version and the new one its
// citizen. It writes the permits bucket directly, in large transactions,
// without fsync.
func fillOpenFile(path string, n int) error {
	s, err := Open(path, &Options{NoSync: true}) // lays the file out
	if err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{NoSync: true, InitialMmapSize: initialMmapSize})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Update(downgrade); err != nil {
		return err
	}
	gen := citizenid.NewGenerator(3)
	var prev *epermitv1.Permit
	put := func(permits *bbolt.Bucket, p *epermitv1.Permit) error {
		data, err := marshalOptions.Marshal(p)
		if err != nil {
			return err
		}
		return permits.Put(permitKey(p.GetId(), p.GetVersion()), data)
	}
	for done := 0; done < n; {
		err := db.Update(func(tx *bbolt.Tx) error {
			permits := tx.Bucket(bucketPermits)
			permits.FillPercent = 1
			for end := min(done+10_000, n); done < end; done++ {
				id, err := permitid.New("330604")
				if err != nil {
					return err
				}
				var p *epermitv1.Permit
				if done%10 == 9 {
					old := proto.CloneOf(prev)
					old.Version++
					old.Status = epermitv1.PermitStatus_PERMIT_STATUS_SUPERSEDED
					if err := put(permits, old); err != nil {
						return err
					}
					p = storetest.NewPermit(id, prev.GetHolder().GetCitizenId())
				} else {
					p = storetest.NewPermit(id, gen.Next())
				}
				p.StatusIndex = proto.Uint32(uint32(done))
				if err := put(permits, p); err != nil {
					return err
				}
				prev = p
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
