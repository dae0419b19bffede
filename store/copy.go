package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Kind names one kind of record in a store's export (Exporter).
type Kind string

// The kinds of record, in the order Export yields them. Protobuf values are
// deterministic encodings; sequence numbers in keys are 8 bytes big-endian.
const (
	// KindPermit: key = permit id; value = its current version
	// (epermitv1.Permit). Past versions travel in the request records that
	// name them; others are not exported (no read returns them).
	KindPermit Kind = "permit"
	// KindRequest: key = request id; value = kind (1 byte) ||
	// uvarint(len(hash)) || hash || the value the write recorded: 1 the
	// permit as written, 2 the pending cancellation added, 3 the one
	// removed, 4 the application, 5 the service request (EncodeRequest).
	KindRequest Kind = "request"
	// KindPending: key = pending id; value = epermitv1.PendingCancellation.
	KindPending Kind = "pending"
	// KindAccount: key = account name; value = EncodeAccount's JSON.
	KindAccount Kind = "account"
	// KindApplication: key = application id; value = epermitv1.Application.
	KindApplication Kind = "application"
	// KindServiceRequest: key = request id; value = epermitv1.ServiceRequest,
	// whose next_attempt_time is its outbox state.
	KindServiceRequest Kind = "service_request"
	// KindEvent: key = 8-byte seq; value = the service request as the
	// event's write stored it.
	KindEvent Kind = "event"
	// KindAudit: key = 8-byte seq; value = the epermitv1.AuditEntry with
	// seq, prev_hash and hash set, byte for byte as stored.
	KindAudit Kind = "audit"
)

// Kinds lists every kind in export order.
var Kinds = []Kind{KindPermit, KindRequest, KindPending, KindAccount, KindApplication, KindServiceRequest, KindEvent, KindAudit}

// Record is one stored value in a form every backend reads and writes:
// what a copy between stores carries.
type Record struct {
	Kind  Kind
	Key   []byte
	Value []byte
}

// Exporter is a Store whose whole content can be read as records.
type Exporter interface {
	// Export calls fn with every record, kind by kind in the order of
	// Kinds and by key (bytewise) within a kind, until fn returns an error,
	// which Export returns. fn may keep the record. The store should not
	// be written meanwhile: Export need not be one snapshot.
	Export(ctx context.Context, fn func(Record) error) error
	// ExportCount returns about how many records Export yields, for
	// progress reports.
	ExportCount(ctx context.Context) (int64, error)
}

// Importer is a Store that writes records as they were exported, with no
// audit entry, no event and no request record of its own: versions, ids
// and sequence numbers are kept, and the indexes the backend derives from
// the records are written with them.
type Importer interface {
	// Import writes batch atomically, all or nothing, overwriting records
	// with the same key, so importing a batch again changes nothing. It
	// checks every record before writing and refuses a malformed one,
	// naming its kind and key. Records are imported in export order; the
	// audit head and the event head become the greatest seq imported. It
	// is meant for a store that nothing else writes to.
	Import(ctx context.Context, batch []Record) error
}

// EncodeRequest builds a request record in its exported form: kind ||
// uvarint(len(hash)) || hash || body.
func EncodeRequest(kind byte, hash, body []byte) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(hash)+len(body))
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(len(hash)))
	b = append(b, hash...)
	return append(b, body...)
}

// DecodeRequest splits a request record in its exported form into kind,
// hash and body; the slices alias rec.
func DecodeRequest(rec []byte) (kind byte, hash, body []byte, err error) {
	if len(rec) == 0 {
		return 0, nil, nil, errors.New("empty request record")
	}
	n, size := binary.Uvarint(rec[1:])
	if size <= 0 || n > uint64(len(rec)-1-size) {
		return 0, nil, nil, errors.New("corrupt request record")
	}
	start := 1 + size
	if rec[0] < 1 || rec[0] > 5 {
		return 0, nil, nil, fmt.Errorf("unknown request record kind %d", rec[0])
	}
	return rec[0], rec[start : start+int(n)], rec[start+int(n):], nil
}

// SeqKey is the key of an audit entry or event record: seq as 8 bytes
// big-endian.
func SeqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// ParseSeqKey reads a key made by SeqKey.
func ParseSeqKey(k []byte) (uint64, error) {
	if len(k) != 8 {
		return 0, fmt.Errorf("malformed seq key %x", k)
	}
	return binary.BigEndian.Uint64(k), nil
}

// Decoded is a record with its value decoded and checked.
type Decoded struct {
	Record
	// Permit is the permit of a KindPermit record, and of a KindRequest
	// record of a permit write (RequestKind 1).
	Permit *epermitv1.Permit
	// Pending, Account, Application, ServiceRequest and Audit are the
	// values of records of those kinds.
	Pending        *epermitv1.PendingCancellation
	Account        *Account
	Application    *epermitv1.Application
	ServiceRequest *epermitv1.ServiceRequest
	Audit          *epermitv1.AuditEntry
	// Seq is the seq of a KindEvent or KindAudit record.
	Seq uint64
	// RequestKind, RequestHash and RequestBody split a KindRequest record
	// (DecodeRequest).
	RequestKind              byte
	RequestHash, RequestBody []byte
}

// ErrMalformedRecord is wrapped by the errors of Record.Decode, and so of
// Import, for a record that no store could have exported.
var ErrMalformedRecord = errors.New("store: malformed record")

// Decode decodes r's value and checks it against its key and kind: the
// value names the key's id (or seq), a permit has an id, a holder citizen
// id and a version, a pending cancellation a permit id, an audit entry a
// SHA-256 hash. The error wraps ErrMalformedRecord and names the record.
func (r Record) Decode() (*Decoded, error) {
	d := &Decoded{Record: r}
	if err := d.decode(); err != nil {
		return nil, fmt.Errorf("%w %s %q: %w", ErrMalformedRecord, r.Kind, r.Key, err)
	}
	return d, nil
}

func (d *Decoded) decode() error {
	key := string(d.Key)
	if key == "" {
		return errors.New("empty key")
	}
	value := func(m proto.Message, id func() string) error {
		if err := proto.Unmarshal(d.Value, m); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		if got := id(); got != key {
			return fmt.Errorf("the value is of %q", got)
		}
		return nil
	}
	var err error
	switch d.Kind {
	case KindPermit:
		d.Permit = new(epermitv1.Permit)
		if err = value(d.Permit, d.Permit.GetId); err == nil {
			err = checkPermit(d.Permit)
		}
	case KindRequest:
		if d.RequestKind, d.RequestHash, d.RequestBody, err = DecodeRequest(d.Value); err != nil {
			return err
		}
		var body proto.Message
		switch d.RequestKind {
		case 1:
			d.Permit = new(epermitv1.Permit)
			body = d.Permit
		case 2, 3:
			body = new(epermitv1.PendingCancellation)
		case 4:
			body = new(epermitv1.Application)
		case 5:
			body = new(epermitv1.ServiceRequest)
		}
		if err = proto.Unmarshal(d.RequestBody, body); err != nil {
			return fmt.Errorf("decode the recorded value: %w", err)
		}
		if d.Permit != nil {
			err = checkPermit(d.Permit)
		}
	case KindPending:
		d.Pending = new(epermitv1.PendingCancellation)
		if err = value(d.Pending, d.Pending.GetId); err == nil && d.Pending.GetPermitId() == "" {
			err = errors.New("no permit id")
		}
	case KindAccount:
		if d.Account, err = DecodeAccount(key, d.Value); err == nil && d.Account.Name != key {
			err = fmt.Errorf("the value is of %q", d.Account.Name)
		}
	case KindApplication:
		d.Application = new(epermitv1.Application)
		err = value(d.Application, d.Application.GetId)
	case KindServiceRequest:
		d.ServiceRequest = new(epermitv1.ServiceRequest)
		err = value(d.ServiceRequest, d.ServiceRequest.GetId)
	case KindEvent:
		if d.Seq, err = ParseSeqKey(d.Key); err == nil {
			if err = proto.Unmarshal(d.Value, new(epermitv1.ServiceRequest)); err != nil {
				err = fmt.Errorf("decode: %w", err)
			}
		}
	case KindAudit:
		if d.Seq, err = ParseSeqKey(d.Key); err != nil {
			return err
		}
		d.Audit = new(epermitv1.AuditEntry)
		switch err = proto.Unmarshal(d.Value, d.Audit); {
		case err != nil:
			err = fmt.Errorf("decode: %w", err)
		case d.Audit.GetSeq() != d.Seq:
			err = fmt.Errorf("the entry has seq %d", d.Audit.GetSeq())
		case len(d.Audit.GetHash()) != sha256.Size:
			err = fmt.Errorf("the entry's hash has %d bytes", len(d.Audit.GetHash()))
		}
	default:
		err = errors.New("unknown kind")
	}
	return err
}

// checkPermit refuses a permit that no store writes: without an id, a
// holder citizen id or a version, or with a NUL byte in either id.
func checkPermit(p *epermitv1.Permit) error {
	switch id, citizen := p.GetId(), p.GetHolder().GetCitizenId(); {
	case id == "" || strings.IndexByte(id, 0) >= 0:
		return fmt.Errorf("permit id %q", id)
	case citizen == "" || strings.IndexByte(citizen, 0) >= 0:
		return fmt.Errorf("permit %s: holder citizen id %q", id, citizen)
	case p.GetVersion() < 1:
		return fmt.Errorf("permit %s: version %d", id, p.GetVersion())
	}
	return nil
}
