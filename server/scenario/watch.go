package scenario

import (
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/yrd-epermit/epermit/server/apierror"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// ResumeTokenHeader is the header of a watch stream that carries the
// resume token of its start.
const ResumeTokenHeader = "x-epermit-resume-token"

// watchPoll is how often a watcher looks at the event log when nothing
// told it of a change (changes written by another process).
const watchPoll = time.Second

// watchBatch is how many events a watcher reads at a time.
const watchBatch = 256

// notifier wakes watchers when an event is written.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func newNotifier() *notifier { return &notifier{ch: make(chan struct{})} }

// wait returns a channel closed at the next notify.
func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

// notify wakes every waiter.
func (n *notifier) notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	close(n.ch)
	n.ch = make(chan struct{})
}

// WatchServiceRequests implements epermitv1.ScenarioServiceServer. The
// resume token is the event's position in the store's event log, so a
// client that reconnects with the last token it got misses nothing and
// sees nothing twice.
func (s *Service) WatchServiceRequests(req *epermitv1.WatchServiceRequestsRequest, stream epermitv1.ScenarioService_WatchServiceRequestsServer) error {
	ctx := stream.Context()
	var after uint64
	if req.ResumeToken != "" {
		n, err := strconv.ParseUint(req.ResumeToken, 10, 64)
		if err != nil {
			return apierror.InvalidField("resume_token", "INVALID", "is not a resume token of this node")
		}
		after = n
	} else {
		head, err := s.cfg.Store.ServiceRequestEventHead(ctx)
		if err != nil {
			return s.storeError("read the event log", err)
		}
		after = head
	}
	// The header says where the stream starts: every change after it is
	// sent, and a client that reconnects before the first change resumes
	// from there.
	if err := stream.SendHeader(metadata.Pairs(ResumeTokenHeader, strconv.FormatUint(after, 10))); err != nil {
		return err
	}
	for {
		wake := s.events.wait()
		events, err := s.cfg.Store.ServiceRequestEvents(ctx, after, watchBatch)
		if err != nil {
			return s.storeError("read the event log", err)
		}
		for _, e := range events {
			after = e.Seq
			r := e.Request
			if (req.PermitId != "" && r.PermitId != req.PermitId) || (req.Department != "" && r.Department != req.Department) {
				continue
			}
			var change *epermitv1.StateChange
			if n := len(r.History); n > 0 {
				change = r.History[n-1]
			}
			if err := stream.Send(&epermitv1.WatchServiceRequestsResponse{
				Request: r, Change: change, ResumeToken: strconv.FormatUint(e.Seq, 10),
			}); err != nil {
				return err
			}
		}
		if len(events) == watchBatch {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-time.After(watchPoll):
		}
	}
}
