package statuslist

// The CBOR payloads, CWT claims sets (RFC 8392). docs/statuslist.md is
// the specification; keep the two in step.

// formatVersion is the value of the "v" key of both private claims.
const formatVersion = 1

// Private-use claim keys (below -65536 in the CWT claims registry);
// -65537 is the credential's permit claim.
const (
	claimList        = -65538
	claimNotModified = -65539
)

// listPayload is the payload of a status list. The pointers tell a
// missing field from a zero one when decoding.
type listPayload struct {
	Iss  string     `cbor:"1,keyasint"`
	Exp  *int64     `cbor:"4,keyasint"`
	Iat  *int64     `cbor:"6,keyasint"`
	List *listClaim `cbor:"-65538,keyasint"`
}

type listClaim struct {
	V       *uint64 `cbor:"v"`
	Version *uint64 `cbor:"version"`
	Size    *uint64 `cbor:"size"`
	Bits    *uint64 `cbor:"bits"`
	Lst     []byte  `cbor:"lst"`
}

// notModifiedPayload is the payload of a not-modified answer.
type notModifiedPayload struct {
	Iss string            `cbor:"1,keyasint"`
	Exp *int64            `cbor:"4,keyasint"`
	Iat *int64            `cbor:"6,keyasint"`
	NM  *notModifiedClaim `cbor:"-65539,keyasint"`
}

type notModifiedClaim struct {
	V       *uint64 `cbor:"v"`
	Version *uint64 `cbor:"version"`
	Size    *uint64 `cbor:"size"`
	SHA256  []byte  `cbor:"sha256"`
}

func ptr[T any](v T) *T { return &v }
