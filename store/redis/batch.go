package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/yrd-epermit/epermit/store"
)

// WritePermits sends the write permit script of every write of ws in one
// pipeline, so the batch costs one round trip; see
// store.Store.WritePermits. Redis runs the scripts one after the other in
// the order sent, each atomic with its checks, so each write is checked
// against the ones before it. Another replica's commands may run between
// two of them, and a failure (a lost connection) may leave any of them
// stored: each is whole, and its request id tells on a retry. Before any
// script it refuses the whole call when a write has the mistakes
// WritePermit refuses before its script.
func (s *Store) WritePermits(ctx context.Context, ws []store.PermitWrite) ([]error, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	argvs := make([][]any, len(ws))
	for i, w := range ws {
		args, err := permitArgs(w)
		if err == nil {
			argvs[i], err = s.scriptArgv(w.Audit, args)
		}
		if err != nil {
			return nil, fmt.Errorf("write %d of %d: %w", i+1, len(ws), err)
		}
	}
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	keys := []string{s.key("layout")}
	cmds, err := s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, argv := range argvs {
			writePermitScript.EvalSha(ctx, p, keys, argv...)
		}
		return nil
	})
	if err != nil && !isNoScript(err) {
		return nil, fmt.Errorf("redis: write %d permits: %w", len(ws), err)
	}
	refusals := make([]error, len(ws))
	for i, cmd := range cmds {
		v, err := cmd.(*goredis.Cmd).Slice()
		if isNoScript(err) {
			// The server did not know the script (restarted or flushed):
			// this write did not run. Run it with the script's source.
			v, err = writePermitScript.Run(ctx, s.c, keys, argvs[i]...).Slice()
		}
		if err != nil {
			return nil, fmt.Errorf("redis: write %d permits: permit %s: %w", len(ws), ws[i].Permit.GetId(), err)
		}
		if len(v) == 0 {
			return nil, fmt.Errorf("redis: write permit %s: empty script reply", ws[i].Permit.GetId())
		}
		setAudit(v, ws[i].Audit)
		refusals[i] = refusal(v)
	}
	return refusals, nil
}

// permitArgs are the write permit script's arguments for w, after the
// checks made before any script: a permit without an id or a holder
// citizen id, or a version other than w.PrevVersion+1.
func permitArgs(w store.PermitWrite) ([]any, error) {
	p := w.Permit
	if p == nil {
		return nil, errors.New("redis: write without a permit")
	}
	id, citizen := p.GetId(), p.GetHolder().GetCitizenId()
	if citizen == "" && id != "" {
		return nil, fmt.Errorf("redis: permit %s has no holder citizen id", id)
	}
	if err := checkVersioned("permit", id, p.GetVersion(), w.PrevVersion); err != nil {
		return nil, err
	}
	if err := store.CheckStatusIndex(p); err != nil {
		return nil, err
	}
	si := ""
	if p.StatusIndex != nil {
		si = strconv.FormatUint(uint64(p.GetStatusIndex()), 10)
	}
	data, err := marshalOptions.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("redis: marshal permit %s: %w", id, err)
	}
	final := "0"
	if store.IsFinal(p.GetStatus()) {
		final = "1"
	}
	var rec []byte
	if w.RequestID != "" {
		rec = store.EncodeRequest(kindPermit, w.RequestHash, data)
	}
	return []any{id, citizen, final, data, strconv.FormatInt(w.PrevVersion, 10), w.RequestID, rec, w.ResolvePending,
		si, int(store.ListState(p.GetStatus()))}, nil
}

// isNoScript reports whether err is Redis's answer to EVALSHA of a script
// it does not hold.
func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}
