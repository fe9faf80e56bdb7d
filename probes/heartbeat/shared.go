package heartbeat

import "time"

// Shared is where, in a cluster, each replica keeps the signals its
// check-ins recorded, so the replica that runs a heartbeat's probe sees a
// check-in whichever replica the load balancer sent it to.
type Shared interface {
	// Save stores this replica's signals of the heartbeat name.
	Save(name string, v []byte) error
	// Load returns every replica's signals, by heartbeat.
	Load() (map[string][][]byte, error)
}

// Share has every accepted check-in saved to sh too, and Sync merge what
// the other replicas saved. Set it before serving.
func (s *Store) Share(sh Shared) {
	s.mu.Lock()
	s.shared = sh
	s.mu.Unlock()
}

// Sync merges into each heartbeat the signals every replica saved, and
// tells onCheckin of each heartbeat a replica's check-in changed, so its
// probe runs at once. Records it cannot decode are skipped.
func (s *Store) Sync() error {
	s.mu.RLock()
	sh, notify := s.shared, s.onCheckin
	s.mu.RUnlock()
	if sh == nil {
		return nil
	}
	all, err := sh.Load()
	if err != nil {
		return storeError("read the replicas' check-ins", err)
	}
	for name, vs := range all {
		b := s.get(name)
		if b == nil {
			continue
		}
		b.mu.Lock()
		before := b.sig
		for _, v := range vs {
			if sig, err := decode(v); err == nil {
				b.sig = merge(b.sig, sig)
			}
		}
		changed := b.sig != before
		b.mu.Unlock()
		if changed && notify != nil {
			notify(name)
		}
	}
	return nil
}

// merge combines what two replicas recorded of one heartbeat: the latest
// signal of each kind, the latest outcome (success or failure) with its
// code, reason and duration, running when a start came after it, and the
// earliest creation.
func merge(a, b Signals) Signals {
	out := a
	if !b.Created.IsZero() && (out.Created.IsZero() || b.Created.Before(out.Created)) {
		out.Created = b.Created
	}
	out.Success, out.Start, out.Fail = later(a.Success, b.Success), later(a.Start, b.Start), later(a.Fail, b.Fail)
	if outcome(b).After(outcome(a)) {
		out.Failed, out.ExitCode, out.Reason, out.Duration = b.Failed, b.ExitCode, b.Reason, b.Duration
	}
	out.Running = out.Start.After(outcome(out))
	return out
}

// outcome is when the last success or failure was.
func outcome(s Signals) time.Time { return later(s.Success, s.Fail) }

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
