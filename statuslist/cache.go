package statuslist

import (
	"fmt"
	"sync"
	"time"

	"github.com/yrd-epermit/epermit/credential"
)

// Entry is what a Cache holds for one issuer.
type Entry struct {
	// Snapshot is the last list verified.
	Snapshot *Snapshot
	// AsOf is the latest time the issuer signed that Snapshot was its
	// current list: the list's issued-at, or that of a later
	// not-modified answer. Ages count from it.
	AsOf time.Time
	// ValidUntil is the latest signed expires-at of the list or of a
	// not-modified answer about it; past it the list is not used.
	ValidUntil time.Time
	// Fetched is the verifier's time of the last successful Update.
	Fetched time.Time
}

// Cache holds, for each issuing division, the last status list verified,
// and answers status queries from it without calling the issuer. It is
// safe for concurrent use.
//
// A status's age counts from AsOf, a time the issuer signed, not from
// when the list was fetched: a relay, or an attacker replaying an old
// list, cannot make an old status look new. A Publisher signs again at
// least every Refresh (a minute by default), so after a successful fetch
// the age is at most that plus the clocks' difference.
type Cache struct {
	mu sync.RWMutex
	m  map[string]*Entry
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{m: make(map[string]*Entry)}
}

// Version returns the version of the list cached for issuer, 0 when there
// is none: the haveVersion to send when fetching from it.
func (c *Cache) Version(issuer string) uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e := c.m[issuer]; e != nil {
		return e.Snapshot.Version
	}
	return 0
}

// Entry returns a copy of what the cache holds for issuer.
func (c *Cache) Entry(issuer string) (Entry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e := c.m[issuer]; e != nil {
		return *e, true
	}
	return Entry{}, false
}

// Update verifies the answer of issuer's Publisher.Fetch, data and
// notModified, at now, with the issuer's key that keys resolves from the
// data's key id, and stores it:
//
//   - a list must be signed by issuer's key, name issuer, and not be
//     signed before the list cached, nor in the same second with a
//     smaller version (else ErrStale: an old list replayed); it replaces
//     the cached one;
//   - a not-modified answer must be about the cached list, by version,
//     size and digest (else ErrMismatch: fetch again with version 0); it
//     moves the cached list's AsOf and ValidUntil forward, never back.
//
// It returns ErrUnknownKey when keys does not know the key, ErrIssuer when
// the data names another issuer, and Verify's errors. On error the cache
// is unchanged.
func (c *Cache) Update(issuer string, keys credential.KeyResolver, data []byte, notModified bool, now time.Time) error {
	kid, err := KeyID(data)
	if err != nil {
		return err
	}
	if keys == nil {
		return fmt.Errorf("%w: no keys given for %s", ErrUnknownKey, issuer)
	}
	pub, ok := keys.PublicKey(issuer, kid)
	if !ok {
		return fmt.Errorf("%w: key %s of %s", ErrUnknownKey, kid, issuer)
	}
	if notModified {
		nm, err := VerifyNotModified(data, pub, now)
		if err != nil {
			return err
		}
		if nm.Issuer != issuer {
			return fmt.Errorf("%w: fetched from %s, issued by %s", ErrIssuer, issuer, nm.Issuer)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		e := c.m[issuer]
		if e == nil || !nm.Matches(e.Snapshot) {
			return fmt.Errorf("%w: answer about version %d", ErrMismatch, nm.Version)
		}
		e = &Entry{Snapshot: e.Snapshot, AsOf: later(e.AsOf, nm.IssuedAt), ValidUntil: later(e.ValidUntil, nm.Expires), Fetched: now}
		c.m[issuer] = e
		return nil
	}
	s, err := Verify(data, pub, now)
	if err != nil {
		return err
	}
	if s.Issuer != issuer {
		return fmt.Errorf("%w: fetched from %s, issued by %s", ErrIssuer, issuer, s.Issuer)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := &Entry{Snapshot: s, AsOf: s.IssuedAt, ValidUntil: s.Expires, Fetched: now}
	if old := c.m[issuer]; old != nil {
		if s.IssuedAt.Before(old.Snapshot.IssuedAt) {
			return fmt.Errorf("%w: signed %s, the cached list %s", ErrStale,
				s.IssuedAt.Format(time.RFC3339), old.Snapshot.IssuedAt.Format(time.RFC3339))
		}
		if s.IssuedAt.Equal(old.Snapshot.IssuedAt) && s.Version < old.Snapshot.Version {
			return fmt.Errorf("%w: version %d signed in the same second as the cached version %d", ErrStale,
				s.Version, old.Snapshot.Version)
		}
		if s.Digest == old.Snapshot.Digest && s.Version == old.Snapshot.Version {
			// The same list signed again: keep what later answers said.
			e.AsOf, e.ValidUntil = later(e.AsOf, old.AsOf), later(e.ValidUntil, old.ValidUntil)
		}
	}
	c.m[issuer] = e
	return nil
}

// Status answers from the cache what issuer's list says about index, at
// now: the state, the age of that statement (now minus AsOf, never
// negative), and whether it is fresh: the list is cached, age is at most
// maxAge, and now is before ValidUntil. The caller reports "status
// unknown" when fresh is false, and also for Unused and codes that are
// not defined states, whatever the age: such a list does not know the
// permit. An index beyond the list's size is Unused.
func (c *Cache) Status(issuer string, index uint32, now time.Time, maxAge time.Duration) (state State, age time.Duration, fresh bool) {
	c.mu.RLock()
	e := c.m[issuer]
	c.mu.RUnlock()
	if e == nil {
		return Unused, 0, false
	}
	state, err := e.Snapshot.Get(index)
	if err != nil {
		state = Unused
	}
	age = max(now.Sub(e.AsOf), 0)
	return state, age, age <= maxAge && now.Before(e.ValidUntil)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
