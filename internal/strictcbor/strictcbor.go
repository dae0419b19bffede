// Package strictcbor holds the CBOR modes of epermit's signed formats
// (credentials, trust lists, status lists): core deterministic encoding,
// so equal values give equal bytes, and strict decoding of untrusted input.
package strictcbor

import "github.com/fxamacker/cbor/v2"

// Enc encodes in CBOR core deterministic encoding (RFC 8949, section
// 4.2.1).
var Enc = mustEnc(cbor.CoreDetEncOptions())

// Dec returns a strict decoding mode: no duplicate map keys, keys matched
// case-sensitively, no tags, no indefinite lengths, at most maxNested
// levels of nesting, maxArray elements per array and 64 pairs per map.
// Unknown map keys are ignored.
func Dec(maxNested, maxArray int) cbor.DecMode {
	m, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   maxNested,
		MaxArrayElements:  maxArray,
		MaxMapPairs:       64,
	}.DecMode()
	if err != nil {
		panic(err) // only for limits outside the library's bounds
	}
	return m
}

func mustEnc(o cbor.EncOptions) cbor.EncMode {
	m, err := o.EncMode()
	if err != nil {
		panic(err)
	}
	return m
}
