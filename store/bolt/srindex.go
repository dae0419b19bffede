package bolt

import (
	"fmt"
	"slices"
	"sync"

	"go.etcd.io/bbolt"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// permitRequests is the index of service requests by permit id, kept in
// memory: for every permit id, the ids of the requests that named it, in
// id order. Open builds it from the service_requests bucket; writes add to
// it. The package comment says why it is not in the file.
//
// It may hold more than the file, never less: a write adds its request's
// id before its transaction commits, and nothing is ever removed, so the
// index also names requests whose write failed or that moved to another
// permit id. A reader therefore begins its read transaction first and
// reads the index after it, so the index names every request that its
// snapshot gives the permit, and then keeps only those.
type permitRequests struct {
	mu      sync.RWMutex
	permits map[string][]string
}

// fieldSRPermitID is the field number of ServiceRequest.permit_id.
var fieldSRPermitID = (*epermitv1.ServiceRequest)(nil).ProtoReflect().Descriptor().Fields().ByName("permit_id").Number()

// loadPermitRequests builds the index from every service request in tx,
// reading only each request's permit id.
func loadPermitRequests(tx *bbolt.Tx) (*permitRequests, error) {
	ix := &permitRequests{permits: make(map[string][]string)}
	err := tx.Bucket(bucketServiceReqs).ForEach(func(k, v []byte) error {
		permitID, ok := lastBytesField(v, fieldSRPermitID)
		if !ok {
			return fmt.Errorf("service request %s: %w", k, errMalformedWire)
		}
		if len(permitID) > 0 {
			// Keys come in id order: appends.
			ix.permits[string(permitID)] = append(ix.permits[string(permitID)], string(k))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ix, nil
}

// add records that the request with this id names permitID ("" for none,
// which records nothing). Adding it again changes nothing.
func (ix *permitRequests) add(permitID, id string) {
	if permitID == "" {
		return
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ids := ix.permits[permitID]
	if i, found := slices.BinarySearch(ids, id); !found {
		ix.permits[permitID] = slices.Insert(ids, i, id)
	}
}

// before returns the ids recorded for permitID that sort before after (""
// for all of them), newest (greatest) first.
func (ix *permitRequests) before(permitID, after string) []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	ids := ix.permits[permitID]
	n := len(ids)
	if after != "" {
		n, _ = slices.BinarySearch(ids, after)
	}
	out := slices.Clone(ids[:n])
	slices.Reverse(out)
	return out
}
