package statuslist

import (
	"bytes"
	"compress/zlib"
	"crypto"
	"crypto/sha256"
	"fmt"
	"io"
	"time"

	"github.com/yrd-epermit/epermit/division"
)

// Snapshot is a verified status list: the issuer's word, signed at
// IssuedAt, on the state of every entry. It is immutable and safe for
// concurrent use.
type Snapshot struct {
	Issuer   string    // division code of the issuer (iss)
	KID      string    // key id of the signing key, 16 hex digits
	Version  uint64    // the list's version; send it back to fetch conditionally
	Size     uint32    // number of entries
	IssuedAt time.Time // when the list was signed (iat), UTC
	Expires  time.Time // the first second it may no longer be used (exp), UTC
	// Digest is the SHA-256 of the packed entries, the decompressed lst.
	// A not-modified answer names the list it is about by it.
	Digest [sha256.Size]byte

	packed []byte
}

// Get returns the state of the entry at index, or ErrIndex when index is
// not below Size. A code that is not a defined state is returned as is
// (State.Known reports false); treat it as unknown.
func (s *Snapshot) Get(index uint32) (State, error) {
	if index >= s.Size || int(index/2) >= len(s.packed) {
		return Unused, fmt.Errorf("%w: %d, size %d", ErrIndex, index, s.Size)
	}
	return get(s.packed, index), nil
}

// Verify checks that data is a status list of this format (see
// docs/statuslist.md), signed by issuerKey, and usable at now: now is
// before its expires-at, and its issued-at is at most MaxClockSkew after
// now. It returns the list, or an error wrapping ErrFormat, ErrKey,
// ErrSignature, ErrExpired or ErrNotYetValid.
//
// Verify does not check who the issuer is: the caller compares
// Snapshot.Issuer with the division whose key it passed (Cache.Update
// does). The signature is checked before the payload is decoded, so only
// the holder of a trusted key can make Verify decompress anything; even
// then, the entries are read up to their declared size, at most MaxSize/2
// bytes, and no further.
func Verify(data []byte, issuerKey crypto.PublicKey, now time.Time) (*Snapshot, error) {
	e, err := open(data, TypeList, issuerKey)
	if err != nil {
		return nil, err
	}
	var p listPayload
	if err := payloadDec.Unmarshal(e.msg.Payload, &p); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrFormat, err)
	}
	c := p.List
	switch {
	case !division.IsCode(p.Iss):
		return nil, fmt.Errorf("%w: issuer (1) %q is not a six-digit division code", ErrFormat, p.Iss)
	case p.Iat == nil || p.Exp == nil:
		return nil, fmt.Errorf("%w: iat (6) or exp (4) missing", ErrFormat)
	case c == nil:
		return nil, fmt.Errorf("%w: status list claim (%d) missing", ErrFormat, claimList)
	case c.V == nil || *c.V != formatVersion:
		return nil, fmt.Errorf("%w: status list claim: v missing or not %d", ErrFormat, formatVersion)
	case c.Version == nil || *c.Version == 0:
		return nil, fmt.Errorf("%w: status list claim: version missing or 0", ErrFormat)
	case c.Bits == nil || *c.Bits != BitsPerEntry:
		return nil, fmt.Errorf("%w: status list claim: bits missing or not %d", ErrFormat, BitsPerEntry)
	case c.Size == nil || !validSize(*c.Size):
		return nil, fmt.Errorf("%w: status list claim: size missing or not a power of two from %d to %d", ErrFormat, MinSize, MaxSize)
	case c.Lst == nil:
		return nil, fmt.Errorf("%w: status list claim: lst missing", ErrFormat)
	}
	s := &Snapshot{Issuer: p.Iss, KID: e.kid, Version: *c.Version, Size: uint32(*c.Size)}
	if s.IssuedAt, s.Expires, err = checkTimes(*p.Iat, *p.Exp, now); err != nil {
		return nil, err
	}
	if s.packed, err = inflate(c.Lst, int(s.Size/2)); err != nil {
		return nil, err
	}
	s.Digest = sha256.Sum256(s.packed)
	return s, nil
}

// validSize reports whether n is a power of two from MinSize to MaxSize.
func validSize(n uint64) bool {
	return n >= MinSize && n <= MaxSize && n&(n-1) == 0
}

// inflate decompresses the zlib stream lst, which must hold exactly n
// bytes and end with the input.
func inflate(lst []byte, n int) ([]byte, error) {
	src := bytes.NewReader(lst)
	zr, err := zlib.NewReader(src)
	if err != nil {
		return nil, fmt.Errorf("%w: lst is not a zlib stream: %v", ErrFormat, err)
	}
	out := make([]byte, n)
	if _, err := io.ReadFull(zr, out); err != nil {
		return nil, fmt.Errorf("%w: lst does not decompress to %d bytes: %v", ErrFormat, n, err)
	}
	// The stream must end here, checksum and all, with nothing after it.
	var one [1]byte
	if m, err := zr.Read(one[:]); m != 0 || err != io.EOF {
		if err == nil || err == io.EOF {
			return nil, fmt.Errorf("%w: lst decompresses to more than %d bytes", ErrFormat, n)
		}
		return nil, fmt.Errorf("%w: lst: %v", ErrFormat, err)
	}
	if src.Len() != 0 {
		return nil, fmt.Errorf("%w: %d bytes follow the zlib stream in lst", ErrFormat, src.Len())
	}
	return out, nil
}

// NotModified is a verified not-modified answer: the issuer's word,
// signed at IssuedAt, that the list of this Version, Size and Digest is
// still its current list. It makes a cached Snapshot with the same
// version, size and digest as good as one signed at IssuedAt, until
// Expires.
type NotModified struct {
	Issuer   string
	KID      string
	Version  uint64
	Size     uint32
	Digest   [sha256.Size]byte
	IssuedAt time.Time
	Expires  time.Time
}

// Matches reports whether n is about the list s: same issuer, version,
// size and digest.
func (n *NotModified) Matches(s *Snapshot) bool {
	return s != nil && n.Issuer == s.Issuer && n.Version == s.Version && n.Size == s.Size && n.Digest == s.Digest
}

// VerifyNotModified checks that data is a not-modified answer signed by
// issuerKey and usable at now, like Verify for a list, and returns it.
// The caller then checks that it Matches the cached snapshot before
// trusting that snapshot longer.
func VerifyNotModified(data []byte, issuerKey crypto.PublicKey, now time.Time) (*NotModified, error) {
	e, err := open(data, TypeNotModified, issuerKey)
	if err != nil {
		return nil, err
	}
	var p notModifiedPayload
	if err := payloadDec.Unmarshal(e.msg.Payload, &p); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrFormat, err)
	}
	c := p.NM
	switch {
	case !division.IsCode(p.Iss):
		return nil, fmt.Errorf("%w: issuer (1) %q is not a six-digit division code", ErrFormat, p.Iss)
	case p.Iat == nil || p.Exp == nil:
		return nil, fmt.Errorf("%w: iat (6) or exp (4) missing", ErrFormat)
	case c == nil:
		return nil, fmt.Errorf("%w: not-modified claim (%d) missing", ErrFormat, claimNotModified)
	case c.V == nil || *c.V != formatVersion:
		return nil, fmt.Errorf("%w: not-modified claim: v missing or not %d", ErrFormat, formatVersion)
	case c.Version == nil || *c.Version == 0:
		return nil, fmt.Errorf("%w: not-modified claim: version missing or 0", ErrFormat)
	case c.Size == nil || !validSize(*c.Size):
		return nil, fmt.Errorf("%w: not-modified claim: size missing or not a power of two from %d to %d", ErrFormat, MinSize, MaxSize)
	case len(c.SHA256) != sha256.Size:
		return nil, fmt.Errorf("%w: not-modified claim: sha256 missing or not %d bytes", ErrFormat, sha256.Size)
	}
	n := &NotModified{Issuer: p.Iss, KID: e.kid, Version: *c.Version, Size: uint32(*c.Size)}
	copy(n.Digest[:], c.SHA256)
	if n.IssuedAt, n.Expires, err = checkTimes(*p.Iat, *p.Exp, now); err != nil {
		return nil, err
	}
	return n, nil
}
