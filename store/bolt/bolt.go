// Package bolt is the store.Store backend kept in one bbolt file.
//
// # Layout
//
// The file holds four buckets:
//
//   - permits: permit id -> the permit, deterministically marshalled protobuf.
//   - citizens: citizen id + 0x00 + permit id -> empty; one key for every
//     permit, final or not, so ListPermits can walk a citizen's permits in id
//     order.
//   - active: citizen id -> id of the citizen's one non-final permit.
//   - requests: request id -> the request record, laid out as
//     uvarint(len(hash)) || hash || permit, where hash is the write's
//     RequestHash and permit is the permit bytes exactly as that write stored
//     them.
//
// # Writes
//
// Every WritePermit runs its checks and its writes in one read-write
// transaction through bbolt's DB.Batch, so many concurrent writers share one
// commit and one fsync. A business refusal (conflict, duplicate request,
// active permit) is not returned to bbolt, which would roll back the whole
// batch: the function writes nothing, records the refusal for its own caller
// and lets the rest of the batch commit.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"google.golang.org/protobuf/proto"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// Default group-commit settings.
//
// The delay is as short as it can usefully be: the Go runtime wakes an idle
// timer with about a millisecond's precision, so a shorter delay does not
// speed up a lone writer (about 1.7 ms a write here either way), while under
// load it closes batches before the writers of the last one are back, and
// the fsyncs multiply (50 writers: about 8,000 writes/s at 250 µs against
// about 21,000 at 1 ms; bbolt's default of 10 ms gives a lone writer under
// 100 writes/s). The size only matters when more writers wait than it
// allows; 256 lets throughput keep growing with the writers (about 56,000
// writes/s at 200 writers) while bounding one transaction.
const (
	// DefaultMaxBatchDelay is how long a batch waits for more writes after
	// its first one arrives.
	DefaultMaxBatchDelay = time.Millisecond
	// DefaultMaxBatchSize is how many waiting writes make a batch commit at
	// once.
	DefaultMaxBatchSize = 256
)

// lockTimeout is how long Open waits for another process's lock on the file.
const lockTimeout = time.Second

// The buckets; the package comment describes their keys and values.
var (
	bucketPermits  = []byte("permits")
	bucketCitizens = []byte("citizens")
	bucketActive   = []byte("active")
	bucketRequests = []byte("requests")
)

// marshalOptions encodes permits the same way every time, so equal permits
// are stored as equal bytes.
var marshalOptions = proto.MarshalOptions{Deterministic: true}

// Options tunes a Store. The zero value, like a nil *Options, gives the
// defaults.
type Options struct {
	// MaxBatchDelay and MaxBatchSize tune group commit (bbolt DB.Batch); zero
	// keeps DefaultMaxBatchDelay and DefaultMaxBatchSize.
	MaxBatchDelay time.Duration
	MaxBatchSize  int
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
}

// Store implements the store contract.
var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the bbolt file at path. Options may be nil
// for defaults.
func Open(path string, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout, NoSync: opts.NoSync})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("bolt: open %s: file is locked; is another permitd running on this data folder?", path)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	db.MaxBatchDelay = DefaultMaxBatchDelay
	if opts.MaxBatchDelay > 0 {
		db.MaxBatchDelay = opts.MaxBatchDelay
	}
	db.MaxBatchSize = DefaultMaxBatchSize
	if opts.MaxBatchSize > 0 {
		db.MaxBatchSize = opts.MaxBatchSize
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketPermits, bucketCitizens, bucketActive, bucketRequests} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("bolt: open %s: create buckets: %w", path, err)
	}
	return &Store{db: db}, nil
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
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("bolt: close: %w", err)
	}
	return nil
}

// view runs fn in a read-only transaction, unless the store is closed.
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

// GetPermit returns the permit with this id, or store.ErrNotFound.
func (s *Store) GetPermit(ctx context.Context, id string) (*epermitv1.Permit, error) {
	var p *epermitv1.Permit
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		k := []byte(id)
		v := tx.Bucket(bucketPermits).Get(k)
		if v == nil {
			return store.ErrNotFound
		}
		var err error
		p, err = unmarshalPermit(k, v)
		return err
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// ListPermits returns up to limit permits whose id sorts after the given id
// ("" for the start), in id order, that match the filter. A limit below one
// returns none.
func (s *Store) ListPermits(ctx context.Context, filter store.PermitFilter, after string, limit int) ([]*epermitv1.Permit, error) {
	var out []*epermitv1.Permit
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if limit < 1 {
			return nil
		}
		permits := tx.Bucket(bucketPermits)
		if filter.CitizenID == "" {
			c := permits.Cursor()
			for k, v := seekAfter(c, nil, after); k != nil && len(out) < limit; k, v = c.Next() {
				p, err := unmarshalPermit(k, v)
				if err != nil {
					return err
				}
				out = append(out, p)
			}
			return nil
		}
		prefix := citizenPrefix(filter.CitizenID)
		c := tx.Bucket(bucketCitizens).Cursor()
		for k, _ := seekAfter(c, prefix, after); bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Next() {
			id := k[len(prefix):]
			v := permits.Get(id)
			if v == nil {
				return fmt.Errorf("bolt: citizens index names missing permit %q", id)
			}
			p, err := unmarshalPermit(id, v)
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// seekAfter moves c to the first key that is prefix + an id sorting after
// the given id, and returns that key and its value, or nil when there is
// none. Keys without the prefix may follow; the caller stops at them.
func seekAfter(c *bbolt.Cursor, prefix []byte, after string) (k, v []byte) {
	start := append(append([]byte(nil), prefix...), after...)
	if len(start) == 0 {
		return c.First()
	}
	k, v = c.Seek(start)
	if after != "" && bytes.Equal(k, start) {
		k, v = c.Next()
	}
	return k, v
}

// Replay returns what the write with this request id recorded, or
// store.ErrNotFound when no write carried it.
func (s *Store) Replay(ctx context.Context, requestID string) (*store.Replayed, error) {
	var r *store.Replayed
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketRequests).Get([]byte(requestID))
		if v == nil {
			return store.ErrNotFound
		}
		hash, permit, err := decodeRequest(v)
		if err != nil {
			return fmt.Errorf("bolt: request %q: %w", requestID, err)
		}
		p := new(epermitv1.Permit)
		if err := proto.Unmarshal(permit, p); err != nil {
			return fmt.Errorf("bolt: request %q: decode permit: %w", requestID, err)
		}
		r = &store.Replayed{RequestHash: bytes.Clone(hash), Permit: p}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// WritePermit stores w.Permit after the checks that store.Store.WritePermit
// lists, all in one transaction. The write is durable when it returns nil,
// unless the store was opened with NoSync. Before any transaction it refuses
// a permit without an id or a holder citizen id, a citizen id with a NUL
// byte (the index separator) and a version other than w.PrevVersion+1.
func (s *Store) WritePermit(ctx context.Context, w store.PermitWrite) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p := w.Permit
	if p == nil {
		return errors.New("bolt: write without a permit")
	}
	id, citizen := p.GetId(), p.GetHolder().GetCitizenId()
	switch {
	case id == "":
		return errors.New("bolt: permit has no id")
	case citizen == "":
		return fmt.Errorf("bolt: permit %s has no holder citizen id", id)
	case strings.IndexByte(citizen, 0) >= 0:
		return fmt.Errorf("bolt: permit %s: citizen id contains a NUL byte", id)
	case w.PrevVersion < 0 || p.GetVersion() != w.PrevVersion+1:
		return fmt.Errorf("bolt: permit %s: version %d does not follow previous version %d", id, p.GetVersion(), w.PrevVersion)
	}
	data, err := marshalOptions.Marshal(p)
	if err != nil {
		return fmt.Errorf("bolt: marshal permit %s: %w", id, err)
	}
	c := &change{
		write:   w,
		id:      []byte(id),
		citizen: citizen,
		final:   store.IsFinal(p.GetStatus()),
		data:    data,
	}
	if w.RequestID != "" {
		c.request = encodeRequest(w.RequestHash, data)
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	// refused is what the last run of apply decided for this caller; bbolt
	// may run apply more than once, and only the run that committed counts.
	var refused error
	err = s.db.Batch(func(tx *bbolt.Tx) error {
		var err error
		refused, err = c.apply(tx)
		return err
	})
	if err != nil {
		return fmt.Errorf("bolt: write permit %s: %w", id, err)
	}
	return refused
}

// change is one WritePermit, prepared outside the transaction.
type change struct {
	write   store.PermitWrite
	id      []byte
	citizen string
	final   bool
	data    []byte // the permit, marshalled
	request []byte // the request record, nil without a request id
}

// apply checks the change against the state in tx and, when it passes,
// writes it. It returns the business refusal (nothing written) as refused
// and returns err only for storage failures, which fail the whole batch.
// It reads everything afresh, so running it again is safe.
func (c *change) apply(tx *bbolt.Tx) (refused, err error) {
	permits := tx.Bucket(bucketPermits)
	citizens := tx.Bucket(bucketCitizens)
	active := tx.Bucket(bucketActive)
	requests := tx.Bucket(bucketRequests)

	// Checks: nothing is written until all have passed.
	if c.request != nil && requests.Get([]byte(c.write.RequestID)) != nil {
		return store.ErrDuplicateRequest, nil
	}
	var old *epermitv1.Permit
	if v := permits.Get(c.id); v != nil {
		if c.write.PrevVersion == 0 {
			return store.ErrConflict, nil
		}
		if old, err = unmarshalPermit(c.id, v); err != nil {
			return nil, err
		}
		if old.GetVersion() != c.write.PrevVersion {
			return store.ErrConflict, nil
		}
	} else if c.write.PrevVersion > 0 {
		return store.ErrNotFound, nil
	}
	citizen := []byte(c.citizen)
	holder := active.Get(citizen)
	holds := bytes.Equal(holder, c.id)
	if !c.final && holder != nil && !holds {
		return &store.ActivePermitError{PermitID: string(holder)}, nil
	}

	// Writes.
	if old != nil {
		if oldCitizen := old.GetHolder().GetCitizenId(); oldCitizen != c.citizen {
			if err := citizens.Delete(citizenKey(oldCitizen, c.id)); err != nil {
				return nil, err
			}
			if bytes.Equal(active.Get([]byte(oldCitizen)), c.id) {
				if err := active.Delete([]byte(oldCitizen)); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := permits.Put(c.id, c.data); err != nil {
		return nil, err
	}
	if err := citizens.Put(citizenKey(c.citizen, c.id), []byte{}); err != nil {
		return nil, err
	}
	switch {
	case !c.final:
		err = active.Put(citizen, c.id)
	case holds:
		err = active.Delete(citizen)
	}
	if err != nil {
		return nil, err
	}
	if c.request != nil {
		if err := requests.Put([]byte(c.write.RequestID), c.request); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// citizenPrefix is the start of every citizens-index key of this citizen.
func citizenPrefix(citizen string) []byte {
	return append([]byte(citizen), 0)
}

// citizenKey is the citizens-index key of one permit.
func citizenKey(citizen string, id []byte) []byte {
	return append(citizenPrefix(citizen), id...)
}

// unmarshalPermit decodes the stored permit with this id.
func unmarshalPermit(id, data []byte) (*epermitv1.Permit, error) {
	p := new(epermitv1.Permit)
	if err := proto.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("bolt: decode permit %s: %w", id, err)
	}
	return p, nil
}

// encodeRequest builds a request record: uvarint(len(hash)) || hash ||
// permit.
func encodeRequest(hash, permit []byte) []byte {
	b := make([]byte, 0, binary.MaxVarintLen64+len(hash)+len(permit))
	b = binary.AppendUvarint(b, uint64(len(hash)))
	b = append(b, hash...)
	return append(b, permit...)
}

// decodeRequest splits a request record made by encodeRequest. The slices
// alias rec.
func decodeRequest(rec []byte) (hash, permit []byte, err error) {
	n, size := binary.Uvarint(rec)
	if size <= 0 || n > uint64(len(rec)-size) {
		return nil, nil, errors.New("corrupt request record")
	}
	hash = rec[size : size+int(n)]
	return hash, rec[size+int(n):], nil
}
