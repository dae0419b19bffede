package bolt

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/yrd-epermit/epermit/store/storetest"
)

func TestZZDiag(t *testing.T) {
	filled.once.Do(func() { filled.dir, filled.path, filled.err = fillNodeFile(timeRequestID) })
	path := filepath.Join(t.TempDir(), "x.db")
	if err := copyFile(path, filled.path); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, path, &Options{NoSync: true})
	defer s.Close()
	p := storetest.NewPermit("330604-0000000000000", "110101199001011234")
	b, _ := proto.Marshal(p)
	t.Logf("permit %d bytes", len(b))
	before := s.db.Stats()
	const rounds = 40
	for range rounds {
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				if err := issue(context.Background(), s, citizens.Next(), timeRequestID()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	after := s.db.Stats()
	d := after.Sub(&before)
	t.Logf("tx %d; pages alloc %d; writes %d; spill %d; split %d; rebalance %d; nodes %d", d.TxN, d.TxStats.PageAlloc, d.TxStats.Write, d.TxStats.Spill, d.TxStats.Split, d.TxStats.Rebalance, d.TxStats.NodeCount)
	t.Logf("per write: %.1f page writes, %.0f bytes alloc", float64(d.TxStats.Write)/float64(rounds*50), float64(d.TxStats.PageAlloc)/float64(rounds*50))
	s.db.View(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			st := tx.Bucket(name).Stats()
			t.Logf("%-16s keys %6d depth %d leaf %5d (+%d overflow) branch %4d inline %d leafInuse %.0f%%", name, st.KeyN, st.Depth, st.LeafPageN, st.LeafOverflowN, st.BranchPageN, st.InlineBucketN, 100*float64(st.LeafInuse)/float64(max(1, st.LeafAlloc)))
		}
		return nil
	})
}
