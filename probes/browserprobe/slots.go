package browserprobe

import (
	"context"
	"sync"
)

// slots bound the browser runs in flight (browser.max_concurrent): the
// others wait in line, each at most until its context ends. A reload may
// change the limit; runs already in flight keep their slot.
type slots struct {
	mu      sync.Mutex
	limit   int
	used    int
	waiting []chan struct{} // first come, first served; closed when granted
}

// acquire takes a slot, waiting until one is free or ctx ends.
func (s *slots) acquire(ctx context.Context) error {
	s.mu.Lock()
	if s.used < s.limit && len(s.waiting) == 0 {
		s.used++
		s.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	s.waiting = append(s.waiting, ch)
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, w := range s.waiting {
			if w == ch {
				s.waiting = append(s.waiting[:i], s.waiting[i+1:]...)
				return ctx.Err()
			}
		}
		// Granted just as ctx ended: hand the slot on.
		s.used--
		s.grant()
		return ctx.Err()
	}
}

// release frees a slot taken by acquire.
func (s *slots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used--
	s.grant()
}

// setLimit changes how many runs may be in flight.
func (s *slots) setLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit = max(n, 1)
	s.grant()
}

// grant hands free slots to the runs waiting longest; s.mu is held.
func (s *slots) grant() {
	for s.used < s.limit && len(s.waiting) > 0 {
		close(s.waiting[0])
		s.waiting = s.waiting[1:]
		s.used++
	}
}
