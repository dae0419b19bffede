package bolt

import (
	"bytes"
	"errors"
	"maps"
	"testing"

	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/storetest"
)

// downgrade makes the file in tx what layout 2 wrote: no citizens or
// status bucket, no status list version, layout "2".
func downgrade(tx *bbolt.Tx) error {
	for _, name := range [][]byte{bucketCitizens, bucketStatus} {
		if err := tx.DeleteBucket(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	if err := meta.Delete(keyStatusVersion); err != nil {
		return err
	}
	return meta.Put(keyLayout, []byte("2"))
}

// TestConvertLayout2 writes permits (issued, cancelled, moved between
// citizens, pending without a state, without an index), turns the file
// into a layout 2 file, and opens it: the conversion, in transactions of
// three permits, must give the citizen index and the status list that
// the writes gave. A conversion cut short (a layout 2 file with a partial,
// wrong citizens bucket) is done again from the start.
func TestConvertLayout2(t *testing.T) {
	defer func(n int) { migrateBatch = n }(migrateBatch)
	migrateBatch = 3

	s := tempStore(t, &Options{NoSync: true})
	var permits []*epermitv1.Permit
	for i := range 10 {
		p := storetest.NewPermit(storetest.PermitID(i), storetest.CitizenID(i))
		p.StatusIndex = proto.Uint32(uint32(1000*i + 7))
		if i == 9 {
			p.StatusIndex = nil
		}
		if i == 8 {
			p.Status = epermitv1.PermitStatus_PERMIT_STATUS_PENDING
		}
		if err := s.WritePermit(t.Context(), store.PermitWrite{Permit: p}); err != nil {
			t.Fatal(err)
		}
		permits = append(permits, p)
	}
	permits[2] = writeNext(t, s, permits[2], setStatus(epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED))
	permits[3] = writeNext(t, s, permits[3], setHolder(storetest.CitizenID(2)))
	permits[4] = writeNext(t, s, permits[4], setStatus(epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED))

	var index map[string]string
	err := s.db.View(func(tx *bbolt.Tx) (err error) { index, err = indexInFile(tx); return err })
	if err != nil {
		t.Fatal(err)
	}
	list, _, err := s.StatusList(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	path := s.db.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	check := func(s *Store) {
		t.Helper()
		checkIndex(t, s)
		var got map[string]string
		if err := s.db.View(func(tx *bbolt.Tx) (err error) { got, err = indexInFile(tx); return err }); err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, index) {
			t.Fatalf("converted citizen index %q, want %q", got, index)
		}
		gotList, v, err := s.StatusList(t.Context())
		if err != nil || !bytes.Equal(gotList, list) || v == 0 {
			t.Fatalf("converted status list %x version %d, %v; want %x", gotList, v, err, list)
		}
		// The held index of the pending permit stays held.
		thief := storetest.NewPermit(storetest.PermitID(50), storetest.CitizenID(50))
		thief.StatusIndex = permits[8].StatusIndex
		if err := s.WritePermit(t.Context(), store.PermitWrite{Permit: thief}); !errors.Is(err, store.ErrIndexTaken) {
			t.Fatalf("a permit taking the pending permit's index: %v, want ErrIndexTaken", err)
		}
		wantRefused(t, s, storetest.CitizenID(2), permits[3].GetId())
	}

	for _, interrupted := range []bool{false, true} {
		db, err := bbolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bbolt.Tx) error {
			if err := downgrade(tx); err != nil {
				return err
			}
			if !interrupted {
				return nil
			}
			b, err := tx.CreateBucket(bucketCitizens)
			if err != nil {
				return err
			}
			return b.Put(citizenKey(storetest.CitizenID(77), storetest.PermitID(1)), []byte{flagNonFinal})
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		s := openTest(t, path, nil)
		var layout string
		_ = s.db.View(func(tx *bbolt.Tx) error { layout = string(tx.Bucket(bucketMeta).Get(keyLayout)); return nil })
		if layout != "3" {
			t.Fatalf("layout %q after the conversion, want 3", layout)
		}
		check(s)
		s = reopen(t, s, nil)
		check(s)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
