package trust

import (
	"crypto"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/yrd-epermit/epermit/credential"
)

// Resolver returns a credential.KeyResolver that looks keys up in l for a
// credential signed at time at (its iat): a key is known only when
// List.Key would return it. VerifyCredential is usually what a node wants.
func (l *List) Resolver(at time.Time) credential.KeyResolver {
	return credential.KeyResolverFunc(func(issuer, kid string) (crypto.PublicKey, bool) {
		pub, err := l.Key(issuer, kid, at)
		return pub, err == nil
	})
}

// VerifyCredential verifies a permit credential text at time now as
// credential.Verify does, taking the issuer's key from l: the key of the
// credential's issuer (iss) and kid, valid when the credential was signed
// (iat). The signature covers iat, so a credential cannot move itself into
// a key's window. When the issuer check fails because of the list, its
// finding says why: no list, the list has expired, the division is not a
// member, the member has no such key, or the key was not valid at iat.
//
// l may be nil (no list loaded): then no credential passes the issuer
// check.
func (l *List) VerifyCredential(text string, now time.Time) credential.Result {
	claims, _, err := credential.Decode(text)
	if err != nil {
		// Let Verify report the format failure in its own words.
		return credential.Verify(text, nil, now)
	}
	var keyErr error
	keys := credential.KeyResolverFunc(func(issuer, kid string) (crypto.PublicKey, bool) {
		switch {
		case l == nil:
			keyErr = errNoList
			return nil, false
		case !now.Before(l.ExpiresAt):
			keyErr = listExpired(l)
			return nil, false
		}
		pub, err := l.Key(issuer, kid, claims.IssuedAt)
		keyErr = err
		return pub, err == nil
	})
	res := credential.Verify(text, keys, now)
	if keyErr != nil {
		for i, f := range res.Findings {
			if f.Check == credential.CheckIssuer && !f.Passed {
				res.Findings[i].Detail = findingDetail(keyErr)
			}
		}
	}
	return res
}

// errNoList is the reason no credential verifies before a list is loaded.
var errNoList = &detailError{"no trust list is loaded, so no issuer key is known"}

// listExpired is the reason no credential verifies with an expired list.
func listExpired(l *List) error {
	return &detailError{"the trust list (sequence " + strconv.FormatUint(l.Sequence, 10) + ") expired at " +
		formatTime(l.ExpiresAt) + ", so no issuer key is trusted until a newer list is loaded"}
}

// detailError is an error whose message is a finding's detail as it is.
type detailError struct{ s string }

func (e *detailError) Error() string { return e.s }

// findingDetail turns an error of Key into a sentence for a finding,
// without the package prefix.
func findingDetail(err error) string {
	s := err.Error()
	for _, prefix := range []error{ErrUnknownMember, ErrUnknownKey, ErrKeyNotValid} {
		s = strings.TrimPrefix(s, prefix.Error()+": ")
	}
	if errors.Is(err, ErrKeyNotValid) {
		s += ", when the credential was signed"
	}
	return s
}
