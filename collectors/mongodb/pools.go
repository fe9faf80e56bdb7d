package mongodb

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// checkoutWaitBuckets are the upper bounds, in seconds, of the checkout
// wait-time histogram: from an idle connection handed out at once to a wait
// as long as a typical timeout.
var checkoutWaitBuckets = []float64{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 20}

// poolStats counts the driver's connection-pool events for one target. The
// driver calls event from its own goroutines; a pass reads a copy.
type poolStats struct {
	mu               sync.Mutex
	created, closed  float64
	checkedOut       float64 // checkouts that succeeded
	checkedIn        float64
	checkoutFailures float64
	cleared          float64
	waitCounts       []uint64 // per bucket of checkoutWaitBuckets, not cumulative
	waitSum          float64
}

func newPoolStats() *poolStats {
	return &poolStats{waitCounts: make([]uint64, len(checkoutWaitBuckets))}
}

// monitor returns the PoolMonitor to set on the client options.
func (s *poolStats) monitor() *event.PoolMonitor {
	return &event.PoolMonitor{Event: s.event}
}

func (s *poolStats) event(e *event.PoolEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e.Type {
	case event.ConnectionCreated:
		s.created++
	case event.ConnectionClosed:
		s.closed++
	case event.ConnectionCheckedOut:
		s.checkedOut++
		s.observeWait(e.Duration.Seconds())
	case event.ConnectionCheckedIn:
		s.checkedIn++
	case event.ConnectionCheckOutFailed:
		s.checkoutFailures++
	case event.ConnectionPoolCleared:
		s.cleared++
	}
}

// observeWait adds one checkout wait; the caller holds s.mu. A wait above
// the last bound is counted only in the +Inf bucket, that is in the total.
func (s *poolStats) observeWait(sec float64) {
	s.waitSum += sec
	for i, le := range checkoutWaitBuckets {
		if sec <= le {
			s.waitCounts[i]++
			break
		}
	}
}

// collect adds the pool metrics as they stand; it does no I/O.
func (s *poolStats) collect(_ context.Context, _ *mongo.Client, p *pass) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.gauge(p.descs.poolOpen, s.created-s.closed)
	p.gauge(p.descs.poolCheckedOut, s.checkedOut-s.checkedIn)
	p.counter(p.descs.poolCheckouts, s.checkedOut)
	p.counter(p.descs.poolCheckoutFailures, s.checkoutFailures)
	p.counter(p.descs.poolCleared, s.cleared)

	buckets := make(map[float64]uint64, len(checkoutWaitBuckets))
	var cum uint64
	for i, le := range checkoutWaitBuckets {
		cum += s.waitCounts[i]
		buckets[le] = cum
	}
	p.metrics = append(p.metrics, prometheus.MustNewConstHistogram(p.descs.poolCheckoutWait,
		uint64(s.checkedOut), s.waitSum, buckets, p.target))
	return nil
}
