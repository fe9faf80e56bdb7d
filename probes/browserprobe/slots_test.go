package browserprobe

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// TestSlots: at most limit runs hold a slot; the others wait in line,
// each until its context ends; a freed slot, or a higher limit, goes to
// the run that waited longest.
func TestSlots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var s slots
		s.setLimit(1)
		if err := s.acquire(t.Context()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := s.acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a second run with the only slot taken: %v, want it to wait until its timeout", err)
		}

		got := make(chan int, 2)
		for i := range 2 {
			go func() {
				if s.acquire(t.Context()) == nil {
					got <- i
				}
			}()
			synctest.Wait() // in line in this order
		}
		s.release()
		synctest.Wait()
		if first := <-got; first != 0 {
			t.Errorf("the freed slot went to run %d, want the one that waited longest", first)
		}
		if len(got) != 0 {
			t.Error("two runs hold the one slot")
		}
		s.setLimit(2) // a reload
		synctest.Wait()
		if len(got) != 1 {
			t.Error("a higher limit did not let the waiting run in")
		}
	})
}
