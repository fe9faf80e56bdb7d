package notify

import (
	"errors"
	"math/rand/v2"
	"time"
)

// backoff is how long to wait after the given number of failed attempts
// (1 or more): MinBackoff doubled per earlier failure, plus up to a fifth
// of that as jitter, never more than MaxBackoff.
func (o *OutboxOptions) backoff(attempts int) time.Duration {
	d := o.MinBackoff
	for i := 1; i < attempts && d < o.MaxBackoff; i++ {
		d *= 2
	}
	if d >= o.MaxBackoff {
		return o.MaxBackoff
	}
	d += rand.N(d/5 + 1)
	return min(d, o.MaxBackoff)
}

// retryWait is how long to wait before retrying after err: what a
// *RetryAfterError asks for, otherwise the backoff.
func (o *OutboxOptions) retryWait(attempts int, err error) time.Duration {
	var ra *RetryAfterError
	if errors.As(err, &ra) && ra.After > 0 {
		return ra.After
	}
	return o.backoff(attempts)
}
