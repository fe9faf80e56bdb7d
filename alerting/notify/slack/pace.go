package slack

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/lookout-dev/lookout/alerting/notify"
)

// DefaultPace is Slack's advice: about one message per second per
// channel.
const DefaultPace = time.Second

// Pacer spaces the messages to each channel by an interval. One Pacer
// may be shared by every Slack integration, so that receivers posting to
// the same channel share its budget.
type Pacer struct {
	interval time.Duration

	mu   sync.Mutex
	next map[string]time.Time // by channel: the earliest free slot
}

// NewPacer returns a pacer allowing one message per interval per
// channel; zero or less does not pace.
func NewPacer(interval time.Duration) *Pacer {
	return &Pacer{interval: interval, next: map[string]time.Time{}}
}

// Wait takes the channel's next slot and waits for it. When ctx would
// end before the slot it returns a *notify.RetryAfterError at once
// rather than sleeping past ctx, and takes no slot.
func (p *Pacer) Wait(ctx context.Context, channel string) error {
	if p.interval <= 0 {
		return ctx.Err()
	}
	now := time.Now()
	p.mu.Lock()
	slot := now
	if n, ok := p.next[channel]; ok && n.After(now) {
		slot = n
	}
	if deadline, ok := ctx.Deadline(); ok && deadline.Before(slot) {
		p.mu.Unlock()
		return &notify.RetryAfterError{After: slot.Sub(now), Err: errors.New("slack: channel busy")}
	}
	p.next[channel] = slot.Add(p.interval)
	for ch, n := range p.next { // keep the map to the channels in use
		if !n.After(now) {
			delete(p.next, ch)
		}
	}
	p.mu.Unlock()
	wait := slot.Sub(now)
	if wait <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
