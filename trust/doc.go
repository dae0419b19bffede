// Package trust is the trust list of the Yangtze River Delta federation: the
// member divisions and their issuer keys, signed by the registry key, so
// that any node can verify a credential issued by any member.
//
// The full specification, for partners writing a reader in another
// language, is docs/trust.md.
//
// # Format
//
// A signed trust list is one tagged COSE_Sign1 (RFC 9052, CBOR tag 18),
// stored and served as raw bytes (conventionally trustlist.cose). Its
// protected header holds alg EdDSA (-8) and the 8-byte kid of the registry
// key, computed as [credential.KID] computes an issuer's. Its payload is a
// CBOR map in core deterministic encoding:
//
//	version     uint   format version, 1
//	sequence    uint   grows with every list the registry signs
//	issued_at   int    NumericDate
//	expires_at  int    NumericDate; the list is refused from then on
//	members     array of maps, one per member division:
//	  division    text   six-digit GB/T 2260 code of a county-level division
//	  name        text
//	  province    text   code of its province-level division, e.g. "330000"
//	  endpoint    text   host:port of its node's federation API
//	  keys        array of maps, one per issuer key:
//	    kid         bytes  8 bytes, as in a credential's header
//	    alg         text   "EdDSA" or "ES256"
//	    public_key  bytes  X.509 SubjectPublicKeyInfo, DER
//	    not_before  int    NumericDate: the key may sign from then ...
//	    not_after   int    NumericDate: ... until just before then
//
// [Sign] makes one; [Verify] checks one and returns its [List].
//
// # Verifying
//
// [Verify] refuses data that is not a tagged COSE_Sign1 or is longer than
// [MaxSize] ([ErrMalformed]), a list signed by another key than the
// registry's ([ErrRegistryKey]) or whose signature does not verify
// ([ErrSignature]), a format version other than 1 ([ErrVersion]), a list
// at or past its expires_at ([ErrExpired]), and content that breaks a rule:
// a duplicate division or kid, a division code that is not a county-level
// division of a Delta province, a province that does not contain the
// division, an endpoint that is not host:port, a kid that is not the key's,
// an algorithm that does not suit the key, an empty key window
// ([ErrInvalid]). The error says which rule and where.
//
// # Keys and time
//
// A key verifies credentials signed within its window: not_before <= iat <
// not_after, iat being the credential's signing time. [List.Key] looks a key
// up for a time and tells an unknown member ([ErrUnknownMember]), an
// unknown kid ([ErrUnknownKey]) and a key outside its window
// ([ErrKeyNotValid]) apart. [List.VerifyCredential] verifies a credential
// with the list. A member rotates its key by having the registry publish
// the new key, with a not_before in the future, in a list signed before
// the key's first credential; removing a key from the list revokes it.
//
// # Holding the current list
//
// A node keeps its list in a [Holder], which accepts a new list only when
// it verifies and its sequence is greater than the current one's
// ([ErrStale] otherwise; loading the current bytes again is a no-op), and
// which stops returning a list once it has expired. [Holder.Watch] and
// [Holder.WatchURL] poll a file or an HTTP(S) URL and pick up a newer list
// without a restart.
//
// # Registry keys
//
// The registry key is Ed25519. [NewRegistryKey], [SaveRegistryKey] and
// [LoadRegistryKey] handle the private key (a PKCS#8 PEM file with mode
// 0600), [SaveRegistryPublic] and [LoadRegistryPublic] the public one (a PEM
// "PUBLIC KEY" file that every node is configured with).
package trust
