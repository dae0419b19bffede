// Package statuslist publishes and checks status lists: each member node's
// signed, compressed list of the states of the permits it issued, in the
// spirit of the W3C Bitstring Status List, from which other members learn
// a permit's status without asking for it, and go on answering from a
// cached copy when the issuer is unreachable.
//
// The format is specified in docs/statuslist.md, well enough to verify a
// list in another language.
//
// # Issuer side
//
// A [List] holds one entry of [BitsPerEntry] bits per index, each a
// [State]: [Unused], [Valid], [Suspended], [Cancelled], [Confiscated] or
// [Superseded]. When a permit is issued, [List.Assign] hands it an index
// drawn at random among the free entries, so an index says nothing about
// when its permit was issued or how many were; the permit keeps that
// index for life, and its credentials carry it. [List.Set] records each
// change of state. The list starts with [MinSize] (131,072) entries and
// doubles whenever more than half would be used.
//
// [List.Publish] signs the whole list with the issuer key as a COSE_Sign1
// over deterministic CBOR, the entries zlib-compressed: about 280 KB for a
// million permits. A [Publisher] serves it to fetchers and keeps the
// signed bytes until the list changes or they are a minute old. A fetcher
// that already holds the current version gets, instead of the list, a
// signed "not modified" answer of a few hundred bytes that renews the
// freshness of its copy.
//
// # Verifier side
//
// [Verify] checks a list's signature and expiry and returns a [Snapshot];
// [Snapshot.Get] reads one entry. A [Cache] keeps the last snapshot of
// each issuer, fed by [Cache.Update] with what the issuer's
// [Publisher.Fetch] returned, and answers [Cache.Status] with the state,
// how old that statement is, and whether it is fresh enough to use.
//
// # Caveats
//
// A list only knows permits issued before it was signed: a newer permit's
// entry reads Unused. Unused, reserved codes, and anything not fresh, mean
// "status unknown", never "valid".
//
// Indices are never reused: an entry keeps its last state for good, so a
// credential held by anyone always finds its own permit's entry.
//
// An index at or above the size a list had before a growth reveals that
// its permit was issued after that growth; nothing finer.
package statuslist
