package bolt

import (
	"fmt"
	"testing"

	"github.com/yrd-epermit/epermit/store/storetest"
)

// BenchmarkClaimDeliveries is storetest.BenchClaims on a file: claims
// commit without fdatasync (lazy writes), sharing commits when they meet.
func BenchmarkClaimDeliveries(b *testing.B) {
	for _, held := range []int{0, 48} {
		b.Run(fmt.Sprintf("held=%d", held), func(b *testing.B) {
			storetest.BenchClaims(b, tempStore(b, nil), held)
		})
	}
}
