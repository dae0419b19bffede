package bolt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/storetest"
)

// render writes a citizen's permits, each id followed by + when not final
// and - when final.
func render(ids []string, nonFinal []bool) string {
	var parts []string
	for i, id := range ids {
		if nonFinal[i] {
			parts = append(parts, id+"+")
		} else {
			parts = append(parts, id+"-")
		}
	}
	return strings.Join(parts, " ")
}

// factsCases are permits, encoded, whose holder, status and status index
// factsOf must read as proto.Unmarshal does.
func factsCases(t testing.TB) map[string][]byte {
	t.Helper()
	marshal := func(p *epermitv1.Permit) []byte {
		b, err := marshalOptions.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	p := storetest.NewPermit(storetest.PermitID(1), storetest.CitizenID(1))
	cancelled := storetest.NewPermit(storetest.PermitID(2), storetest.CitizenID(2))
	cancelled.Status = epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED
	noHolder := storetest.NewPermit(storetest.PermitID(3), "")
	noHolder.Holder = nil
	holder := func(citizen string) []byte {
		b := protowire.AppendTag(nil, fieldCitizenID, protowire.BytesType)
		return protowire.AppendString(b, citizen)
	}
	field := func(num protowire.Number, v []byte) []byte {
		b := protowire.AppendTag(nil, num, protowire.BytesType)
		return protowire.AppendBytes(b, v)
	}
	status := func(v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(nil, fieldStatus, protowire.VarintType), v)
	}
	index := func(v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(nil, fieldStatusIndex, protowire.VarintType), v)
	}
	indexed := proto.CloneOf(p)
	indexed.StatusIndex = proto.Uint32(4321)
	return map[string][]byte{
		"active":    marshal(p),
		"cancelled": marshal(cancelled),
		"no holder": marshal(noHolder),
		"empty":     {},
		// Occurrences of the holder merge; the last citizen id wins.
		"two holders":               slices.Concat(marshal(p), field(fieldHolder, holder(storetest.CitizenID(9)))),
		"holder without citizen id": slices.Concat(marshal(p), field(fieldHolder, nil)),
		"empty citizen id last":     slices.Concat(marshal(p), field(fieldHolder, holder(""))),
		// The last status wins, unknown values and negative ones included.
		"status twice":     slices.Concat(marshal(cancelled), status(uint64(epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE))),
		"negative status":  slices.Concat(marshal(cancelled), status(^uint64(0))),
		"unknown field":    slices.Concat(marshal(cancelled), field(999, []byte("x"))),
		"holder as varint": slices.Concat(marshal(p), protowire.AppendVarint(protowire.AppendTag(nil, fieldHolder, protowire.VarintType), 7)),
		"status index":     marshal(indexed),
		// The last index wins; a varint beyond 32 bits is truncated.
		"status index twice": slices.Concat(marshal(indexed), index(17)),
		"status index 0":     slices.Concat(marshal(p), index(0)),
		"wide status index":  slices.Concat(marshal(p), index(1<<40+5)),
	}
}

func TestFactsOf(t *testing.T) {
	for name, data := range factsCases(t) {
		t.Run(name, func(t *testing.T) { checkFactsOf(t, data) })
	}
	for _, bad := range [][]byte{{0x12}, {0x12, 5, 1}, {0x12, 2, 0x12, 9}, {0xff}} {
		if _, err := factsOf(bad); err == nil {
			t.Errorf("factsOf(%x) accepted malformed data", bad)
		}
	}
}

// FuzzFactsOf checks factsOf against proto.Unmarshal on any input that
// proto.Unmarshal accepts.
func FuzzFactsOf(f *testing.F) {
	for _, data := range factsCases(f) {
		f.Add(data)
	}
	f.Fuzz(checkFactsOf)
}

// checkFactsOf fails the test when proto.Unmarshal accepts data and
// factsOf does not read from it the same holder, status and status index.
func checkFactsOf(t *testing.T, data []byte) {
	p := new(epermitv1.Permit)
	if proto.Unmarshal(data, p) != nil {
		return
	}
	f, err := factsOf(data)
	if err != nil || string(f.citizen) != p.GetHolder().GetCitizenId() || f.status != p.GetStatus() ||
		f.hasIndex != (p.StatusIndex != nil) || f.index != p.GetStatusIndex() {
		t.Fatalf("factsOf(%x) = %q %v %d %v, %v; proto.Unmarshal reads %q %v %d %v", data, f.citizen, f.status, f.index, f.hasIndex, err,
			p.GetHolder().GetCitizenId(), p.GetStatus(), p.GetStatusIndex(), p.StatusIndex != nil)
	}
}

// indexOfFile is the citizen index as it should be for the permits in tx,
// found by decoding every permit whole: citizen id -> rendered permits.
func indexOfFile(tx *bbolt.Tx) (map[string]string, error) {
	current := map[string]*epermitv1.Permit{}
	err := tx.Bucket(bucketPermits).ForEach(func(k, v []byte) error {
		id, _, ok := splitPermitKey(k)
		if !ok {
			return fmt.Errorf("malformed key %q", k)
		}
		p, err := unmarshalPermit(string(id), v)
		current[string(id)] = p // keys sort by version: the last one stays
		return err
	})
	if err != nil {
		return nil, err
	}
	ids := map[string][]string{}
	nonFinal := map[string][]bool{}
	for _, id := range slices.Sorted(maps.Keys(current)) {
		p := current[id]
		c := p.GetHolder().GetCitizenId()
		ids[c] = append(ids[c], id)
		nonFinal[c] = append(nonFinal[c], !store.IsFinal(p.GetStatus()))
	}
	out := map[string]string{}
	for c := range ids {
		out[c] = render(ids[c], nonFinal[c])
	}
	return out, nil
}

// indexInFile is the citizens bucket in tx: citizen id -> rendered permits.
func indexInFile(tx *bbolt.Tx) (map[string]string, error) {
	ids := map[string][]string{}
	nonFinal := map[string][]bool{}
	err := tx.Bucket(bucketCitizens).ForEach(func(k, v []byte) error {
		c, id, ok := strings.Cut(string(k), "\x00")
		if !ok || len(v) != 1 || v[0] > flagNonFinal {
			return fmt.Errorf("malformed citizens entry %q=%x", k, v)
		}
		ids[c] = append(ids[c], id)
		nonFinal[c] = append(nonFinal[c], v[0] == flagNonFinal)
		return nil
	})
	out := map[string]string{}
	for c := range ids {
		out[c] = render(ids[c], nonFinal[c])
	}
	return out, err
}

// checkIndex fails the test unless the citizens bucket is exactly what the
// permits in the file say.
func checkIndex(t *testing.T, s *Store) {
	t.Helper()
	var got, want map[string]string
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		if want, err = indexOfFile(tx); err != nil {
			return err
		}
		got, err = indexInFile(tx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Fatalf("citizen index differs from the permits:\n got %q\nwant %q", got, want)
	}
}

// reopen closes s and opens its file again with opts; the new store is
// closed when t ends.
func reopen(t *testing.T, s *Store, opts *Options) *Store {
	t.Helper()
	path := s.db.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, opts)
	t.Cleanup(func() { s.Close() })
	return s
}

// writeNext writes p at its next version, changed by change, and returns
// the new version, or fails the test.
func writeNext(t *testing.T, s *Store, p *epermitv1.Permit, change func(*epermitv1.Permit)) *epermitv1.Permit {
	t.Helper()
	q := proto.CloneOf(p)
	q.Version++
	change(q)
	if err := s.WritePermit(t.Context(), store.PermitWrite{PrevVersion: p.GetVersion(), Permit: q}); err != nil {
		t.Fatalf("WritePermit(%s v%d): %v", q.GetId(), q.GetVersion(), err)
	}
	return q
}

func setStatus(st epermitv1.PermitStatus) func(*epermitv1.Permit) {
	return func(p *epermitv1.Permit) { p.Status = st }
}

func setHolder(citizen string) func(*epermitv1.Permit) {
	return func(p *epermitv1.Permit) { p.Holder.CitizenId = citizen }
}

// wantRefused fails the test unless a new permit for the citizen is refused
// naming the permit id.
func wantRefused(t *testing.T, s *Store, citizen, permitID string) {
	t.Helper()
	err := s.WritePermit(t.Context(), store.PermitWrite{Permit: storetest.NewPermit(storetest.PermitID(999_999), citizen)})
	var ae *store.ActivePermitError
	if !errors.As(err, &ae) || ae.PermitID != permitID {
		t.Fatalf("new permit for %s: %v, want an ActivePermitError naming %s", citizen, err, permitID)
	}
}

// listIDs returns the ids of the citizen's permits, listed by the store.
func listIDs(t *testing.T, s *Store, citizen string) []string {
	t.Helper()
	ps, err := s.ListPermits(t.Context(), store.PermitFilter{CitizenID: citizen}, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range ps {
		ids = append(ids, p.GetId())
	}
	return ids
}

// TestOneActivePermitFiftyWriters races 50 writers that each try to give
// the same citizen a non-final permit: new permits, the citizen's own
// final permits made active again, and other citizens' active permits
// moved to it. Exactly one wins, whether the writes share transactions or
// not, and the index says so before and after a reopen.
func TestOneActivePermitFiftyWriters(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts *Options
	}{
		{"default", nil},
		{"one transaction", &Options{MaxBatchDelay: 300 * time.Millisecond}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tempStore(t, nil)
			c := storetest.CitizenID(7)
			var writes []store.PermitWrite
			var mine []string // the citizen's permits before the race
			for i := range 10 {
				old := create(t, s, 100+i, "")
				old = writeNext(t, s, old, setHolder(c))
				old = writeNext(t, s, old, setStatus(epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED))
				mine = append(mine, old.GetId())
				revive := proto.CloneOf(old)
				revive.Version++
				revive.Status = epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE
				writes = append(writes, store.PermitWrite{PrevVersion: old.GetVersion(), Permit: revive})

				other := create(t, s, 200+i, "")
				move := proto.CloneOf(other)
				move.Version++
				move.Holder.CitizenId = c
				writes = append(writes, store.PermitWrite{PrevVersion: other.GetVersion(), Permit: move})
			}
			for i := range 30 {
				writes = append(writes, store.PermitWrite{Permit: storetest.NewPermit(storetest.PermitID(300+i), c)})
			}
			s = reopen(t, s, tt.opts) // the setup did not wait for a batch delay
			tx0 := lastTx(t, s)
			errs := make([]error, len(writes))
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, w := range writes {
				wg.Go(func() {
					<-start
					errs[i] = s.WritePermit(context.Background(), w)
				})
			}
			close(start)
			wg.Wait()
			t.Logf("%d writes in %d commits", len(writes), lastTx(t, s)-tx0)

			winner := ""
			for i, err := range errs {
				if err == nil {
					if winner != "" {
						t.Fatalf("two writes won: %s and %s", winner, writes[i].Permit.GetId())
					}
					winner = writes[i].Permit.GetId()
				}
			}
			if winner == "" {
				t.Fatal("no write won")
			}
			for i, err := range errs {
				var ae *store.ActivePermitError
				if err != nil && (!errors.As(err, &ae) || ae.PermitID != winner) {
					t.Fatalf("write %d (%s): %v, want an ActivePermitError naming %s", i, writes[i].Permit.GetId(), err, winner)
				}
			}
			want := slices.Sorted(slices.Values(append(mine, winner)))
			want = slices.Compact(want) // a revived permit was the citizen's already
			check := func(s *Store) {
				t.Helper()
				checkIndex(t, s)
				if got := listIDs(t, s, c); !slices.Equal(got, want) {
					t.Fatalf("ListPermits(%s) = %v, want %v", c, got, want)
				}
				wantRefused(t, s, c, winner)
			}
			check(s)
			check(reopen(t, s, nil))
		})
	}
}

// permitCall returns a call that runs w as WritePermit does, and where the
// call's refusal goes.
func permitCall(t *testing.T, w store.PermitWrite) (*call, *error) {
	t.Helper()
	c, err := newChange(w)
	if err != nil {
		t.Fatal(err)
	}
	refused := new(error)
	cl := &call{done: make(chan error, 1), fn: func(tx *bbolt.Tx) error {
		var err error
		*refused, err = c.apply(tx)
		return err
	}}
	return cl, refused
}

// outcome returns what WritePermit would have returned for cl.
func outcome(cl *call, refused *error) error {
	if err := <-cl.done; err != nil {
		return err
	}
	return *refused
}

// TestIndexFailedWriteRetriedAlone runs one transaction whose second write
// fails after writing its index entry: the transaction is rolled back,
// the failed write runs alone and fails again, the others run together,
// and the index holds the committed writes only, the refusal of the last
// write by the first one in the same transaction included.
func TestIndexFailedWriteRetriedAlone(t *testing.T) {
	s := tempStore(t, nil)
	cA, cB := storetest.CitizenID(1), storetest.CitizenID(2)
	w1, r1 := permitCall(t, store.PermitWrite{Permit: storetest.NewPermit(storetest.PermitID(1), cA)})
	// A request id longer than bbolt's largest key fails the write after
	// its permit and its index change.
	failing, rf := permitCall(t, store.PermitWrite{
		RequestID: strings.Repeat("r", bbolt.MaxKeySize+1),
		Permit:    storetest.NewPermit(storetest.PermitID(2), cB),
	})
	w2, r2 := permitCall(t, store.PermitWrite{Permit: storetest.NewPermit(storetest.PermitID(3), cB)})
	w3, r3 := permitCall(t, store.PermitWrite{Permit: storetest.NewPermit(storetest.PermitID(4), cA)})
	tx0 := lastTx(t, s)
	// The commit loop is idle: commit runs here as it would there.
	s.writes.commit([]*call{w1, failing, w2, w3})

	if err := outcome(w1, r1); err != nil {
		t.Fatalf("first write: %v", err)
	}
	if err := outcome(failing, rf); err == nil || !errors.Is(err, bolterrors.ErrKeyTooLarge) {
		t.Fatalf("failing write: %v, want its own ErrKeyTooLarge", err)
	}
	if err := outcome(w2, r2); err != nil {
		t.Fatalf("write after the failing one, for the same citizen: %v", err)
	}
	var ae *store.ActivePermitError
	if err := outcome(w3, r3); !errors.As(err, &ae) || ae.PermitID != storetest.PermitID(1) {
		t.Fatalf("second permit for the first write's citizen: %v, want an ActivePermitError naming %s", err, storetest.PermitID(1))
	}
	if n := lastTx(t, s) - tx0; n != 1 {
		t.Fatalf("%d commits, want 1: the failed write's and the rolled back one commit nothing", n)
	}
	check := func(s *Store) {
		t.Helper()
		wantIndex(t, s, cA+": "+storetest.PermitID(1)+"+", cB+": "+storetest.PermitID(3)+"+")
		checkIndex(t, s)
		if _, err := s.GetPermit(t.Context(), storetest.PermitID(2)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetPermit of the failed write's permit: %v, want ErrNotFound", err)
		}
		wantRefused(t, s, cB, storetest.PermitID(3))
	}
	check(s)
	check(reopen(t, s, nil))
}

// TestIndexWithinTransaction runs, in one transaction, writes that depend
// on the index changes of the writes before them: a permit made final or
// moved away frees its citizen, a permit moved in takes its new one.
func TestIndexWithinTransaction(t *testing.T) {
	s := tempStore(t, nil)
	cA, cB, cC, cD := storetest.CitizenID(1), storetest.CitizenID(2), storetest.CitizenID(3), storetest.CitizenID(4)
	p1 := create(t, s, 1, "")
	p2 := create(t, s, 2, "")
	next := func(p *epermitv1.Permit, change func(*epermitv1.Permit)) store.PermitWrite {
		q := proto.CloneOf(p)
		q.Version++
		change(q)
		return store.PermitWrite{PrevVersion: p.GetVersion(), Permit: q}
	}
	fresh := func(n int, citizen string) store.PermitWrite {
		return store.PermitWrite{Permit: storetest.NewPermit(storetest.PermitID(n), citizen)}
	}
	cancel1 := next(p1, setStatus(epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED))
	move2 := next(p2, setHolder(cC))
	writes := []struct {
		w       store.PermitWrite
		refused string // the permit named by the refusal, "" for none
	}{
		{fresh(3, cA), p1.GetId()}, // cA holds p1
		{cancel1, ""},              // cA is free
		{fresh(4, cA), ""},         // so p4 is its one non-final permit
		{fresh(5, cA), storetest.PermitID(4)},
		{move2, ""},                // p2 moves from cB to cC
		{fresh(6, cC), p2.GetId()}, // cC holds p2
		{fresh(7, cB), ""},         // cB is free
		{next(cancel1.Permit, setStatus(epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE)), storetest.PermitID(4)},
		{next(move2.Permit, setHolder(cD)), ""}, // p2 moves on, from cC to cD
		{fresh(8, cC), ""},                      // cC is free again
	}
	var calls []*call
	var refusals []*error
	for _, w := range writes {
		cl, refused := permitCall(t, w.w)
		calls, refusals = append(calls, cl), append(refusals, refused)
	}
	tx0 := lastTx(t, s)
	s.writes.commit(calls) // the commit loop is idle
	if n := lastTx(t, s) - tx0; n != 1 {
		t.Fatalf("%d commits, want 1", n)
	}
	for i, w := range writes {
		err := outcome(calls[i], refusals[i])
		var ae *store.ActivePermitError
		switch {
		case w.refused == "" && err != nil:
			t.Errorf("write %d (%s): %v", i, w.w.Permit.GetId(), err)
		case w.refused != "" && (!errors.As(err, &ae) || ae.PermitID != w.refused):
			t.Errorf("write %d (%s): %v, want an ActivePermitError naming %s", i, w.w.Permit.GetId(), err, w.refused)
		}
	}
	want := []string{
		cA + ": " + p1.GetId() + "- " + storetest.PermitID(4) + "+",
		cB + ": " + storetest.PermitID(7) + "+",
		cC + ": " + storetest.PermitID(8) + "+",
		cD + ": " + p2.GetId() + "+",
	}
	wantIndex(t, s, want...)
	checkIndex(t, s)
	wantIndex(t, reopen(t, s, nil), want...)
}

// TestIndexCommitFailure makes commits fail: the index loses the changes
// of a transaction that bbolt rolled back, and has those of one that
// reached the file although its commit reported an error (a failed
// fdatasync of the meta page).
func TestIndexCommitFailure(t *testing.T) {
	errInjected := errors.New("injected commit failure")
	for _, tt := range []struct {
		name   string
		update func(db *bbolt.DB) func(func(*bbolt.Tx) error) error
		landed bool
	}{
		{"rolled back", func(db *bbolt.DB) func(func(*bbolt.Tx) error) error {
			return func(fn func(*bbolt.Tx) error) error {
				return db.Update(func(tx *bbolt.Tx) error {
					if err := fn(tx); err != nil {
						return err
					}
					return errInjected
				})
			}
		}, false},
		{"landed", func(db *bbolt.DB) func(func(*bbolt.Tx) error) error {
			return func(fn func(*bbolt.Tx) error) error {
				if err := db.Update(fn); err != nil {
					return err
				}
				return errInjected
			}
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tempStore(t, nil)
			ctx := t.Context()
			held := create(t, s, 1, "")
			moved := create(t, s, 2, "")
			c1, c3 := storetest.CitizenID(1), storetest.CitizenID(3)

			// While the commit loop waits for writes, its update may change.
			s.writes.update = tt.update(s.db)
			fresh := storetest.NewPermit(storetest.PermitID(3), c3)
			if err := s.WritePermit(ctx, store.PermitWrite{Permit: fresh}); !errors.Is(err, errInjected) {
				t.Fatalf("WritePermit: %v, want the injected failure", err)
			}
			move := proto.CloneOf(moved)
			move.Version++
			move.Holder.CitizenId = c1
			move.Status = epermitv1.PermitStatus_PERMIT_STATUS_SUPERSEDED
			if err := s.WritePermit(ctx, store.PermitWrite{PrevVersion: 1, Permit: move}); !errors.Is(err, errInjected) {
				t.Fatalf("WritePermit: %v, want the injected failure", err)
			}
			s.writes.update = s.db.Update

			checkIndex(t, s)
			if tt.landed {
				wantIndex(t, s, c1+": "+held.GetId()+"+ "+moved.GetId()+"-", c3+": "+fresh.GetId()+"+")
				wantRefused(t, s, c3, fresh.GetId())
			} else {
				wantIndex(t, s, c1+": "+held.GetId()+"+", storetest.CitizenID(2)+": "+moved.GetId()+"+")
				create(t, s, 3, "")
			}
			checkIndex(t, reopen(t, s, nil))
		})
	}
}

// TestCitizenListSnapshot lists citizens' permits while writers move
// permits between them and add new ones, and compares each listing with
// the permits the same snapshot gives the citizen.
func TestCitizenListSnapshot(t *testing.T) {
	s := tempStore(t, &Options{NoSync: true})
	const citizens, writers, rounds = 4, 4, 150
	citizen := func(i int) string { return storetest.CitizenID(i % citizens) }
	var done atomic.Bool
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			ctx := context.Background()
			// Final permits move freely: the rule does not hold them back.
			p := storetest.NewPermit(storetest.PermitID(w), citizen(w))
			p.Status = epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED
			if err := s.WritePermit(ctx, store.PermitWrite{Permit: p}); err != nil {
				t.Error(err)
				return
			}
			for i := range rounds {
				q := proto.CloneOf(p)
				q.Version++
				q.Holder.CitizenId = citizen(w + i + 1)
				if err := s.WritePermit(ctx, store.PermitWrite{PrevVersion: p.GetVersion(), Permit: q}); err != nil {
					t.Error(err)
					return
				}
				p = q
				n := storetest.NewPermit(storetest.PermitID(1000+w*rounds+i), citizen(i))
				n.Status = epermitv1.PermitStatus_PERMIT_STATUS_SUPERSEDED
				if err := s.WritePermit(ctx, store.PermitWrite{Permit: n}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var readers sync.WaitGroup
	var lists atomic.Int64
	for r := range 2 {
		readers.Go(func() {
			for i := r; !done.Load(); i++ {
				c := citizen(i)
				tx, err := s.db.Begin(false)
				if err != nil {
					t.Error(err)
					return
				}
				var got []*epermitv1.Permit
				err = listCitizen(tx, c, "", 1<<30, &got)
				var file map[string]string
				if err == nil {
					file, err = indexOfFile(tx)
				}
				tx.Rollback()
				if err != nil {
					t.Error(err)
					return
				}
				want := file[c]
				var ids []string
				for _, p := range got {
					ids = append(ids, p.GetId()+"-")
				}
				if strings.Join(ids, " ") != want {
					t.Errorf("listing of %s = %q, its snapshot holds %q", c, ids, want)
					return
				}
				lists.Add(1)
			}
		})
	}
	wg.Wait()
	done.Store(true)
	readers.Wait()
	t.Logf("%d listings checked", lists.Load())
	checkIndex(t, s)
}

// kill9Env names the file that the test binary, started by TestKill9,
// writes to until it is killed.
const kill9Env = "EPERMIT_BOLT_KILL9_FILE"

// TestKill9 kills a process with SIGKILL while it writes permits (issues,
// cancellations and reissues for the same citizens), reopens its file and
// checks that every acknowledged write is there and that the citizen
// index is exactly what the permits say.
func TestKill9(t *testing.T) {
	path := filepath.Join(t.TempDir(), "epermit.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), kill9Env+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]string{} // permit id -> "citizen status", as last acknowledged
	lines := bufio.NewScanner(out)
	n := 0
	for ; lines.Scan(); n++ {
		f := strings.Fields(lines.Text())
		if len(f) != 3 {
			t.Fatalf("child wrote %q", lines.Text())
		}
		acked[f[0]] = f[1] + " " + f[2]
		if n == 300 {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The lines written before the kill are acknowledged writes too.
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child: %v, want killed", err)
	}
	if n < 300 {
		t.Fatalf("child acknowledged %d writes before it ended", n)
	}
	t.Logf("child acknowledged %d writes", n)

	s := openTest(t, path, nil)
	t.Cleanup(func() { s.Close() })
	checkIndex(t, s)
	for id, want := range acked {
		p, err := s.GetPermit(t.Context(), id)
		if err != nil {
			t.Fatalf("acknowledged permit %s: %v", id, err)
		}
		citizen, status, _ := strings.Cut(want, " ")
		// A cancellation may have landed unacknowledged, not the reverse.
		if p.GetHolder().GetCitizenId() != citizen || status == "final" && !store.IsFinal(p.GetStatus()) {
			t.Fatalf("acknowledged permit %s: %s %v, want %s", id, p.GetHolder().GetCitizenId(), p.GetStatus(), want)
		}
		if !slices.Contains(listIDs(t, s, citizen), id) {
			t.Fatalf("ListPermits(%s) misses acknowledged permit %s", citizen, id)
		}
	}
}

// kill9Child writes permits to the store at path from 16 goroutines until
// the process is killed, printing "permit-id citizen-id active|final" for
// every acknowledged write. It returns only on failure.
func kill9Child(path string) int {
	s, err := Open(path, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	var mu sync.Mutex
	ack := func(p *epermitv1.Permit) {
		status := "active"
		if store.IsFinal(p.GetStatus()) {
			status = "final"
		}
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf("%s %s %s\n", p.GetId(), p.GetHolder().GetCitizenId(), status)
	}
	errs := make(chan error)
	for g := range 16 {
		go func() {
			for k := 0; ; k++ {
				n := (g*100_000 + k) * 2
				first := storetest.NewPermit(storetest.PermitID(n), storetest.CitizenID(n))
				if err := s.WritePermit(ctx, store.PermitWrite{Permit: first}); err != nil {
					errs <- err
					return
				}
				ack(first)
				cancel := proto.CloneOf(first)
				cancel.Version++
				cancel.Status = epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED
				if err := s.WritePermit(ctx, store.PermitWrite{PrevVersion: 1, Permit: cancel}); err != nil {
					errs <- err
					return
				}
				ack(cancel)
				again := storetest.NewPermit(storetest.PermitID(n+1), storetest.CitizenID(n))
				if err := s.WritePermit(ctx, store.PermitWrite{Permit: again}); err != nil {
					errs <- err
					return
				}
				ack(again)
			}
		}()
	}
	fmt.Fprintln(os.Stderr, <-errs)
	return 1
}
