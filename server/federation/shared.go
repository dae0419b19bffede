package federation

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/yrd-epermit/epermit/statuslist"
	"github.com/yrd-epermit/epermit/trust"
)

// SharedLists is where the replicas of one division share the status
// lists they fetched from the other members, so that they agree about a
// member even when one of them cannot reach it. store/redis implements
// it. What it holds is never trusted as it is: a Poller verifies it like
// a list fetched from the member.
type SharedLists interface {
	// PeerStatusList returns the stored signed list of issuer, nil when
	// none.
	PeerStatusList(ctx context.Context, issuer string) ([]byte, error)
	// SharePeerStatusList stores data as issuer's list if the stored one
	// is still prev (nil for none), in one atomic step, and reports
	// whether it did.
	SharePeerStatusList(ctx context.Context, issuer string, data, prev []byte) (bool, error)
}

// WithShared makes the poller share the lists it fetches through s: before
// each fetch from a member it takes a newer list of that member from s,
// and after it stores there the list it holds when that is newer than
// the one stored, or the stored one does not verify.
func (p *Poller) WithShared(s SharedLists) *Poller {
	p.shared = s
	return p
}

// takeShared verifies the shared list of member m and caches it when it
// is newer than the cached one. It returns the shared bytes and whether
// the list this poller holds may replace them: not when they could not be
// read, nor when their key is unknown (this node's trust list may be
// behind the member's keys).
func (p *Poller) takeShared(ctx context.Context, list *trust.List, m trust.Member) (data []byte, replaceable bool) {
	data, err := p.shared.PeerStatusList(ctx, m.Division)
	if err != nil {
		p.log.Warn("status list: reading the shared list", "member", m.Division, "err", err)
		return nil, false
	}
	if data == nil || bytes.Equal(data, p.held(m.Division)) {
		return data, true
	}
	now := p.clock()
	switch err := p.cache.Update(m.Division, list.Resolver(now), data, false, now); {
	case err == nil:
		p.hold(m.Division, data)
	case errors.Is(err, statuslist.ErrUnknownKey):
		return data, false
	case !errors.Is(err, statuslist.ErrStale):
		p.log.Error("status list: the shared list was refused", "member", m.Division, "err", err)
	}
	return data, true
}

// offerShared stores the list held for issuer in the shared store in place
// of prev, the shared bytes read before the fetch.
func (p *Poller) offerShared(ctx context.Context, issuer string, prev []byte) {
	mine := p.held(issuer)
	if mine == nil || bytes.Equal(mine, prev) {
		return
	}
	if _, err := p.shared.SharePeerStatusList(ctx, issuer, mine, prev); err != nil {
		p.log.Warn("status list: sharing the list", "member", issuer, "err", err)
	}
}

// held returns the signed bytes of the list cached for issuer as last
// received whole, nil when none.
func (p *Poller) held(issuer string) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.raw[issuer]
}

// hold records the signed bytes of the list just cached for issuer.
func (p *Poller) hold(issuer string, data []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.raw[issuer] = data
}

// sharedTimeout bounds the shared-store calls of one fetch.
const sharedTimeout = 5 * time.Second
