package bolt

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// testCommitter opens a bare bbolt file with a committer on it, both closed
// when t ends.
func testCommitter(t *testing.T, maxSize int, linger time.Duration) (*bbolt.DB, *committer) {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "commit.db"), 0o600, &bbolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	c := newCommitter(db, maxSize, linger)
	t.Cleanup(func() {
		c.stop()
		db.Close()
	})
	return db, c
}

// put returns a write that stores key=key in bucket b and records the id
// of its transaction in txid.
func put(key string, txid *int) func(*bbolt.Tx) error {
	return func(tx *bbolt.Tx) error {
		*txid = tx.ID()
		return tx.Bucket([]byte("b")).Put([]byte(key), []byte(key))
	}
}

// keys returns the keys of bucket b.
func keys(t *testing.T, db *bbolt.DB) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	err := db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("b")).ForEach(func(k, _ []byte) error { got[string(k)] = true; return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestCommitterFailures checks that a write that fails or panics gets its
// own error and the writes sharing its transaction still commit.
func TestCommitterFailures(t *testing.T) {
	db, c := testCommitter(t, 64, 5*time.Millisecond) // the linger gathers all of them
	const n = 40
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		var txid int
		wg.Go(func() {
			fn := put(fmt.Sprint(i), &txid)
			switch i {
			case 7:
				fn = func(tx *bbolt.Tx) error {
					_ = tx.Bucket([]byte("b")).Put([]byte("written by a failed write"), nil)
					return errors.New("failure 7")
				}
			case 23:
				fn = func(*bbolt.Tx) error { panic("panic 23") }
			}
			errs[i] = c.do(fn)
		})
	}
	wg.Wait()
	got := keys(t, db)
	for i, err := range errs {
		switch i {
		case 7:
			if err == nil || err.Error() != "failure 7" {
				t.Errorf("write 7: %v, want its own failure", err)
			}
		case 23:
			if err == nil || err.Error() != "panic in write: panic 23" {
				t.Errorf("write 23: %v, want its panic", err)
			}
		default:
			if err != nil || !got[fmt.Sprint(i)] {
				t.Errorf("write %d: %v, stored %v", i, err, got[fmt.Sprint(i)])
			}
		}
	}
	if len(got) != n-2 {
		t.Errorf("bucket holds %d keys, want %d", len(got), n-2)
	}
}

// TestCommitterGroups checks that writes waiting together share a
// transaction, up to the batch size.
func TestCommitterGroups(t *testing.T) {
	for _, tt := range []struct {
		name                   string
		maxSize, n             int
		minCommits, maxCommits int
		linger                 time.Duration // long enough for all n to queue
	}{
		{"one a commit", 1, 20, 20, 20, 0},
		{"all in one", 64, 20, 1, 1, 300 * time.Millisecond},
		{"split by size", 8, 20, 3, 3, 300 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db, c := testCommitter(t, tt.maxSize, tt.linger)
			txids := make([]int, tt.n)
			var wg sync.WaitGroup
			for i := range tt.n {
				wg.Go(func() {
					if err := c.do(put(fmt.Sprint(i), &txids[i])); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			commits := map[int]int{}
			for _, id := range txids {
				commits[id]++
			}
			if len(commits) < tt.minCommits || len(commits) > tt.maxCommits {
				t.Errorf("%d writes took %d commits %v, want %d to %d", tt.n, len(commits), commits, tt.minCommits, tt.maxCommits)
			}
			for id, k := range commits {
				if k > tt.maxSize {
					t.Errorf("commit %d carried %d writes, more than %d", id, k, tt.maxSize)
				}
			}
			if got := keys(t, db); len(got) != tt.n {
				t.Errorf("bucket holds %d keys, want %d", len(got), tt.n)
			}
		})
	}
}
