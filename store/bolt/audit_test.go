package bolt

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/storetest"
)

// auditEntries is how many entries tamperedLog writes.
const auditEntries = 10

// tamperedLog returns the path of a closed store whose audit log holds
// auditEntries entries, some appended alone and some with permit writes.
func tamperedLog(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "epermit.db")
	s := openTest(t, path, nil)
	at := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	for i := range auditEntries {
		e := storetest.NewAuditEntry("clerk.test-01", "/epermit.v1.PermitService/GetPermit", storetest.PermitID(i), at.Add(time.Duration(i)*time.Minute))
		var err error
		if i%2 == 0 {
			err = s.AppendAudit(t.Context(), e)
		} else {
			e.Method = "/epermit.v1.PermitService/IssuePermit"
			err = s.WritePermit(t.Context(), store.PermitWrite{Permit: storetest.NewPermit(storetest.PermitID(i), storetest.CitizenID(i)), Audit: e})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if r := checkChain(t, s); !r.Intact || r.Entries != auditEntries {
		t.Fatalf("untouched log: %+v", r)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// headlessLog returns the path of a tamperedLog whose audit_head was
// removed: every audit append there fails.
func headlessLog(t *testing.T) string {
	t.Helper()
	path := tamperedLog(t)
	editFile(t, path, func(t *testing.T, _, meta *bbolt.Bucket) {
		if err := meta.Delete([]byte("audit_head")); err != nil {
			t.Fatal(err)
		}
	})
	return path
}

// checkChain runs store.CheckAuditChain on s or fails the test.
func checkChain(t *testing.T, s store.Store) store.AuditReport {
	t.Helper()
	r, err := store.CheckAuditChain(t.Context(), s)
	if err != nil {
		t.Fatalf("CheckAuditChain: %v", err)
	}
	return r
}

// editFile opens the bbolt file at path directly, as someone with the
// file and not the service might, and runs edit on its audit bucket and
// its meta bucket.
func editFile(t *testing.T, path string, edit func(t *testing.T, audit, meta *bbolt.Bucket)) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error {
		audit, meta := tx.Bucket([]byte("audit")), tx.Bucket([]byte("meta"))
		if audit == nil || meta == nil {
			t.Fatal(`the file has no "audit" or "meta" bucket`)
		}
		edit(t, audit, meta)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// seqKeyOf is an audit key as the package comment documents it.
func seqKeyOf(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, seq)
}

// rewrite decodes the audit entry seq, changes it and stores it back.
func rewrite(t *testing.T, audit *bbolt.Bucket, seq uint64, change func(*epermitv1.AuditEntry)) {
	t.Helper()
	e := new(epermitv1.AuditEntry)
	if err := proto.Unmarshal(audit.Get(seqKeyOf(seq)), e); err != nil {
		t.Fatalf("decode audit entry %d: %v", seq, err)
	}
	change(e)
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.Put(seqKeyOf(seq), b); err != nil {
		t.Fatal(err)
	}
}

// TestAuditTampering edits a stopped node's file behind the store's back
// and shows that store.CheckAuditChain names the first entry concerned.
func TestAuditTampering(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(t *testing.T, audit, meta *bbolt.Bucket)
		firstBad uint64
		problem  string
		// firstBadAfter is the first bad entry once one more is appended,
		// when it is not firstBad: the new entry links to the recorded
		// head, which a forged chain no longer ends with.
		firstBadAfter uint64
	}{
		{"edited actor", func(t *testing.T, audit, _ *bbolt.Bucket) {
			rewrite(t, audit, 4, func(e *epermitv1.AuditEntry) { e.Actor = "clerk.test-99" })
		}, 4, "altered", 0},
		{"deleted entry", func(t *testing.T, audit, _ *bbolt.Bucket) {
			if err := audit.Delete(seqKeyOf(6)); err != nil {
				t.Fatal(err)
			}
		}, 6, "missing", 0},
		{"deleted last entry", func(t *testing.T, audit, _ *bbolt.Bucket) {
			if err := audit.Delete(seqKeyOf(auditEntries)); err != nil {
				t.Fatal(err)
			}
		}, auditEntries, "ends at entry 9 but 10 entries were appended", 0},
		{"edited actor with its hash recomputed", func(t *testing.T, audit, _ *bbolt.Bucket) {
			rewrite(t, audit, 4, func(e *epermitv1.AuditEntry) {
				e.Actor = "clerk.test-99"
				e.Hash = store.AuditHash(e)
			})
		}, 5, "does not follow entry 4", 0},
		{"edited actor with the rest of the chain recomputed", func(t *testing.T, audit, _ *bbolt.Bucket) {
			var prev []byte
			for seq := uint64(4); seq <= auditEntries; seq++ {
				rewrite(t, audit, seq, func(e *epermitv1.AuditEntry) {
					if seq == 4 {
						e.Actor = "clerk.test-99"
					} else {
						e.PrevHash = prev
					}
					e.Hash = store.AuditHash(e)
					prev = e.Hash
				})
			}
		}, auditEntries, "not the entry recorded as the head", auditEntries + 1},
		{"entry that does not decode", func(t *testing.T, audit, _ *bbolt.Bucket) {
			if err := audit.Put(seqKeyOf(3), []byte{0xff, 0xff, 0xff}); err != nil {
				t.Fatal(err)
			}
		}, 3, "entry 3 does not follow entry 2", 0},
		{"entries swapped", func(t *testing.T, audit, _ *bbolt.Bucket) {
			e2, e3 := append([]byte(nil), audit.Get(seqKeyOf(2))...), append([]byte(nil), audit.Get(seqKeyOf(3))...)
			if err := audit.Put(seqKeyOf(2), e3); err != nil {
				t.Fatal(err)
			}
			if err := audit.Put(seqKeyOf(3), e2); err != nil {
				t.Fatal(err)
			}
		}, 2, "missing", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tamperedLog(t)
			editFile(t, path, tt.edit)
			s := openTest(t, path, nil)
			defer s.Close()
			r := checkChain(t, s)
			if r.Intact || r.FirstBad != tt.firstBad || !strings.Contains(r.Problem, tt.problem) {
				t.Fatalf("CheckAuditChain = %+v; want first bad entry %d, a problem saying %q", r, tt.firstBad, tt.problem)
			}

			// The store goes on after the recorded head and never heals a
			// gap by reusing its seq.
			e := storetest.NewAuditEntry("auditor.test-01", "/epermit.v1.AuditService/VerifyAuditChain", "", time.Now())
			if err := s.AppendAudit(t.Context(), e); err != nil {
				t.Fatal(err)
			}
			if e.GetSeq() != auditEntries+1 {
				t.Fatalf("entry appended after the tampering got seq %d, want %d", e.GetSeq(), auditEntries+1)
			}
			want := tt.firstBad
			if tt.firstBadAfter != 0 {
				want = tt.firstBadAfter
			}
			if r := checkChain(t, s); r.Intact || r.FirstBad != want {
				t.Fatalf("after one more entry, CheckAuditChain = %+v; want first bad entry %d", r, want)
			}
		})
	}
}

// TestAuditHeadProtection shows the two cases the head alone cannot tell:
// a log cut short together with its head reads as intact (which is why the
// head should be recorded elsewhere too), and a removed head makes the
// store refuse to append rather than overwrite entries.
func TestAuditHeadProtection(t *testing.T) {
	t.Run("cut with its head", func(t *testing.T) {
		path := tamperedLog(t)
		editFile(t, path, func(t *testing.T, audit, meta *bbolt.Bucket) {
			e9 := new(epermitv1.AuditEntry)
			if err := proto.Unmarshal(audit.Get(seqKeyOf(9)), e9); err != nil {
				t.Fatal(err)
			}
			if err := audit.Delete(seqKeyOf(10)); err != nil {
				t.Fatal(err)
			}
			if err := meta.Put([]byte("audit_head"), append(seqKeyOf(9), e9.GetHash()...)); err != nil {
				t.Fatal(err)
			}
		})
		s := openTest(t, path, nil)
		defer s.Close()
		if r := checkChain(t, s); !r.Intact || r.Head.Seq != 9 {
			t.Fatalf("CheckAuditChain = %+v; want an intact log of 9, undetectable without a head kept elsewhere", r)
		}
	})
	t.Run("head removed", func(t *testing.T) {
		s := openTest(t, headlessLog(t), nil)
		defer s.Close()
		ctx := context.Background()
		e := storetest.NewAuditEntry("clerk.test-01", "/epermit.v1.PermitService/GetPermit", "x", time.Now())
		if err := s.AppendAudit(ctx, e); err == nil {
			t.Fatal("AppendAudit succeeded over a log whose head was removed")
		}
		p := storetest.NewPermit(storetest.PermitID(50), storetest.CitizenID(50))
		if err := s.WritePermit(ctx, store.PermitWrite{Permit: p, Audit: e}); err == nil {
			t.Fatal("WritePermit with an entry succeeded over a log whose head was removed")
		}
		if _, err := s.GetPermit(ctx, p.GetId()); err != store.ErrNotFound {
			t.Fatalf("GetPermit after the refused write: %v, want ErrNotFound", err)
		}
		r := checkChain(t, s)
		if r.Intact || r.Entries != auditEntries || r.FirstBad != auditEntries+1 {
			t.Fatalf("CheckAuditChain = %+v; want all %d entries kept and the missing head reported", r, auditEntries)
		}
	})
}
