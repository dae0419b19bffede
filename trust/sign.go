package trust

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/veraison/go-cose"

	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/internal/strictcbor"
)

// MaxSize is the largest signed trust list accepted, in bytes. A list of
// a hundred members with three keys each is about 40 KB.
const MaxSize = 1 << 20

// maxNumericDate is 9999-12-31T23:59:59Z, the latest time accepted.
const maxNumericDate = 253402300799

// wireList is the CBOR form of a List. The pointers tell a missing field
// from a zero one when decoding.
type wireList struct {
	Version   *uint64      `cbor:"version"`
	Sequence  *uint64      `cbor:"sequence"`
	IssuedAt  *int64       `cbor:"issued_at"`
	ExpiresAt *int64       `cbor:"expires_at"`
	Members   []wireMember `cbor:"members"`
}

// wireMember is the CBOR form of a Member.
type wireMember struct {
	Division string    `cbor:"division"`
	Name     string    `cbor:"name"`
	Province string    `cbor:"province"`
	Endpoint string    `cbor:"endpoint"`
	Keys     []wireKey `cbor:"keys"`
}

// wireKey is the CBOR form of an IssuerKey.
type wireKey struct {
	KID       byteString `cbor:"kid"`
	Algorithm string     `cbor:"alg"`
	PublicKey byteString `cbor:"public_key"`
	NotBefore *int64     `cbor:"not_before"`
	NotAfter  *int64     `cbor:"not_after"`
}

// byteString is a []byte that decodes only from a CBOR byte string, not
// from an array of small integers as a []byte otherwise would.
type byteString []byte

// UnmarshalCBOR decodes a CBOR byte string (major type 2).
func (b *byteString) UnmarshalCBOR(data []byte) error {
	if len(data) == 0 || data[0]>>5 != 2 {
		return errors.New("not a byte string")
	}
	var raw []byte
	if err := payloadDec.Unmarshal(data, &raw); err != nil {
		return err
	}
	*b = raw
	return nil
}

// versionOnly reads the format version before anything else, so that a
// list of another version is refused as such rather than as malformed.
type versionOnly struct {
	Version *uint64 `cbor:"version"`
}

var (
	// payloadEnc encodes payloads deterministically (internal/strictcbor).
	payloadEnc = strictcbor.Enc
	// payloadDec decodes payloads strictly (internal/strictcbor).
	payloadDec = strictcbor.Dec(16, 4096)
)

// encodePayload returns the CBOR payload of a normalized list.
func encodePayload(l *List) ([]byte, error) {
	version, seq := uint64(FormatVersion), l.Sequence
	iat, exp := l.IssuedAt.Unix(), l.ExpiresAt.Unix()
	w := wireList{Version: &version, Sequence: &seq, IssuedAt: &iat, ExpiresAt: &exp,
		Members: make([]wireMember, len(l.Members))}
	for i, m := range l.Members {
		wm := wireMember{Division: m.Division, Name: m.Name, Province: m.Province, Endpoint: m.Endpoint,
			Keys: make([]wireKey, len(m.Keys))}
		for j, k := range m.Keys {
			der, err := x509.MarshalPKIXPublicKey(k.PublicKey)
			if err != nil {
				return nil, fmt.Errorf("member %s, key %s: %w", m.Division, k.KID, err)
			}
			kid, err := hex.DecodeString(k.KID)
			if err != nil {
				return nil, fmt.Errorf("member %s, key %s: %w", m.Division, k.KID, err)
			}
			nbf, naf := k.NotBefore.Unix(), k.NotAfter.Unix()
			wm.Keys[j] = wireKey{KID: kid, Algorithm: k.Algorithm, PublicKey: der, NotBefore: &nbf, NotAfter: &naf}
		}
		w.Members[i] = wm
	}
	return payloadEnc.Marshal(w)
}

// decodePayload decodes and checks a payload. Its errors wrap
// ErrMalformed, ErrVersion or ErrInvalid.
func decodePayload(payload []byte) (*List, error) {
	var v versionOnly
	if err := payloadDec.Unmarshal(payload, &v); err != nil {
		return nil, fmt.Errorf("%w: the payload is not a CBOR map: %w", ErrMalformed, err)
	}
	switch {
	case v.Version == nil:
		return nil, fmt.Errorf("%w: the payload has no version", ErrMalformed)
	case *v.Version != FormatVersion:
		return nil, fmt.Errorf("%w: version %d, this node reads version %d", ErrVersion, *v.Version, FormatVersion)
	}
	var w wireList
	if err := payloadDec.Unmarshal(payload, &w); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	l, err := fromWire(&w)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := l.check(); err != nil {
		return nil, err
	}
	return l, nil
}

// fromWire converts the CBOR form to a List, refusing missing fields and
// keys that do not parse; check does the rest.
func fromWire(w *wireList) (*List, error) {
	var err error
	l := &List{Members: make([]Member, len(w.Members))}
	switch {
	case w.Sequence == nil:
		return nil, errors.New("sequence is missing")
	case w.Members == nil:
		return nil, errors.New("members is missing")
	}
	l.Sequence = *w.Sequence
	if l.IssuedAt, err = numericDate("issued_at", w.IssuedAt); err != nil {
		return nil, err
	}
	if l.ExpiresAt, err = numericDate("expires_at", w.ExpiresAt); err != nil {
		return nil, err
	}
	for i, wm := range w.Members {
		m := Member{Division: wm.Division, Name: wm.Name, Province: wm.Province, Endpoint: wm.Endpoint,
			Keys: make([]IssuerKey, len(wm.Keys))}
		if wm.Keys == nil {
			return nil, fmt.Errorf("member %d (%s): keys is missing", i+1, quoteField(wm.Division))
		}
		for j, wk := range wm.Keys {
			k, err := keyFromWire(wk)
			if err != nil {
				return nil, fmt.Errorf("member %d (%s), key %d: %w", i+1, quoteField(wm.Division), j+1, err)
			}
			m.Keys[j] = k
		}
		sortKeys(m.Keys)
		l.Members[i] = m
	}
	sortMembers(l.Members)
	return l, nil
}

func keyFromWire(wk wireKey) (IssuerKey, error) {
	var err error
	k := IssuerKey{Algorithm: wk.Algorithm}
	if len(wk.KID) != 8 {
		return k, fmt.Errorf("kid is %d bytes, want 8", len(wk.KID))
	}
	k.KID = hex.EncodeToString(wk.KID)
	if len(wk.PublicKey) == 0 {
		return k, errors.New("public_key is missing")
	}
	if k.PublicKey, err = x509.ParsePKIXPublicKey(wk.PublicKey); err != nil {
		return k, fmt.Errorf("key %s: public_key is not a SubjectPublicKeyInfo: %w", k.KID, err)
	}
	if k.NotBefore, err = numericDate("not_before", wk.NotBefore); err != nil {
		return k, fmt.Errorf("key %s: %w", k.KID, err)
	}
	if k.NotAfter, err = numericDate("not_after", wk.NotAfter); err != nil {
		return k, fmt.Errorf("key %s: %w", k.KID, err)
	}
	return k, nil
}

// numericDate converts a NumericDate field.
func numericDate(name string, v *int64) (time.Time, error) {
	switch {
	case v == nil:
		return time.Time{}, fmt.Errorf("%s is missing", name)
	case *v < 0 || *v > maxNumericDate:
		return time.Time{}, fmt.Errorf("%s %d is out of range", name, *v)
	}
	return time.Unix(*v, 0).UTC(), nil
}

// Sign returns the signed trust list of l: a tagged COSE_Sign1 signed with
// EdDSA by registryKey, which must be an Ed25519 key (any crypto.Signer
// whose public key is an ed25519.PublicKey, so the key may live in a
// hardware module). Members are put in division order and keys in
// not-before order; times are truncated to the second; empty KIDs and
// Algorithms are worked out from the public keys. Sign refuses a list that
// Verify would refuse for its content, with the same error. l is not
// modified. The same list and key always give the same bytes.
func Sign(l *List, registryKey crypto.Signer) ([]byte, error) {
	if registryKey == nil {
		return nil, errors.New("trust: sign: no registry key")
	}
	pub, ok := registryKey.Public().(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("trust: sign: the registry key is %T, want Ed25519", registryKey.Public())
	}
	n, err := l.normalize()
	if err != nil {
		if errors.Is(err, ErrInvalid) {
			return nil, err
		}
		return nil, fmt.Errorf("trust: sign: %w", err)
	}
	payload, err := encodePayload(n)
	if err != nil {
		return nil, fmt.Errorf("trust: sign: %w", err)
	}
	kid, err := credential.KID(pub)
	if err != nil {
		return nil, fmt.Errorf("trust: sign: %w", err)
	}
	rawKID, _ := hex.DecodeString(kid)
	signer, err := cose.NewSigner(cose.AlgorithmEdDSA, registryKey)
	if err != nil {
		return nil, fmt.Errorf("trust: sign: %w", err)
	}
	msg := cose.Sign1Message{
		Headers: cose.Headers{Protected: cose.ProtectedHeader{
			cose.HeaderLabelAlgorithm: cose.AlgorithmEdDSA,
			cose.HeaderLabelKeyID:     rawKID,
		}},
		Payload: payload,
	}
	if err := msg.Sign(rand.Reader, nil, signer); err != nil {
		return nil, fmt.Errorf("trust: sign: %w", err)
	}
	out, err := msg.MarshalCBOR()
	if err != nil {
		return nil, fmt.Errorf("trust: sign: %w", err)
	}
	if len(out) > MaxSize {
		return nil, fmt.Errorf("trust: sign: the signed list is %d bytes, more than %d", len(out), MaxSize)
	}
	return out, nil
}

// Verify checks a signed trust list against the registry's public key (an
// ed25519.PublicKey) at time now and returns its content. It refuses, in
// this order: data that is not a signed trust list (ErrMalformed), a list
// signed by another key (ErrRegistryKey), a signature that does not verify
// (ErrSignature), another format version (ErrVersion), content that breaks
// a rule (ErrInvalid), and a list that has expired at now (ErrExpired).
// The payload is decoded only once the signature has verified.
func Verify(data []byte, registryPublic crypto.PublicKey, now time.Time) (*List, error) {
	pub, ok := registryPublic.(ed25519.PublicKey)
	if !ok || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("trust: the registry public key is %T, want an Ed25519 public key", registryPublic)
	}
	msg, kid, err := parseMessage(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	want, _ := credential.KID(pub)
	if kid != want {
		return nil, fmt.Errorf("%w: the list is signed by key %s, the registry key is %s", ErrRegistryKey, kid, want)
	}
	verifier, err := cose.NewVerifier(cose.AlgorithmEdDSA, pub)
	if err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	if err := msg.Verify(nil, verifier); err != nil {
		return nil, fmt.Errorf("%w: the list was altered after it was signed by registry key %s", ErrSignature, kid)
	}
	l, err := decodePayload(msg.Payload)
	if err != nil {
		return nil, err
	}
	if !now.Before(l.ExpiresAt) {
		return nil, fmt.Errorf("%w: list %d expired at %s", ErrExpired, l.Sequence, formatTime(l.ExpiresAt))
	}
	return l, nil
}

// parseMessage decodes the COSE_Sign1 and checks its protected header: alg
// EdDSA, an 8-byte kid, no crit.
func parseMessage(data []byte) (*cose.Sign1Message, string, error) {
	switch {
	case len(data) == 0:
		return nil, "", errors.New("the data is empty")
	case len(data) > MaxSize:
		return nil, "", fmt.Errorf("the data is %d bytes, more than %d", len(data), MaxSize)
	case data[0]>>5 == 5: // a CBOR map: probably an unsigned payload
		return nil, "", errors.New("the data is a bare CBOR map, not a tagged COSE_Sign1: an unsigned list")
	}
	msg := new(cose.Sign1Message)
	if err := msg.UnmarshalCBOR(data); err != nil {
		if errors.Is(err, cose.ErrEmptySignature) {
			return nil, "", errors.New("the COSE_Sign1 has an empty signature: an unsigned list")
		}
		return nil, "", fmt.Errorf("the data is not a tagged COSE_Sign1 (CBOR tag 18): %w", err)
	}
	alg, err := msg.Headers.Protected.Algorithm()
	if err != nil {
		return nil, "", fmt.Errorf("the protected header has no usable alg (1): %w", err)
	}
	if alg != cose.AlgorithmEdDSA {
		return nil, "", fmt.Errorf("algorithm %v is not supported, want EdDSA", alg)
	}
	if _, ok := msg.Headers.Protected[cose.HeaderLabelCritical]; ok {
		return nil, "", errors.New("the protected header lists critical parameters (crit, 2), which this format does not define")
	}
	kid, ok := msg.Headers.Protected[cose.HeaderLabelKeyID].([]byte)
	if !ok || len(kid) != 8 {
		return nil, "", errors.New("the protected header has no 8-byte kid (4)")
	}
	if msg.Payload == nil {
		return nil, "", errors.New("the COSE_Sign1 has no payload")
	}
	return msg, hex.EncodeToString(kid), nil
}
