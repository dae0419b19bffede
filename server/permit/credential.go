package permit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/credential"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// claims derives the credential claims of a stored record. Everything comes
// from the record as of its credential time, so the same record always gives
// the same credential (an idempotent retry gets the identical text).
func (s *Service) claims(p *epermitv1.Permit) credential.Claims {
	signed := p.CredentialTime.AsTime().Truncate(time.Second)
	sch := scheduleOf(p, s.cfg.Rules)
	day := today(signed)
	return credential.Claims{
		Issuer:    p.IssuingDivision,
		PermitID:  p.Id,
		IssuedAt:  signed,
		NotBefore: signed,
		Expiry:    expiry(sch),
		Permit: credential.PermitClaims{
			HolderName:         p.Holder.GetName(),
			MaskedCitizenID:    citizenid.ID{Number: p.Holder.GetCitizenId()}.Mask(),
			ResidenceStartDate: p.ResidenceStartDate,
			ResidenceYears:     residenceYears(sch, day),
			ResidenceMonths:    residenceMonths(p, sch, day),
			NextEndorsementDue: formatDate(sch.nextDue),
			ValidUntil:         p.ValidUntil,
			StatusIndex:        p.StatusIndex,
		},
	}
}

// expiry is when a credential stops being valid: the start of the next
// endorsement due date, or the end of the card validity if that comes first.
func expiry(sch schedule) time.Time {
	exp := sch.nextDue
	if !sch.validUntil.IsZero() && sch.validUntil.AddDate(0, 0, 1).Before(exp) {
		exp = sch.validUntil.AddDate(0, 0, 1)
	}
	return exp
}

// credential signs the credential of a stored record.
func (s *Service) credential(p *epermitv1.Permit) (*epermitv1.Credential, error) {
	return s.sign(s.claims(p))
}

// sign signs the credential of claims c.
func (s *Service) sign(c credential.Claims) (*epermitv1.Credential, error) {
	signer := s.cfg.Keys.SignerAt(c.IssuedAt)
	text, err := signer.Sign(c)
	if err != nil {
		return nil, s.internal("sign credential", err)
	}
	return &epermitv1.Credential{Text: text, Kid: signer.KID(), ExpireTime: timestamppb.New(c.Expiry)}, nil
}

// credentialSoon starts signing p's credential in another goroutine and
// returns the function that waits for it. p may change once it returns.
func (s *Service) credentialSoon(p *epermitv1.Permit) func() (*epermitv1.Credential, error) {
	c := s.claims(p)
	if c.Permit.StatusIndex != nil {
		index := *c.Permit.StatusIndex
		c.Permit.StatusIndex = &index
	}
	done := make(chan struct{})
	var cred *epermitv1.Credential
	var err error
	go func() {
		defer close(done)
		cred, err = s.sign(c)
	}()
	return func() (*epermitv1.Credential, error) {
		<-done
		return cred, err
	}
}

// rawPublicKey returns the bytes verifiers use: Ed25519's 32 bytes, or the
// uncompressed P-256 point.
func rawPublicKey(pub crypto.PublicKey) ([]byte, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return k, nil
	case *ecdsa.PublicKey:
		return k.Bytes()
	}
	return nil, fmt.Errorf("unsupported public key type %T", pub)
}
