package pki

import (
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"strings"

	divisions "github.com/yrd-epermit/epermit/division"
)

// divisionPrefix is the opaque part of a division URI before the code; the
// scheme is "urn".
const divisionPrefix = "epermit:division:"

// DivisionURI returns the URI that names division code in a certificate,
// urn:epermit:division:<code>. It does not check the code.
func DivisionURI(code string) *url.URL {
	return &url.URL{Scheme: "urn", Opaque: divisionPrefix + code}
}

// DivisionFromCert returns the division code named by cert's division URI.
// It reports false when cert is nil, has no division URI, has more than one,
// or has one that is not exactly urn:epermit:division: followed by six
// digits. It checks the form of the code only, not that the division exists.
func DivisionFromCert(cert *x509.Certificate) (string, bool) {
	if cert == nil {
		return "", false
	}
	code, found := "", false
	for _, u := range cert.URIs {
		if u == nil || u.Scheme != "urn" || !strings.HasPrefix(strings.ToLower(u.Opaque), divisionPrefix) {
			continue
		}
		if found {
			return "", false // two division URIs: ambiguous
		}
		found = true
		c, ok := strings.CutPrefix(u.Opaque, divisionPrefix)
		if !ok || !divisions.IsCode(c) || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			return "", false
		}
		code = c
	}
	return code, found
}

// PeerIdentity returns the account (the common name) and division (the
// division URI) of the peer whose certificate the handshake verified, taken
// from the leaf of the first verified chain. It reports false when no chain
// was verified (no client certificate, or a server that does not verify
// them), when the common name is not a valid account name, or when the
// certificate has no well-formed division ([DivisionFromCert]).
func PeerIdentity(cs tls.ConnectionState) (account, division string, ok bool) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", "", false
	}
	leaf := cs.VerifiedChains[0][0]
	if !validAccount(leaf.Subject.CommonName) {
		return "", "", false
	}
	div, ok := DivisionFromCert(leaf)
	if !ok {
		return "", "", false
	}
	return leaf.Subject.CommonName, div, true
}

// validAccount reports whether s is an account name: 3-64 characters,
// lower-case letters, digits, ".", "_" and "-", starting with a letter.
func validAccount(s string) bool {
	if len(s) < 3 || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
