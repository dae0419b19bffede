package command

import (
	"crypto"
	"fmt"
	"os"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/yrd-epermit/epermit/credential"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// checkOf maps the credential package's checks to the API's.
var checkOf = map[credential.Check]epermitv1.Check{
	credential.CheckFormat:     epermitv1.Check_CHECK_FORMAT,
	credential.CheckIssuer:     epermitv1.Check_CHECK_ISSUER,
	credential.CheckSignature:  epermitv1.Check_CHECK_SIGNATURE,
	credential.CheckTimeWindow: epermitv1.Check_CHECK_TIME_WINDOW,
}

// verifyOffline checks credential text at now against the one public key
// in the PEM file keyFile, taken as the key of whichever issuer the
// credential names, and answers as the node would, without the status
// check: verdict STATUS_UNKNOWN when every check passes, else NOT_VALID.
func verifyOffline(text, keyFile string, now time.Time) (*epermitv1.VerifyPermitResponse, error) {
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("reading --key: %w", err)
	}
	pub, err := credential.ParsePublicKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("--key %s: %w", keyFile, err)
	}
	kid, err := credential.KID(pub)
	if err != nil {
		return nil, fmt.Errorf("--key %s: %w", keyFile, err)
	}
	keys := credential.KeyResolverFunc(func(_, k string) (crypto.PublicKey, bool) {
		return pub, k == kid
	})
	res := credential.Verify(text, keys, now)
	resp := &epermitv1.VerifyPermitResponse{Verdict: epermitv1.Verdict_VERDICT_NOT_VALID}
	if res.Valid() {
		resp.Verdict = epermitv1.Verdict_VERDICT_STATUS_UNKNOWN
	}
	for _, f := range res.Findings {
		resp.Findings = append(resp.Findings, &epermitv1.Finding{Check: checkOf[f.Check], Passed: f.Passed, Detail: f.Detail})
	}
	if c := res.Claims; c != nil {
		resp.Permit = &epermitv1.PermitSummary{
			PermitId:           c.PermitID,
			HolderName:         c.Permit.HolderName,
			MaskedCitizenId:    c.Permit.MaskedCitizenID,
			IssuingDivision:    c.Issuer,
			ResidenceStartDate: c.Permit.ResidenceStartDate,
			ResidenceYears:     int32(c.Permit.ResidenceYears),
			NextEndorsementDue: c.Permit.NextEndorsementDue,
			ExpireTime:         timestamppb.New(c.Expiry),
		}
	}
	return resp, nil
}
