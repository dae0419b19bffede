package bolt

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"google.golang.org/protobuf/proto"

	"github.com/yrd-epermit/epermit/store"
)

// DefaultMaxBatchSize is how many writes one commit carries at most.
//
// A commit carries every write that waited while the one before it ran, so
// under load the batch size follows the number of writers (with 50 writers
// about 25 a commit, as they settle into two groups that commit in turn);
// the limit only bounds one transaction when very many wait.
const DefaultMaxBatchSize = 256

// lockTimeout is how long Open waits for another process's lock on the file.
const lockTimeout = time.Second

// LayoutVersion is the version of the file layout that this package reads
// and writes, stored under meta's "layout" key. Open converts a layout 2
// file (migrate.go).
const LayoutVersion = 3

// The buckets and meta keys; the package comment describes them.
var (
	bucketMeta           = []byte("meta")
	bucketPermits        = []byte("permits")
	bucketRequests       = []byte("requests")
	bucketPending        = []byte("pending")
	bucketPendingPermits = []byte("pending_permits")
	bucketAccounts       = []byte("accounts")
	bucketTokens         = []byte("tokens")
	bucketAudit          = []byte("audit")
	bucketApplications   = []byte("applications")
	bucketDeadlines      = []byte("application_deadlines")
	bucketAppStates      = []byte("application_states")
	bucketServiceReqs    = []byte("service_requests")
	bucketOutbox         = []byte("service_request_outbox")
	bucketSREvents       = []byte("service_request_events")
	bucketCitizens       = []byte("citizens")

	allBuckets = [][]byte{
		bucketMeta, bucketPermits, bucketCitizens, bucketStatus,
		bucketRequests, bucketPending, bucketPendingPermits,
		bucketAccounts, bucketTokens, bucketAudit, bucketApplications,
		bucketDeadlines, bucketAppStates, bucketServiceReqs, bucketOutbox,
		bucketSREvents,
	}

	keyLayout    = []byte("layout")
	keyAuditHead = []byte("audit_head")
)

// marshalOptions encodes protobuf values the same way every time, so equal
// values are stored as equal bytes.
var marshalOptions = proto.MarshalOptions{Deterministic: true}

// Options tunes a Store. The zero value, like a nil *Options, gives the
// defaults.
type Options struct {
	// MaxBatchSize is how many writes one commit carries at most; zero keeps
	// DefaultMaxBatchSize.
	MaxBatchSize int
	// MaxBatchDelay is how long a commit waits for more writes when fewer
	// than MaxBatchSize are waiting as it starts. Zero, the default, starts
	// it at once: a lone write waits for its own commit and nothing more,
	// and under load the writes that queue during one commit fill the next.
	MaxBatchDelay time.Duration
	// NoSync disables fsync; for tests and benchmarks that say so only.
	NoSync bool
}

// Store is a store.Store kept in a bbolt file. It is safe for concurrent use.
type Store struct {
	// mu is held shared by every operation and exclusively by Close, so Close
	// waits for operations in flight and none starts after it.
	mu     sync.RWMutex
	closed bool
	db     *bbolt.DB
	// srPermits is the index of service requests by permit id.
	srPermits *permitRequests
	writes    *committer // runs every write transaction
	tokens    accountCache
	claims    claims // of deliveries
}

// Store implements the store contract.
var _ store.Store = (*Store)(nil)

// initialMmapSize is the address space mapped at open (not memory used).
const initialMmapSize = 1 << 30

// Open opens the bbolt file at path, creating it with the current layout if
// it does not exist or converting it from layout 2, and builds the index of
// service requests by permit id by reading every service request. It fails
// when another process holds the file, when the file has another layout
// version or none (made by another version of epermit, or not by epermit),
// and when a service request cannot be read, since the index could not be
// trusted. Options may be nil for defaults.
func Open(path string, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	// The package comment says why the freelist is synced and a hashmap.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:      lockTimeout,
		NoSync:       opts.NoSync,
		FreelistType: bbolt.FreelistMapType,
		// Map address space for a large register up front: growing the
		// map later stops every reader while it is replaced.
		InitialMmapSize: initialMmapSize,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("bolt: open %s: file is locked; is another permitd running on this data folder?", path)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	var srPermits *permitRequests
	err = migrate(db)
	if err == nil {
		err = db.Update(prepare)
	}
	if err == nil {
		err = db.View(func(tx *bbolt.Tx) error {
			var err error
			if srPermits, err = loadPermitRequests(tx); err != nil {
				return fmt.Errorf("build the service request index: %w", err)
			}
			return nil
		})
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	size := DefaultMaxBatchSize
	if opts.MaxBatchSize > 0 {
		size = opts.MaxBatchSize
	}
	return &Store{db: db, srPermits: srPermits, writes: newCommitter(db, size, max(opts.MaxBatchDelay, 0))}, nil
}

// prepare lays out an empty file, or checks that a used one has the
// current layout. Either way it moves the status list's version to the
// time in microseconds when that is higher, so that the versions a node
// publishes go on rising after a file is restored from a copy.
func prepare(tx *bbolt.Tx) error {
	want := strconv.Itoa(LayoutVersion)
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		used := false
		if err := tx.ForEach(func([]byte, *bbolt.Bucket) error { used = true; return nil }); err != nil {
			return err
		}
		if used {
			return fmt.Errorf("unknown file layout: the file has no layout version (this epermit reads layout %s); it was not made by this version of epermit", want)
		}
		for _, name := range allBuckets {
			if _, err := tx.CreateBucket(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		if err := putStatusVersion(tx, 0); err != nil {
			return err
		}
		meta = tx.Bucket(bucketMeta)
		if err := meta.Put(keyLayout, []byte(want)); err != nil {
			return err
		}
	}
	switch got := meta.Get(keyLayout); string(got) {
	case want:
	case "1":
		return fmt.Errorf("file layout 1, from a development version of epermit: this epermit reads layout %s and converts only layout 2 (none of layout 1 was deployed); issue the permits again into a new file", want)
	default:
		return fmt.Errorf("unknown file layout %q: this epermit reads layout %s and converts layout 2", got, want)
	}
	for _, name := range allBuckets {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("damaged file: layout %s but no %s bucket", want, name)
		}
	}
	v, err := statusVersion(tx)
	if err != nil {
		return err
	}
	if now := uint64(time.Now().UnixMicro()); now > v {
		return putStatusVersion(tx, now)
	}
	return nil
}

// Close releases the file after the operations in flight have finished.
// Calling it again does nothing.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.writes.stop()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("bolt: close: %w", err)
	}
	return nil
}

// view runs fn in a read-only transaction, unless the store is closed or
// ctx is done.
func (s *Store) view(ctx context.Context, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	return s.db.View(fn)
}

// batch runs fn in a read-write transaction shared with other writers
// (group commit, see committer), unless the store is closed or ctx is
// done. fn returns a business refusal as refused, having written nothing,
// and a storage failure as err, which fails the whole transaction; fn may
// run more than once, and only the last run counts. batch returns the
// refusal, or the failure wrapped with what, or nil once the write is
// committed (and durable, unless the store was opened with NoSync).
func (s *Store) batch(ctx context.Context, what string, fn func(*bbolt.Tx) (refused, err error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	var refused error
	err := s.writes.do(func(tx *bbolt.Tx) error {
		var err error
		refused, err = fn(tx)
		return err
	})
	if err != nil {
		return fmt.Errorf("bolt: %s: %w", what, err)
	}
	return refused
}
