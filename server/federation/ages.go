package federation

import (
	"math"
	"time"
)

// StatusListAges returns, for every other member of the current trust
// list, the age at now of its cached status list, counted from the time
// the member last signed it current; a member whose list was never
// fetched has the longest time.Duration. Nil without a trust list.
func (p *Poller) StatusListAges(now time.Time) map[string]time.Duration {
	list := p.trust.Current()
	if list == nil {
		return nil
	}
	ages := make(map[string]time.Duration, len(list.Members))
	for _, m := range list.Members {
		if m.Division == p.peers.Own() {
			continue
		}
		ages[m.Division] = time.Duration(math.MaxInt64)
		if e, ok := p.cache.Entry(m.Division); ok {
			ages[m.Division] = max(now.Sub(e.AsOf), 0)
		}
	}
	return ages
}
