package federation

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/yrd-epermit/epermit/statuslist"
	"github.com/yrd-epermit/epermit/trust"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// maxStatusList bounds a fetched status list (gRPC's default is 4 MiB).
const maxStatusList = statuslist.MaxEncodedLength + 4096

// Poller keeps the status lists of the other members cached: every
// interval it asks each member of the trust list for its list, sending
// the version it holds, so an unchanged list costs a small answer.
type Poller struct {
	peers    *Peers
	trust    *trust.Holder
	interval time.Duration
	clock    func() time.Time
	log      *slog.Logger
	cache    *statuslist.Cache
	// shared, when set, is where replicas share the lists (shared.go);
	// raw holds, under mu, the bytes of each list cached, for sharing.
	shared SharedLists
	mu     sync.Mutex
	raw    map[string][]byte
}

// NewPoller returns a poller for the members of tl reached through peers.
func NewPoller(peers *Peers, tl *trust.Holder, interval time.Duration, clock func() time.Time, log *slog.Logger) *Poller {
	return &Poller{peers: peers, trust: tl, interval: interval, clock: clock, log: log, cache: statuslist.NewCache(),
		raw: make(map[string][]byte)}
}

// Status answers from the cached list of issuer, as statuslist.Cache.Status.
func (p *Poller) Status(issuer string, index uint32, now time.Time, maxAge time.Duration) (statuslist.State, time.Duration, bool) {
	return p.cache.Status(issuer, index, now, maxAge)
}

// Run polls until ctx ends.
func (p *Poller) Run(ctx context.Context) {
	for {
		p.PollOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(p.interval):
		}
	}
}

// PollOnce fetches every other member's list once, concurrently.
func (p *Poller) PollOnce(ctx context.Context) {
	list := p.trust.Current()
	if list == nil {
		return
	}
	var wg sync.WaitGroup
	for _, m := range list.Members {
		if m.Division == p.peers.Own() {
			continue
		}
		wg.Go(func() {
			if err := p.fetch(ctx, list, m); err != nil && ctx.Err() == nil {
				p.log.Warn("status list: fetch", "member", m.Division, "endpoint", m.Endpoint, "err", err)
			}
		})
	}
	wg.Wait()
}

// fetch brings the cached list of member m up to date: from the shared
// store, when the poller has one, then from the member, and shares the
// result.
func (p *Poller) fetch(ctx context.Context, list *trust.List, m trust.Member) error {
	if p.shared != nil {
		outer := ctx
		sctx, cancel := context.WithTimeout(outer, sharedTimeout)
		prev, replaceable := p.takeShared(sctx, list, m)
		cancel()
		if replaceable {
			defer func() {
				sctx, cancel := context.WithTimeout(outer, sharedTimeout)
				defer cancel()
				p.offerShared(sctx, m.Division, prev)
			}()
		}
	}
	conn, err := p.peers.conn(m.Endpoint)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	client := epermitv1.NewFederationServiceClient(conn)
	have := p.cache.Version(m.Division)
	for attempt := 0; ; attempt++ {
		resp, err := client.GetStatusList(ctx, &epermitv1.GetStatusListRequest{HaveVersion: have}, grpc.MaxCallRecvMsgSize(maxStatusList))
		if err != nil {
			return err
		}
		now := p.clock()
		err = p.cache.Update(m.Division, list.Resolver(now), resp.Data, resp.NotModified, now)
		if errors.Is(err, statuslist.ErrMismatch) && attempt == 0 {
			have = 0 // the cached list is not the one the answer names: fetch it whole
			continue
		}
		if err == nil && !resp.NotModified {
			p.hold(m.Division, resp.Data)
		}
		return err
	}
}
