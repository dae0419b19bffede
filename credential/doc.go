// Package credential signs and verifies permit credentials: what a resident
// carries, in a phone app or on paper as a QR code, and what any verifier
// checks offline with the issuing division's public key.
//
// The full specification, for partners writing a verifier in another
// language, is docs/credential.md; testdata/vector.json is a worked example.
//
// # Format
//
// A credential is the text
//
//	YRD1:<Base45 (RFC 9285) of the zlib-compressed (RFC 1950) COSE bytes>
//
// which fits a QR code in alphanumeric mode. The COSE bytes are a tagged
// COSE_Sign1 (RFC 9052, CBOR tag 18) whose protected header holds alg
// (EdDSA -8, or ES256 -7) and kid: the first 8 bytes of SHA-256 of the raw
// public key, written as 16 lower-case hex digits in this package's API.
// The payload is a CWT claims set (RFC 8392): iss (1) is the issuing
// division's six-digit code, sub (2) the permit id, exp (4), nbf (5) and
// iat (6) NumericDate seconds, and the private claim -65537 a map of the
// permit's verifiable fields with short text keys:
//
//	v   int   claims-format version, 1
//	n   text  holder name
//	id  text  masked citizen id, e.g. "330602********123X"
//	rs  text  residence start date, YYYY-MM-DD
//	ry  int   residence years
//	rm  int   recognised continuous residence across member cities, months; may be 0
//	ed  text  next endorsement due date, YYYY-MM-DD
//	vu  text  card valid until, YYYY-MM-DD; absent when there is no limit
//
// Encoding is deterministic: CBOR core deterministic encoding, zlib at
// best compression and Ed25519 signatures make the same [Claims] and key
// give the same text, which lets a server re-create a credential byte for
// byte on a retried request. [Signer] signs; [Decode] parses without
// checking anything, for display.
//
// # Verifying
//
// [Verify] makes four checks in order and stops at the first failure,
// returning a [Finding] for each check made:
//
//  1. [CheckFormat]: prefix, Base45, zlib, COSE_Sign1 and claims all parse.
//     Hostile input is cheap to reject: the text is capped at
//     [MaxTextLength] characters and the decompressed COSE at
//     [MaxCOSELength] bytes.
//  2. [CheckIssuer]: iss is a six-digit code, the permit id starts with it
//     and a hyphen, and the [KeyResolver] knows the key (iss, kid).
//  3. [CheckSignature]: the key suits alg and the signature verifies.
//  4. [CheckTimeWindow]: nbf <= now < exp.
//
// A credential that passes all four was issued as shown and has not
// expired. It does not say whether the permit has since been suspended or
// cancelled: only the issuer's register knows that.
package credential
