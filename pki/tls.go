package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// ServerConfig returns a node's TLS server configuration, with the node
// certificate and key read from PEM files. It accepts TLS 1.2 and 1.3 and
// negotiates 1.3 whenever the client offers it.
//
// When clientCAFile is not empty, the configuration requires every client to
// present a certificate that verifies against the CA certificates in that
// file (mutual TLS); [PeerIdentity] then reads who the client is. When it is
// empty, clients are not asked for certificates.
//
// The files are read once; a node restarts to pick up new certificates.
// The errors name the file at fault.
func ServerConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	cert, err := loadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}
	if clientCAFile != "" {
		pool, err := loadCAPool(clientCAFile, "client CA")
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// ClientConfig returns the TLS client configuration for calling a node:
// the node's certificate must verify against the CA certificates in caFile
// (the system roots when caFile is empty), and, when certFile and keyFile
// are given, the client presents that certificate. Give both or neither.
//
// ServerName is left empty: gRPC fills it in from the dial target, so the
// host in the target must be one the node certificate names.
func ClientConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("pki: a client certificate needs both its certificate file and its key file")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := loadCAPool(caFile, "CA")
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if certFile != "" {
		cert, err := loadKeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// loadKeyPair reads a certificate (chain) and its private key.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: reading certificate: %w", err)
	}
	if _, err := parseCertificates(certPEM); err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: certificate %s: %w", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: reading key: %w", err)
	}
	if _, err := parsePrivateKey(keyPEM); err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: key %s: %w", keyFile, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

// loadCAPool reads the CA certificates of file into a pool; what names the
// file's role in errors. Every certificate must be a CA certificate, which
// catches a node or client certificate given by mistake.
func loadCAPool(file, what string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("pki: reading %s file: %w", what, err)
	}
	certs, err := parseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("pki: %s file %s: %w", what, file, err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		if !c.IsCA {
			return nil, fmt.Errorf("pki: %s file %s: %q is not a CA certificate", what, file, c.Subject.CommonName)
		}
		pool.AddCert(c)
	}
	return pool, nil
}
