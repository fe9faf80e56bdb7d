package mongodb

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"
	"unicode/utf8"
)

// maxSlowShapes bounds the shape table: when it is full, a new shape takes
// the place of the one with the least total time, so memory stays bounded
// however many shapes the server runs.
const maxSlowShapes = 1000

// maxExampleBytes bounds a shape's example command; a longer one is cut and
// ends with "…".
const maxExampleBytes = 4096

// Kinds of shape key, from the best to the last resort.
const (
	shapeKeyQueryShapeHash     = "queryShapeHash"     // MongoDB 8.0
	shapeKeyPlanCacheShapeHash = "planCacheShapeHash" // MongoDB 8.0
	shapeKeyQueryHash          = "queryHash"          // MongoDB 4.2 to 7.0
	shapeKeyCommand            = "command"            // a hash of the redacted command
)

// SlowQueryShape is one query shape of the slow-query table served by the
// API: the operations of one namespace and op that the server gave the same
// shape hash (or, without one, whose commands are the same once every value
// is replaced). It never holds a value from a query: Example keeps field
// names and operators only.
type SlowQueryShape struct {
	// Hash identifies the shape; HashKind says where it comes from:
	// queryShapeHash, planCacheShapeHash, queryHash or command (Lookout's
	// hash of Example before it was cut).
	Hash       string `json:"hash"`
	HashKind   string `json:"hash_kind"`
	Database   string `json:"database"`
	Collection string `json:"collection"`
	Op         string `json:"op"`
	// Plan and PlanSummary are those of the last operation seen: the plan
	// of a shape can change.
	Plan         string  `json:"plan"`
	PlanSummary  string  `json:"plan_summary"`
	Count        int64   `json:"count"`
	TotalSeconds float64 `json:"total_seconds"`
	MaxSeconds   float64 `json:"max_seconds"`
	DocsExamined float64 `json:"docs_examined"`
	DocsReturned float64 `json:"docs_returned"`
	// ExaminedPerReturned is DocsExamined / max(DocsReturned, 1): a shape
	// that examined many documents and returned none ranks high.
	ExaminedPerReturned float64   `json:"examined_per_returned"`
	FirstSeen           time.Time `json:"first_seen"`
	LastSeen            time.Time `json:"last_seen"`
	// Example is one command of the shape as JSON, with every value
	// (string, number, date, ObjectId, boolean, ...) replaced by "?" and
	// arrays of values shown as ["?"]; "" when the source gave no command.
	Example string `json:"example"`
}

// slowShapes is the bounded shape table; the caller holds the lock of the
// slowQueries that owns it.
type slowShapes struct {
	max int
	m   map[string]*SlowQueryShape
}

func newSlowShapes() *slowShapes {
	return &slowShapes{max: maxSlowShapes, m: map[string]*SlowQueryShape{}}
}

// add counts op in its shape, making room for a new shape if needed.
func (s *slowShapes) add(op slowOp) {
	kind, hash := op.hashKind, op.hash
	if hash == "" {
		sum := sha256.Sum256([]byte(op.shape))
		kind, hash = shapeKeyCommand, hex.EncodeToString(sum[:8])
	}
	key := op.database + "\x00" + op.collection + "\x00" + op.op + "\x00" + kind + "\x00" + hash
	sh := s.m[key]
	if sh == nil {
		if len(s.m) >= s.max {
			s.evict()
		}
		sh = &SlowQueryShape{
			Hash: hash, HashKind: kind,
			Database: op.database, Collection: op.collection, Op: op.op,
			FirstSeen: op.at, LastSeen: op.at,
			Example: cutExample(op.shape),
		}
		s.m[key] = sh
	}
	sh.Plan, sh.PlanSummary = op.plan, op.planSummary
	sh.Count++
	sh.TotalSeconds += op.seconds
	sh.MaxSeconds = max(sh.MaxSeconds, op.seconds)
	sh.DocsExamined += op.docsExamined
	sh.DocsReturned += op.docsReturned
	if op.at.Before(sh.FirstSeen) {
		sh.FirstSeen = op.at
	}
	if op.at.After(sh.LastSeen) {
		sh.LastSeen = op.at
	}
	if sh.Example == "" {
		sh.Example = cutExample(op.shape)
	}
}

// evict removes the shape with the least total time (the lowest key among
// equals, so that the choice does not depend on map order).
func (s *slowShapes) evict() {
	var victim string
	var least *SlowQueryShape
	for k, sh := range s.m {
		if least == nil || sh.TotalSeconds < least.TotalSeconds ||
			(sh.TotalSeconds == least.TotalSeconds && k < victim) {
			victim, least = k, sh
		}
	}
	delete(s.m, victim)
}

// top returns copies of at most k shapes, the most total time first; k <= 0
// means all.
func (s *slowShapes) top(k int) []SlowQueryShape {
	out := make([]SlowQueryShape, 0, len(s.m))
	for _, sh := range s.m {
		c := *sh
		c.ExaminedPerReturned = c.DocsExamined / max(c.DocsReturned, 1)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b SlowQueryShape) int {
		return cmp.Or(cmp.Compare(b.TotalSeconds, a.TotalSeconds),
			cmp.Compare(a.Database, b.Database), cmp.Compare(a.Collection, b.Collection),
			cmp.Compare(a.Op, b.Op), cmp.Compare(a.Hash, b.Hash))
	})
	if k > 0 && k < len(out) {
		out = out[:k]
	}
	return out
}

// cutExample bounds an example at maxExampleBytes, on a rune boundary.
func cutExample(shape string) string {
	if len(shape) <= maxExampleBytes {
		return shape
	}
	cut := maxExampleBytes
	for cut > 0 && !utf8.RuneStart(shape[cut]) {
		cut--
	}
	return shape[:cut] + "…"
}
