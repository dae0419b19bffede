package bolt

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
)

// call is one write waiting for a commit.
type call struct {
	fn   func(*bbolt.Tx) error
	done chan error // receives the outcome, once
}

// committer runs writes in shared read-write transactions: one
// transaction and one commit for all the writes that queued while the
// previous commit ran (group commit). It differs from bbolt's DB.Batch in
// when a batch closes. DB.Batch closes a batch a fixed delay after its
// first write and only then waits for the writer lock: with commits slower
// than the delay, a batch holds only the writes of one delay (about 14 of
// 50 writers here), and with a longer delay the lock idles while the delay
// runs out. The committer closes a batch when it can start it, so every
// waiting write joins, and a lone write starts at once.
//
// Under load the committer lingers a little (busyLinger) so that the
// writers of one commit rejoin the next.
//
// A lone write (no linger, nothing queued, nothing committing) commits in
// its caller's goroutine: handing it to the loop and its outcome back
// would make two goroutines wait for a core in turn, each of which can
// take longer than the commit on a busy machine. Writes that come while a
// commit runs queue for the loop as before.
type committer struct {
	db      *bbolt.DB
	maxSize int
	linger  time.Duration
	// update is db.Update; tests replace it to make commits fail.
	update func(func(*bbolt.Tx) error) error

	calls chan *call
	// queued counts the writes sent to the loop that no batch has taken
	// yet; a write commits in its own goroutine only when it is 0.
	queued atomic.Int64
	// committing is held by whoever runs a commit: the loop or a lone
	// write.
	committing sync.Mutex
	// busy is set while the loop's last commit carried at least
	// busyBatch writes: then no write commits alone in its goroutine,
	// which would split the writers that lingering gathers.
	busy atomic.Bool
	wg   sync.WaitGroup
}

// Lingering under load. With 50 writers and no linger, the writes settle
// into two groups that commit in turn: the writers of one commit come back
// while the next runs, and each group pays a commit's two fdatasyncs. When
// the last commit carried at least busyBatch writes, a batch waits up to
// busyLinger for more, so the two groups become one. Measured with
// BenchmarkNode/IssuePermit on the 2-core machine (50 callers over
// loopback gRPC, four alternated rounds), 1 ms raised the calls/s by 6 to
// 16 % and cut the CPU per call by 10 to 19 %; a lone write, or the few of
// a lightly loaded node, never waits.
const (
	busyBatch  = 8
	busyLinger = time.Millisecond
)

// newCommitter starts the commit loop on db. A batch holds at most maxSize
// writes; when fewer are waiting, it waits up to linger for more.
func newCommitter(db *bbolt.DB, maxSize int, linger time.Duration) *committer {
	c := &committer{db: db, maxSize: maxSize, linger: linger, update: db.Update, calls: make(chan *call, maxSize)}
	c.wg.Go(c.loop)
	return c
}

// do runs fn in a shared transaction and returns once that transaction has
// committed (nil) or failed. fn may run more than once: when any write of
// the transaction fails, the transaction is rolled back, the failed write
// runs again alone, so that its failure is its own, and the others run
// again together.
func (c *committer) do(fn func(*bbolt.Tx) error) error {
	cl := &call{fn: fn, done: make(chan error, 1)}
	if c.linger == 0 && !c.busy.Load() && c.queued.Load() == 0 && c.committing.TryLock() {
		c.commit([]*call{cl})
		c.committing.Unlock()
		return <-cl.done
	}
	c.queued.Add(1)
	c.calls <- cl
	return <-cl.done
}

// stop ends the commit loop. No do may run or follow.
func (c *committer) stop() {
	close(c.calls)
	c.wg.Wait()
}

func (c *committer) loop() {
	batch := make([]*call, 0, c.maxSize)
	for {
		first, ok := <-c.calls
		if !ok {
			return
		}
		c.committing.Lock()
		batch = append(batch[:0], first)
		linger := c.linger
		if linger == 0 && c.busy.Load() {
			linger = busyLinger
		}
		batch = c.fill(batch, linger)
		c.queued.Add(-int64(len(batch)))
		c.commit(batch)
		c.busy.Store(len(batch) >= busyBatch)
		c.committing.Unlock()
		clear(batch)
	}
}

// fill adds the waiting writes to batch, up to maxSize, lingering up to
// linger for more.
func (c *committer) fill(batch []*call, linger time.Duration) []*call {
	var timeout <-chan time.Time
	if linger > 0 {
		t := time.NewTimer(linger)
		defer t.Stop()
		timeout = t.C
	}
	for len(batch) < c.maxSize {
		select {
		case cl, ok := <-c.calls:
			if !ok {
				return batch
			}
			batch = append(batch, cl)
			continue
		default:
		}
		if timeout == nil {
			return batch
		}
		select {
		case cl, ok := <-c.calls:
			if !ok {
				return batch
			}
			batch = append(batch, cl)
		case <-timeout:
			return batch
		}
	}
	return batch
}

// commit runs batch in one transaction and tells every call its outcome.
func (c *committer) commit(batch []*call) {
	for len(batch) > 0 {
		failed, err := c.run(batch)
		if failed < 0 {
			// Committed, or the commit itself failed: the same for all.
			for _, cl := range batch {
				cl.done <- err
			}
			return
		}
		// One write failed: it runs again alone, the others together.
		cl := batch[failed]
		_, err = c.run(batch[failed : failed+1])
		cl.done <- err
		batch = append(batch[:failed], batch[failed+1:]...)
	}
}

// run runs calls in one transaction. It returns the position of the call
// that failed, or -1 when none did, and the error of the call or of the
// commit.
func (c *committer) run(calls []*call) (failed int, err error) {
	failed = -1
	err = c.update(func(tx *bbolt.Tx) error {
		for i, cl := range calls {
			if err := safely(cl.fn, tx); err != nil {
				failed = i
				return err
			}
		}
		return nil
	})
	return failed, err
}

// safely runs fn, turning a panic into an error so that one write cannot
// take the others down.
func safely(fn func(*bbolt.Tx) error, tx *bbolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in write: %v", p)
		}
	}()
	return fn(tx)
}
