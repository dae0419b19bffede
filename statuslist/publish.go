package statuslist

import (
	"bytes"
	"compress/zlib"
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/division"
)

// Defaults of a Publisher.
const (
	// DefaultTTL is how long a signed list or not-modified answer stays
	// usable: its expires-at is its issued-at plus this.
	DefaultTTL = 24 * time.Hour
	// DefaultRefresh is how long a Publisher serves the same signed bytes
	// of an unchanged list before signing them again with a new
	// issued-at, which is what verifiers measure a status's age from.
	DefaultRefresh = time.Minute
)

// published is one signed list with what a not-modified answer about it
// needs.
type published struct {
	data    []byte
	version uint64
	size    uint32
	digest  [sha256.Size]byte
	iat     time.Time
}

// Publish signs the list as it is now with the issuer key, on behalf of
// division issuer, valid from now for ttl, and returns the tagged
// COSE_Sign1 specified in docs/statuslist.md. The key is the node's
// issuer key, Ed25519 or ECDSA P-256, as credential.LoadOrCreateKey
// returns it; the protected header names it by its credential.KID. ttl
// must be at least a second.
func (l *List) Publish(key crypto.Signer, issuer string, now time.Time, ttl time.Duration) ([]byte, error) {
	p, err := l.publish(key, issuer, now, ttl)
	if err != nil {
		return nil, err
	}
	return p.data, nil
}

func (l *List) publish(key crypto.Signer, issuer string, now time.Time, ttl time.Duration) (*published, error) {
	if !division.IsCode(issuer) {
		return nil, fmt.Errorf("statuslist: issuer %q is not a six-digit division code", issuer)
	}
	if ttl < time.Second {
		return nil, fmt.Errorf("statuslist: ttl %v, want at least a second", ttl)
	}
	packed, version := l.snapshot()
	lst, err := compress(packed)
	if err != nil {
		return nil, err
	}
	size := uint32(len(packed) * 8 / BitsPerEntry)
	iat := now.Unix()
	payload, err := payloadEnc.Marshal(listPayload{
		Iss: issuer,
		Exp: ptr(now.Add(ttl).Unix()),
		Iat: &iat,
		List: &listClaim{
			V:       ptr[uint64](formatVersion),
			Version: &version,
			Size:    ptr(uint64(size)),
			Bits:    ptr[uint64](BitsPerEntry),
			Lst:     lst,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("statuslist: %w", err)
	}
	data, err := sign(key, TypeList, payload)
	if err != nil {
		return nil, err
	}
	return &published{
		data:    data,
		version: version,
		size:    size,
		digest:  sha256.Sum256(packed),
		iat:     time.Unix(iat, 0),
	}, nil
}

// compress returns the zlib stream (RFC 1950) of packed. It uses
// Huffman coding only, no LZ77 matching: entries are placed at random, so
// matches are rare, and on a list of a million permits Huffman-only is
// both smaller and fifty times faster than the best LZ77 level
// (docs/statuslist.md, "Compression").
func compress(packed []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(packed)/3 + 64)
	w, err := zlib.NewWriterLevel(&buf, zlib.HuffmanOnly)
	if err != nil {
		return nil, fmt.Errorf("statuslist: compress: %w", err)
	}
	if _, err := w.Write(packed); err != nil {
		return nil, fmt.Errorf("statuslist: compress: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("statuslist: compress: %w", err)
	}
	return buf.Bytes(), nil
}

// signNotModified returns a not-modified answer about p, signed at now.
func signNotModified(key crypto.Signer, issuer string, p *published, now time.Time, ttl time.Duration) ([]byte, error) {
	iat := now.Unix()
	payload, err := payloadEnc.Marshal(notModifiedPayload{
		Iss: issuer,
		Exp: ptr(now.Add(ttl).Unix()),
		Iat: &iat,
		NM: &notModifiedClaim{
			V:       ptr[uint64](formatVersion),
			Version: &p.version,
			Size:    ptr(uint64(p.size)),
			SHA256:  p.digest[:],
		},
	})
	if err != nil {
		return nil, fmt.Errorf("statuslist: %w", err)
	}
	return sign(key, TypeNotModified, payload)
}

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// List is the list to publish.
	List *List
	// Key is the issuer key (Ed25519 or ECDSA P-256).
	Key crypto.Signer
	// KeyAt, when set, picks the key for each signing by the time of
	// signing, for an issuer whose key rotates; Key is then unused.
	KeyAt func(time.Time) crypto.Signer
	// Issuer is the division code of the issuing node.
	Issuer string
	// TTL is how long each signed list and not-modified answer stays
	// usable; DefaultTTL when zero.
	TTL time.Duration
	// Refresh is how long the same signed bytes are served before they
	// are signed again; DefaultRefresh when zero. It must be less than
	// TTL.
	Refresh time.Duration
	// Clock tells the time; time.Now when nil.
	Clock func() time.Time
}

// Publisher answers conditional fetches of one list. It keeps the last
// signed list, and the last not-modified answer, and signs anew only when
// the list's version has changed or when the signed bytes are older than
// Refresh, that is when less than TTL-Refresh of their validity is left.
// It is safe for concurrent use.
type Publisher struct {
	cfg PublisherConfig

	mu   sync.Mutex
	list *published // last signed list; nil before the first Fetch
	kid  string     // id of the key that signed list
	nm   []byte        // last not-modified answer, about list
	nmAt time.Time     // when nm was signed
	// signs counts signatures made, for tests.
	signs int
}

// NewPublisher checks cfg and returns a Publisher. Nothing is signed until
// the first Fetch.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	if cfg.List == nil {
		return nil, errors.New("statuslist: publisher: no list")
	}
	if cfg.KeyAt == nil {
		key := cfg.Key
		cfg.KeyAt = func(time.Time) crypto.Signer { return key }
	}
	if key := cfg.KeyAt(time.Now()); key == nil {
		return nil, errors.New("statuslist: publisher: no key")
	} else if _, err := algorithmOf(key.Public()); err != nil {
		return nil, fmt.Errorf("statuslist: publisher: %w", err)
	}
	if !division.IsCode(cfg.Issuer) {
		return nil, fmt.Errorf("statuslist: publisher: issuer %q is not a six-digit division code", cfg.Issuer)
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = DefaultRefresh
	}
	if cfg.TTL < time.Second || cfg.Refresh <= 0 || cfg.Refresh >= cfg.TTL {
		return nil, fmt.Errorf("statuslist: publisher: ttl %v and refresh %v, want 1s <= ttl and 0 < refresh < ttl", cfg.TTL, cfg.Refresh)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Publisher{cfg: cfg}, nil
}

// Fetch answers a fetch of the list by a client that holds version
// haveVersion of it, 0 when it holds none. When haveVersion is the
// version of the current list, it returns notModified true and data a
// signed not-modified answer (a few hundred bytes, see
// VerifyNotModified); otherwise the whole signed list, as Publish makes
// it. The bytes returned are shared: callers must not modify them.
func (p *Publisher) Fetch(haveVersion uint64) (data []byte, notModified bool, err error) {
	now := p.cfg.Clock()
	key := p.cfg.KeyAt(now)
	kid, err := credential.KID(key.Public())
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrKey, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.list == nil || p.list.version != p.cfg.List.Version() || p.stale(p.list.iat, now) || kid != p.kid {
		pub, err := p.cfg.List.publish(key, p.cfg.Issuer, now, p.cfg.TTL)
		if err != nil {
			return nil, false, err
		}
		p.signs++
		p.list, p.nm, p.kid = pub, nil, kid
	}
	if haveVersion == 0 || haveVersion != p.list.version {
		return p.list.data, false, nil
	}
	if p.nm == nil || p.stale(p.nmAt, now) {
		nm, err := signNotModified(key, p.cfg.Issuer, p.list, now, p.cfg.TTL)
		if err != nil {
			return nil, false, err
		}
		p.signs++
		p.nm, p.nmAt = nm, now
	}
	return p.nm, true, nil
}

// stale reports whether bytes signed at signed are due for signing again
// at now: older than Refresh, or signed in now's future (the clock went
// back).
func (p *Publisher) stale(signed, now time.Time) bool {
	return now.Sub(signed) >= p.cfg.Refresh || now.Before(signed)
}
