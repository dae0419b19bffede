package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/yrd-epermit/epermit/statuslist"
	"github.com/yrd-epermit/epermit/store"
)

// migrateBatch is how many permits one transaction of the conversion
// indexes, so that no transaction holds millions of dirty pages; tests
// lower it.
var migrateBatch = 100_000

// layout2Buckets are the buckets of every layout 2 file; the conversion
// adds the others (the application and service request buckets came
// during layout 2).
var layout2Buckets = [][]byte{
	bucketMeta, bucketPermits, bucketRequests, bucketPending,
	bucketPendingPermits, bucketAccounts, bucketTokens, bucketAudit,
}

// migrate converts a layout 2 file to layout 3 and leaves any other file
// alone. Layout 2 kept the citizen index and the status list in memory,
// rebuilt by reading every permit at each Open; layout 3 keeps them in the
// citizens and status buckets, so the conversion reads every permit once
// more: it makes both buckets afresh, the citizen index in transactions of
// migrateBatch permits, and in its last transaction writes the status list
// and the layout version. Until then the file stays layout 2, so a
// conversion cut short by a crash starts again at the next Open.
func migrate(db *bbolt.DB) error {
	layout := ""
	err := db.View(func(tx *bbolt.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			layout = string(meta.Get(keyLayout))
		}
		return nil
	})
	if err != nil || layout != "2" {
		return err
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range layout2Buckets {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("damaged file: layout 2 but no %s bucket", name)
			}
		}
		for _, name := range [][]byte{bucketCitizens, bucketStatus} {
			if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
				return err
			}
		}
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("convert layout 2: %w", err)
	}
	list := statusEntries{}
	var after []byte
	for done := false; !done; {
		err = db.Update(func(tx *bbolt.Tx) error {
			after, done, err = indexPermits(tx, after, list)
			return err
		})
		if err != nil {
			return fmt.Errorf("convert layout 2: %w", err)
		}
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		if err := list.write(tx.Bucket(bucketStatus)); err != nil {
			return err
		}
		if err := putStatusVersion(tx, uint64(time.Now().UnixMicro())); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyLayout, []byte("3"))
	})
	if err != nil {
		return fmt.Errorf("convert layout 2: %w", err)
	}
	return nil
}

// indexPermits puts in tx's citizens bucket the holders of up to
// migrateBatch permits whose ids sort after the given one (nil for the
// first), and records their status entries in list. It returns the last
// permit id it indexed, and done once it has reached the last permit.
func indexPermits(tx *bbolt.Tx, after []byte, list statusEntries) (last []byte, done bool, err error) {
	c := tx.Bucket(bucketPermits).Cursor()
	citizens := tx.Bucket(bucketCitizens)
	var k, v []byte
	if after == nil {
		k, v = c.First()
	} else {
		k, v = c.Seek(append(bytes.Clone(after), 1))
	}
	var id, data []byte // the permit being read and its latest version so far
	for n := 0; ; k, v = c.Next() {
		var next []byte
		if k != nil {
			var ok bool
			if next, _, ok = splitPermitKey(k); !ok || bytes.IndexByte(next, 0) >= 0 {
				return nil, false, fmt.Errorf("malformed permits key %q", k)
			}
		}
		if id != nil && !bytes.Equal(next, id) {
			f, err := factsOf(data)
			if err != nil {
				return nil, false, fmt.Errorf("permit %s: %w", id, err)
			}
			flag := flagNonFinal
			if store.IsFinal(f.status) {
				flag = flagFinal
			}
			if err := citizens.Put(citizenKey(string(f.citizen), string(id)), []byte{flag}); err != nil {
				return nil, false, err
			}
			if f.hasIndex {
				if err := list.add(f.index, store.ListState(f.status)); err != nil {
					return nil, false, fmt.Errorf("permit %s: %w", id, err)
				}
			}
			if n++; n == migrateBatch {
				return bytes.Clone(id), k == nil, nil
			}
		}
		if k == nil {
			return nil, true, nil
		}
		id, data = next, v
	}
}

// statusEntries is a status list being gathered from the permits, by
// chunk number.
type statusEntries map[uint32]statusChunk

// add records that a permit holds entry i in state s.
func (l statusEntries) add(i uint32, s statuslist.State) error {
	if i >= statuslist.MaxSize {
		return fmt.Errorf("status index %d beyond the largest list", i)
	}
	c := l[i/chunkEntries]
	if c == nil {
		c = newStatusChunk()
		l[i/chunkEntries] = c
	}
	if c.held(i) {
		return fmt.Errorf("status index %d held by two permits", i)
	}
	c.hold(i)
	c.setState(i, s)
	return nil
}

// write puts every chunk into the status bucket, in key order.
func (l statusEntries) write(status *bbolt.Bucket) error {
	for _, n := range slices.Sorted(maps.Keys(l)) {
		if err := status.Put(binary.BigEndian.AppendUint32(nil, n), l[n]); err != nil {
			return err
		}
	}
	return nil
}
