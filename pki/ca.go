package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"

	divisions "github.com/yrd-epermit/epermit/division"
)

// CA is a certificate authority: a CA certificate and its private key. It
// issues node and client certificates with ECDSA P-256 keys.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
}

// NewCA makes a self-signed CA with a fresh ECDSA P-256 key, valid from
// notBefore to notAfter. The CA may sign leaf certificates only (path length
// zero).
func NewCA(commonName string, notBefore, notAfter time.Time) (*CA, error) {
	if commonName == "" {
		return nil, errors.New("pki: CA common name is empty")
	}
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("pki: CA validity ends (%s) before it starts (%s)", notAfter.Format(time.RFC3339), notBefore.Format(time.RFC3339))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generating CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: creating CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parsing new CA certificate: %w", err)
	}
	return &CA{cert: cert, certPEM: encodePEM("CERTIFICATE", der), key: key}, nil
}

// LoadCA reads a CA from a PEM certificate file and a PEM private key file
// (PKCS #8, SEC 1 EC or PKCS #1 RSA). It fails when either file cannot be
// read or parsed, when the certificate is not a CA allowed to sign
// certificates, or when the key does not belong to the certificate. The
// errors name the file at fault.
func LoadCA(certFile, keyFile string) (*CA, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("pki: reading CA certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("pki: reading CA key: %w", err)
	}
	return parseCA(certPEM, keyPEM, certFile, keyFile)
}

// parseCA is LoadCA on the files' contents; certName and keyName name them
// in errors.
func parseCA(certPEM, keyPEM []byte, certName, keyName string) (*CA, error) {
	certs, err := parseCertificates(certPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: CA certificate %s: %w", certName, err)
	}
	cert := certs[0]
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("pki: CA certificate %s: %q is not a CA certificate allowed to sign certificates", certName, cert.Subject.CommonName)
	}
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: CA key %s: %w", keyName, err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("pki: CA key %s does not match the certificate in %s", keyName, certName)
	}
	return &CA{cert: cert, certPEM: encodePEM("CERTIFICATE", cert.Raw), key: key}, nil
}

// CertPEM returns the CA certificate, PEM encoded: the trust anchor that
// nodes and clients load.
func (ca *CA) CertPEM() []byte {
	return bytes.Clone(ca.certPEM)
}

// KeyPEM returns the CA private key as a PEM "PRIVATE KEY" block (PKCS #8).
func (ca *CA) KeyPEM() ([]byte, error) {
	return marshalKey(ca.key)
}

// IssueServer issues a node certificate for division, valid from notBefore to
// notAfter, with a fresh ECDSA P-256 key. Each of hosts becomes an IP address
// name when it parses as one and a DNS name otherwise; at least one is
// required. The certificate may be used for server authentication only.
func (ca *CA) IssueServer(division string, hosts []string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	if len(hosts) == 0 {
		return nil, nil, errors.New("pki: a node certificate needs at least one host name or address")
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "epermit node " + division},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			continue
		}
		if !validDNSName(h) {
			return nil, nil, fmt.Errorf("pki: host %q is neither an IP address nor a DNS name", h)
		}
		tmpl.DNSNames = append(tmpl.DNSNames, h)
	}
	return ca.issue(tmpl, division, notBefore, notAfter)
}

// IssueClient issues a client certificate for account of division, valid
// from notBefore to notAfter, with a fresh ECDSA P-256 key. account must be
// a valid account name (see the package documentation). The certificate may
// be used for client authentication only.
func (ca *CA) IssueClient(account, division string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	if !validAccount(account) {
		return nil, nil, fmt.Errorf("pki: account %q is not a valid account name (3-64 of a-z 0-9 . _ -, starting with a letter)", account)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: account},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return ca.issue(tmpl, division, notBefore, notAfter)
}

// issue completes tmpl with the division, validity, serial and key usage,
// signs it with a fresh key and returns both, PEM encoded.
func (ca *CA) issue(tmpl *x509.Certificate, division string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	if !divisions.IsCode(division) {
		return nil, nil, fmt.Errorf("pki: division %q is not a six-digit code", division)
	}
	if !notAfter.After(notBefore) {
		return nil, nil, fmt.Errorf("pki: validity ends (%s) before it starts (%s)", notAfter.Format(time.RFC3339), notBefore.Format(time.RFC3339))
	}
	if notAfter.After(ca.cert.NotAfter) {
		return nil, nil, fmt.Errorf("pki: validity ends (%s) after the CA's (%s)", notAfter.Format(time.RFC3339), ca.cert.NotAfter.Format(time.RFC3339))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generating key: %w", err)
	}
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return nil, nil, err
	}
	tmpl.NotBefore, tmpl.NotAfter = notBefore, notAfter
	tmpl.URIs = append(tmpl.URIs, DivisionURI(division))
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: signing certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	keyPEM, err = marshalKey(key)
	if err != nil {
		return nil, nil, err
	}
	return encodePEM("CERTIFICATE", der), keyPEM, nil
}

// newSerial returns a random positive 128-bit serial number.
func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("pki: generating serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// validDNSName reports whether s looks like a host name a certificate may
// carry: labels of letters, digits and "-", separated by dots, with an
// optional leading "*." wildcard.
func validDNSName(s string) bool {
	if len(s) > 2 && s[:2] == "*." {
		s = s[2:]
	}
	if s == "" || len(s) > 253 {
		return false
	}
	label := 0
	for i := range len(s) {
		switch c := s[i]; {
		case c == '.':
			if label == 0 || s[i-1] == '-' {
				return false
			}
			label = 0
		case c == '-':
			if label == 0 {
				return false
			}
			label++
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			label++
		default:
			return false
		}
		if label > 63 {
			return false
		}
	}
	return label > 0 && s[len(s)-1] != '-'
}

func encodePEM(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func marshalKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: encoding private key: %w", err)
	}
	return encodePEM("PRIVATE KEY", der), nil
}

// parseCertificates parses every CERTIFICATE block of data. Blocks of other
// types are skipped; text between blocks is allowed, as OpenSSL writes it.
// It fails on a certificate block that does not parse and when there is no
// certificate at all.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block found")
	}
	return certs, nil
}

// parsePrivateKey parses the first private key block of data.
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM private key block found")
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s block: %w", block.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported private key type %T", key)
		}
		return signer, nil
	}
}
