package statuslist

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/veraison/go-cose"
	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/internal/strictcbor"
)

// The typ (16) values of the protected header. They keep the three kinds
// of COSE_Sign1 an issuer key signs (credentials, status lists and
// not-modified answers) from being taken for one another.
const (
	// TypeList is the typ of a status list.
	TypeList = "application/yrd-statuslist+cwt"
	// TypeNotModified is the typ of a not-modified answer.
	TypeNotModified = "application/yrd-statuslist-notmodified+cwt"
)

// Limits on what the verifier reads.
const (
	// MaxEncodedLength is the largest status list Verify accepts, in
	// bytes: a MaxSize list that does not compress at all, plus headers.
	MaxEncodedLength = MaxSize/2 + 64<<10
	// MaxClockSkew is how far in the verifier's future a list may have
	// been signed before Verify refuses it.
	MaxClockSkew = 5 * time.Minute
)

// kidLength is the length of a key id in bytes (docs/credential.md,
// section 3).
const kidLength = 8

var (
	// payloadEnc encodes payloads deterministically (internal/strictcbor).
	payloadEnc = strictcbor.Enc
	// payloadDec decodes payloads strictly (internal/strictcbor).
	payloadDec = strictcbor.Dec(4, 16)
)

// algorithmOf returns the COSE algorithm for a public key: EdDSA for
// Ed25519, ES256 for P-256.
func algorithmOf(pub crypto.PublicKey) (cose.Algorithm, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return cose.AlgorithmEdDSA, nil
	case *ecdsa.PublicKey:
		if k != nil && k.Curve == elliptic.P256() {
			return cose.AlgorithmES256, nil
		}
	}
	return 0, fmt.Errorf("%w: %T is not an Ed25519 or P-256 key", ErrKey, pub)
}

// sign returns the tagged COSE_Sign1 of payload, with protected header
// {alg, kid, typ}.
func sign(key crypto.Signer, typ string, payload []byte) ([]byte, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: no signing key", ErrKey)
	}
	pub := key.Public()
	alg, err := algorithmOf(pub)
	if err != nil {
		return nil, err
	}
	kid, err := credential.KID(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	rawKID, _ := hex.DecodeString(kid)
	signer, err := cose.NewSigner(alg, key)
	if err != nil {
		return nil, fmt.Errorf("statuslist: %w", err)
	}
	msg := cose.Sign1Message{
		Headers: cose.Headers{Protected: cose.ProtectedHeader{
			cose.HeaderLabelAlgorithm: alg,
			cose.HeaderLabelKeyID:     rawKID,
			cose.HeaderLabelType:      typ,
		}},
		Payload: payload,
	}
	// Ed25519 ignores rand; ECDSA needs it.
	if err := msg.Sign(rand.Reader, nil, signer); err != nil {
		return nil, fmt.Errorf("statuslist: sign: %w", err)
	}
	return msg.MarshalCBOR()
}

// envelope is a parsed COSE_Sign1 whose header passed the format check.
type envelope struct {
	msg cose.Sign1Message
	alg cose.Algorithm
	kid string
	typ string
}

// parseEnvelope checks that data is a tagged COSE_Sign1 with alg EdDSA or
// ES256, an 8-byte kid, a typ and no crit in its protected header, and a
// payload.
func parseEnvelope(data []byte) (*envelope, error) {
	if len(data) > MaxEncodedLength {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrFormat, len(data), MaxEncodedLength)
	}
	e := new(envelope)
	if err := e.msg.UnmarshalCBOR(data); err != nil {
		return nil, fmt.Errorf("%w: not a tagged COSE_Sign1 (CBOR tag 18): %v", ErrFormat, err)
	}
	h := e.msg.Headers.Protected
	var err error
	if e.alg, err = h.Algorithm(); err != nil {
		return nil, fmt.Errorf("%w: no usable alg (1) in the protected header: %v", ErrFormat, err)
	}
	if e.alg != cose.AlgorithmEdDSA && e.alg != cose.AlgorithmES256 {
		return nil, fmt.Errorf("%w: algorithm %v, want EdDSA or ES256", ErrFormat, e.alg)
	}
	if _, ok := h[cose.HeaderLabelCritical]; ok {
		return nil, fmt.Errorf("%w: the protected header lists critical parameters (crit, 2)", ErrFormat)
	}
	kid, ok := h[cose.HeaderLabelKeyID].([]byte)
	if !ok || len(kid) != kidLength {
		return nil, fmt.Errorf("%w: no %d-byte kid (4) in the protected header", ErrFormat, kidLength)
	}
	e.kid = hex.EncodeToString(kid)
	if e.typ, ok = h[cose.HeaderLabelType].(string); !ok {
		return nil, fmt.Errorf("%w: no text typ (16) in the protected header", ErrFormat)
	}
	if e.msg.Payload == nil {
		return nil, fmt.Errorf("%w: no payload", ErrFormat)
	}
	return e, nil
}

// open parses data as a COSE_Sign1 of type typ and verifies its signature
// with pub; it returns the envelope, whose payload is then authentic.
func open(data []byte, typ string, pub crypto.PublicKey) (*envelope, error) {
	e, err := parseEnvelope(data)
	if err != nil {
		return nil, err
	}
	if e.typ != typ {
		return nil, fmt.Errorf("%w: typ %q, want %q", ErrFormat, e.typ, typ)
	}
	alg, err := algorithmOf(pub)
	if err != nil {
		return nil, err
	}
	if alg != e.alg {
		return nil, fmt.Errorf("%w: signed with %v, but the key is for %v", ErrKey, e.alg, alg)
	}
	kid, err := credential.KID(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	if kid != e.kid {
		return nil, fmt.Errorf("%w: signed by key %s, the key given is %s", ErrKey, e.kid, kid)
	}
	v, err := cose.NewVerifier(e.alg, pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	if err := e.msg.Verify(nil, v); err != nil {
		if errors.Is(err, cose.ErrVerification) {
			return nil, fmt.Errorf("%w: key %s", ErrSignature, kid)
		}
		return nil, fmt.Errorf("%w: key %s: %v", ErrSignature, kid, err)
	}
	return e, nil
}

// KeyID returns the key id (16 hex digits) in the protected header of a
// status list or not-modified answer, without verifying anything, so a
// caller can pick the issuer's key from its trust list before Verify.
func KeyID(data []byte) (string, error) {
	e, err := parseEnvelope(data)
	if err != nil {
		return "", err
	}
	return e.kid, nil
}

// checkTimes checks the signed times against now: iat <= exp, now < exp,
// iat <= now + MaxClockSkew.
func checkTimes(iat, exp int64, now time.Time) (time.Time, time.Time, error) {
	issued, expires := time.Unix(iat, 0).UTC(), time.Unix(exp, 0).UTC()
	if exp < iat {
		return issued, expires, fmt.Errorf("%w: expires (%d) before it was issued (%d)", ErrFormat, exp, iat)
	}
	if !now.Before(expires) {
		return issued, expires, fmt.Errorf("%w: at %s", ErrExpired, expires.Format(time.RFC3339))
	}
	if issued.After(now.Add(MaxClockSkew)) {
		return issued, expires, fmt.Errorf("%w: signed at %s", ErrNotYetValid, issued.Format(time.RFC3339))
	}
	return issued, expires, nil
}
