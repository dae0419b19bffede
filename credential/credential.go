package credential

import (
	"bytes"
	"compress/zlib"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/veraison/go-cose"

	"github.com/yrd-epermit/epermit/internal/strictcbor"
)

// Prefix is the version prefix of the text form.
const Prefix = "YRD1:"

// Limits on what Decode and Verify accept, so hostile input costs little.
const (
	// MaxTextLength is the longest credential text accepted, in bytes.
	MaxTextLength = 4096
	// MaxCOSELength is the largest decompressed COSE_Sign1 accepted, in bytes.
	MaxCOSELength = 8 << 10
)

// claimsVersion is the value of the "v" key of the permit claim.
const claimsVersion = 1

// Claims are the contents of a credential.
type Claims struct {
	Issuer    string    // division code (iss)
	PermitID  string    // sub
	IssuedAt  time.Time // iat
	NotBefore time.Time // nbf
	Expiry    time.Time // exp
	Permit    PermitClaims
}

// PermitClaims are the permit's verifiable fields, carried in the private
// claim -65537.
type PermitClaims struct {
	HolderName         string
	MaskedCitizenID    string
	ResidenceStartDate string // YYYY-MM-DD
	ResidenceYears     int
	ResidenceMonths    int    // recognised continuous residence across member cities, months
	NextEndorsementDue string // YYYY-MM-DD
	ValidUntil         string // YYYY-MM-DD or ""
	// StatusIndex is the permit's entry in its issuer's status list
	// (package statuslist); nil when the issuer publishes none.
	StatusIndex *uint32
}

// cwtClaims is the CBOR form of Claims: a CWT claims set (RFC 8392). The
// pointers tell a missing claim from a zero one when decoding.
type cwtClaims struct {
	Iss    string       `cbor:"1,keyasint"`
	Sub    string       `cbor:"2,keyasint"`
	Exp    *int64       `cbor:"4,keyasint"`
	Nbf    *int64       `cbor:"5,keyasint"`
	Iat    *int64       `cbor:"6,keyasint"`
	Permit *permitClaim `cbor:"-65537,keyasint"`
}

// permitClaim is the CBOR form of PermitClaims.
type permitClaim struct {
	Version            *int    `cbor:"v"`
	HolderName         string  `cbor:"n"`
	MaskedCitizenID    string  `cbor:"id"`
	ResidenceStartDate string  `cbor:"rs"`
	ResidenceYears     *int    `cbor:"ry"`
	ResidenceMonths    *int    `cbor:"rm"`
	NextEndorsementDue string  `cbor:"ed"`
	ValidUntil         string  `cbor:"vu,omitempty"`
	StatusIndex        *uint32 `cbor:"si,omitempty"`
}

var (
	// payloadEnc encodes payloads deterministically (internal/strictcbor).
	payloadEnc = strictcbor.Enc
	// payloadDec decodes payloads strictly (internal/strictcbor).
	payloadDec = strictcbor.Dec(4, 16)
)

// check reports the first claim, other than the times, that would make a
// credential fail the format check.
func (c *Claims) check() error {
	switch {
	case c.Issuer == "":
		return errors.New("claim iss (1) is missing")
	case c.PermitID == "":
		return errors.New("claim sub (2) is missing")
	}
	p := &c.Permit
	switch {
	case p.HolderName == "":
		return errors.New("permit claim n (holder name) is missing")
	case p.MaskedCitizenID == "":
		return errors.New("permit claim id (masked citizen id) is missing")
	case p.ResidenceYears < 0:
		return fmt.Errorf("permit claim ry (residence years) is negative: %d", p.ResidenceYears)
	case p.ResidenceMonths < 0:
		return fmt.Errorf("permit claim rm (residence months) is negative: %d", p.ResidenceMonths)
	}
	if err := checkDate("rs (residence start date)", p.ResidenceStartDate); err != nil {
		return err
	}
	if err := checkDate("ed (next endorsement due)", p.NextEndorsementDue); err != nil {
		return err
	}
	if p.ValidUntil != "" {
		return checkDate("vu (valid until)", p.ValidUntil)
	}
	return nil
}

func checkDate(name, s string) error {
	if s == "" {
		return fmt.Errorf("permit claim %s is missing", name)
	}
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return fmt.Errorf("permit claim %s is not a YYYY-MM-DD date: %s", name, quote(s))
	}
	return nil
}

// marshal returns the CBOR payload of c.
func (c *Claims) marshal() ([]byte, error) {
	switch {
	case c.IssuedAt.IsZero():
		return nil, errors.New("claim iat (6) is missing")
	case c.NotBefore.IsZero():
		return nil, errors.New("claim nbf (5) is missing")
	case c.Expiry.IsZero():
		return nil, errors.New("claim exp (4) is missing")
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	exp, nbf, iat := c.Expiry.Unix(), c.NotBefore.Unix(), c.IssuedAt.Unix()
	v, ry, rm := claimsVersion, c.Permit.ResidenceYears, c.Permit.ResidenceMonths
	return payloadEnc.Marshal(cwtClaims{
		Iss: c.Issuer,
		Sub: c.PermitID,
		Exp: &exp,
		Nbf: &nbf,
		Iat: &iat,
		Permit: &permitClaim{
			Version:            &v,
			HolderName:         c.Permit.HolderName,
			MaskedCitizenID:    c.Permit.MaskedCitizenID,
			ResidenceStartDate: c.Permit.ResidenceStartDate,
			ResidenceYears:     &ry,
			ResidenceMonths:    &rm,
			NextEndorsementDue: c.Permit.NextEndorsementDue,
			ValidUntil:         c.Permit.ValidUntil,
			StatusIndex:        c.Permit.StatusIndex,
		},
	})
}

// unmarshalClaims decodes and checks a CBOR payload.
func unmarshalClaims(payload []byte) (Claims, error) {
	var w cwtClaims
	if err := payloadDec.Unmarshal(payload, &w); err != nil {
		return Claims{}, fmt.Errorf("the payload is not a CWT claims set: %w", err)
	}
	switch {
	case w.Exp == nil:
		return Claims{}, errors.New("claim exp (4) is missing")
	case w.Nbf == nil:
		return Claims{}, errors.New("claim nbf (5) is missing")
	case w.Iat == nil:
		return Claims{}, errors.New("claim iat (6) is missing")
	case w.Permit == nil:
		return Claims{}, errors.New("the permit claim (-65537) is missing")
	}
	p := w.Permit
	switch {
	case p.Version == nil:
		return Claims{}, errors.New("permit claim v (version) is missing")
	case *p.Version != claimsVersion:
		return Claims{}, fmt.Errorf("permit claims version %d is not supported, want %d", *p.Version, claimsVersion)
	case p.ResidenceYears == nil:
		return Claims{}, errors.New("permit claim ry (residence years) is missing")
	case p.ResidenceMonths == nil:
		return Claims{}, errors.New("permit claim rm (residence months) is missing")
	}
	c := Claims{
		Issuer:    w.Iss,
		PermitID:  w.Sub,
		IssuedAt:  time.Unix(*w.Iat, 0).UTC(),
		NotBefore: time.Unix(*w.Nbf, 0).UTC(),
		Expiry:    time.Unix(*w.Exp, 0).UTC(),
		Permit: PermitClaims{
			HolderName:         p.HolderName,
			MaskedCitizenID:    p.MaskedCitizenID,
			ResidenceStartDate: p.ResidenceStartDate,
			ResidenceYears:     *p.ResidenceYears,
			ResidenceMonths:    *p.ResidenceMonths,
			NextEndorsementDue: p.NextEndorsementDue,
			ValidUntil:         p.ValidUntil,
			StatusIndex:        p.StatusIndex,
		},
	}
	if err := c.check(); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// parsed is a credential that passed the format check.
type parsed struct {
	claims Claims
	kid    string
	alg    cose.Algorithm
	msg    cose.Sign1Message
}

// decoder holds the buffers of one decoding, reused through decoders.
type decoder struct {
	compressed []byte
	cose       []byte
	src        bytes.Reader
	zr         io.ReadCloser // a zlib reader, reset for each use
}

var decoders = sync.Pool{New: func() any {
	return &decoder{cose: make([]byte, MaxCOSELength+1)}
}}

// inflate returns the decompressed COSE bytes of text, valid until d is
// used again.
func (d *decoder) inflate(text string) ([]byte, error) {
	if len(text) > MaxTextLength {
		return nil, fmt.Errorf("the text is %d characters long, more than %d", len(text), MaxTextLength)
	}
	body, ok := strings.CutPrefix(text, Prefix)
	if !ok {
		return nil, fmt.Errorf("the text does not start with %s", Prefix)
	}
	var err error
	d.compressed, err = appendBase45Decode(d.compressed[:0], body)
	if err != nil {
		return nil, fmt.Errorf("the text after %s is not Base45: %w", Prefix, err)
	}
	d.src.Reset(d.compressed)
	if d.zr == nil {
		d.zr, err = zlib.NewReader(&d.src)
	} else {
		err = d.zr.(zlib.Resetter).Reset(&d.src, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("the data is not zlib-compressed: %w", err)
	}
	// Read at most one byte more than allowed, to tell a stream that
	// ends at the limit from one that goes on.
	n := 0
	for n < len(d.cose) {
		m, err := d.zr.Read(d.cose[n:])
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("the data is not zlib-compressed: %w", err)
		}
	}
	if n > MaxCOSELength {
		return nil, fmt.Errorf("the data decompresses to more than %d bytes", MaxCOSELength)
	}
	if d.src.Len() != 0 {
		return nil, fmt.Errorf("%d bytes follow the zlib stream", d.src.Len())
	}
	return d.cose[:n], nil
}

// parse runs the format check: prefix, Base45, zlib, COSE_Sign1 and CWT
// claims.
func parse(text string) (*parsed, error) {
	d := decoders.Get().(*decoder)
	defer decoders.Put(d)
	raw, err := d.inflate(text)
	if err != nil {
		return nil, err
	}
	p := new(parsed)
	// UnmarshalCBOR copies what it keeps, so raw may be reused afterwards.
	if err := p.msg.UnmarshalCBOR(raw); err != nil {
		return nil, fmt.Errorf("the data is not a tagged COSE_Sign1 (CBOR tag 18): %w", err)
	}
	if p.alg, err = p.msg.Headers.Protected.Algorithm(); err != nil {
		return nil, fmt.Errorf("the protected header has no usable alg (1): %w", err)
	}
	if p.alg != cose.AlgorithmEdDSA && p.alg != cose.AlgorithmES256 {
		return nil, fmt.Errorf("algorithm %v is not supported, want EdDSA or ES256", p.alg)
	}
	if _, ok := p.msg.Headers.Protected[cose.HeaderLabelCritical]; ok {
		return nil, errors.New("the protected header lists critical parameters (crit, 2), which this format does not define")
	}
	kid, ok := p.msg.Headers.Protected[cose.HeaderLabelKeyID].([]byte)
	if !ok || len(kid) != kidLength {
		return nil, fmt.Errorf("the protected header has no %d-byte kid (4)", kidLength)
	}
	p.kid = hex.EncodeToString(kid)
	if p.msg.Payload == nil {
		return nil, errors.New("the COSE_Sign1 has no payload")
	}
	if p.claims, err = unmarshalClaims(p.msg.Payload); err != nil {
		return nil, err
	}
	return p, nil
}

// Decode parses the text without verifying anything, for display. It
// returns the claims, with times in UTC, and the key id.
func Decode(text string) (*Claims, string, error) {
	p, err := parse(text)
	if err != nil {
		return nil, "", fmt.Errorf("credential: %w", err)
	}
	return &p.claims, p.kid, nil
}
