// Package pki makes and checks the X.509 certificates that epermit nodes and
// their callers use for TLS and mutual TLS, and builds the nodes' TLS
// configurations.
//
// # Naming convention
//
// Every certificate issued here names a division, a six-digit GB/T 2260 code
// such as 330604, in a URI subject alternative name of the form
//
//	urn:epermit:division:330604
//
// ([DivisionURI], [DivisionFromCert]). A certificate carries exactly one
// such URI; a certificate with none, with two, or with a malformed one has no
// division. Other URI names are ignored.
//
// A client certificate (extended key usage client auth) names its account in
// Subject.CommonName: 3-64 characters, lower-case letters, digits, ".", "_"
// and "-", starting with a letter, the rule of the node's account names.
// [PeerIdentity] reads the account and the division of a caller that the
// TLS handshake has verified.
//
// A node (server) certificate (extended key usage server auth) carries a DNS
// or IP subject alternative name for every host name or address clients use
// to reach the node, plus the node's division URI. Its common name is
// descriptive only ("epermit node 330604").
//
// All keys are ECDSA P-256. A [CA] certifies leaf certificates only: its
// path length is zero.
//
// # TLS
//
// [ServerConfig] builds a node's server configuration: TLS 1.2 at least, 1.3
// whenever the client offers it, and, given a client CA file, mutual TLS with
// a verified client certificate required. [ClientConfig] builds the matching
// client side for permitctl and for nodes calling each other.
//
// # Development PKI
//
// [WriteDevPKI] writes a complete throw-away PKI into a folder: a CA, one
// node certificate and any number of client certificates. It is for
// development and tests; a production deployment uses certificates from the
// province's CA, which this package only reads.
package pki
