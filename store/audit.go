package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// auditDomain separates audit hashes from any other SHA-256 use.
const auditDomain = "epermit-audit-v1\x00"

// GenesisHash is the prev_hash of the first audit entry.
var GenesisHash = make([]byte, sha256.Size)

// AuditHash returns the hash of an audit entry: SHA-256 over the domain
// string, the entry's prev_hash, and the deterministic protobuf encoding
// of the entry with prev_hash and hash cleared (every other field, seq
// included). Backends call it when appending; CheckAuditChain when
// verifying.
func AuditHash(e *epermitv1.AuditEntry) []byte {
	body := proto.CloneOf(e)
	body.PrevHash, body.Hash = nil, nil
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(body)
	if err != nil {
		panic(fmt.Sprintf("store: marshal audit entry: %v", err)) // an AuditEntry always marshals
	}
	h := sha256.New()
	h.Write([]byte(auditDomain))
	h.Write(e.GetPrevHash())
	h.Write(b)
	return h.Sum(nil)
}

// ChainAudit sets e's seq, prev_hash and hash to follow head, and returns
// the new head. Backends call it inside the transaction that appends e.
func ChainAudit(head AuditHead, e *epermitv1.AuditEntry) AuditHead {
	e.Seq = head.Seq + 1
	e.PrevHash = head.Hash
	if head.Seq == 0 {
		e.PrevHash = GenesisHash
	}
	e.Hash = AuditHash(e)
	return AuditHead{Seq: e.Seq, Hash: e.Hash}
}

// AuditReport is the outcome of CheckAuditChain.
type AuditReport struct {
	// Intact is true when every entry is unaltered and none is missing.
	Intact bool
	// Entries is how many entries were checked.
	Entries uint64
	// FirstBad is the seq of the first broken or missing entry; 0 if intact.
	FirstBad uint64
	// Problem says what is wrong with it.
	Problem string
	// Head is the last entry as the log ends.
	Head AuditHead
}

// errStopScan ends a scan at the first problem.
var errStopScan = errors.New("stop")

// CheckAuditChain walks the whole audit log of s and reports the first
// entry that was edited (its hash does not match its content), inserted or
// reordered (seq out of order or prev_hash not the previous hash), or
// deleted (a gap in seq, or a log that ends before the recorded head).
func CheckAuditChain(ctx context.Context, s Store) (AuditReport, error) {
	var r AuditReport
	prev := AuditHead{Hash: GenesisHash}
	fail := func(seq uint64, format string, args ...any) error {
		r.FirstBad, r.Problem = seq, fmt.Sprintf(format, args...)
		return errStopScan
	}
	head, err := s.ScanAudit(ctx, func(e *epermitv1.AuditEntry) error {
		want := prev.Seq + 1
		switch {
		case e.GetSeq() > want:
			return fail(want, "entry %d is missing: the log goes from %d to %d", want, prev.Seq, e.GetSeq())
		case e.GetSeq() < want:
			return fail(e.GetSeq(), "entry %d is out of order, after entry %d", e.GetSeq(), prev.Seq)
		case !bytes.Equal(e.GetPrevHash(), prev.Hash):
			return fail(want, "entry %d does not follow entry %d: its prev_hash is not that entry's hash", want, prev.Seq)
		case !bytes.Equal(e.GetHash(), AuditHash(e)):
			return fail(want, "entry %d was altered: its hash does not match its content", want)
		}
		r.Entries++
		prev = AuditHead{Seq: e.GetSeq(), Hash: e.GetHash()}
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return AuditReport{}, err
	}
	if r.FirstBad == 0 && head.Seq != prev.Seq {
		r.FirstBad, r.Problem = prev.Seq+1, fmt.Sprintf("the log ends at entry %d but %d entries were appended", prev.Seq, head.Seq)
	}
	if r.FirstBad == 0 && head.Seq > 0 && !bytes.Equal(head.Hash, prev.Hash) {
		r.FirstBad, r.Problem = prev.Seq, fmt.Sprintf("entry %d is not the entry recorded as the head of the log", prev.Seq)
	}
	r.Intact = r.FirstBad == 0
	r.Head = prev
	return r, nil
}
