package mongodb

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Reading mongod's log.
//
// mongod (4.4 and later) writes one JSON object a line; a slow operation is
// a line with "id":51803, "msg":"Slow query". The reader keeps its offset in
// the file between passes: the first pass starts at the end of the file
// (counting starts when Lookout starts watching); later passes read the
// complete lines added since, at most maxBytes a pass (the rest are read by
// the next passes). A partial last line is left for the next pass. A file
// that is another file than the one read last (log rotation by rename) or
// smaller than the offset (rotation by copy and truncate) is read from its
// start; lines written to the old file after the last pass are then lost.
// A line that is not JSON, or a slow-query line with fields of the wrong
// type, is skipped and counted; lines longer than maxLogLine are skipped
// and counted too.

// logIDSlowQuery is the id of mongod's "Slow query" log message.
const logIDSlowQuery = 51803

const (
	defaultLogBytesPerPass = 8 << 20
	maxLogLine             = 1 << 20
)

// logTail follows mongod's log file. It is used only by the goroutine
// running passes.
type logTail struct {
	path      string
	maxBytes  int64
	minMillis float64
	started   bool
	file      os.FileInfo // the file read last, to tell a rotation
	offset    int64       // where the next line starts, unless midLine
	midLine   bool        // offset is inside a line that is not counted
}

func newLogTail(path string, threshold time.Duration) *logTail {
	return &logTail{
		path:      path,
		maxBytes:  defaultLogBytesPerPass,
		minMillis: float64(threshold) / float64(time.Millisecond),
	}
}

// read counts the slow-query lines added since the last pass into sink.
func (t *logTail) read(ctx context.Context, p *pass, sink slowSink) error {
	// A log that cannot be read is an error of this step (counted and
	// logged once), not a feature the server lacks.
	f, err := os.Open(t.path)
	if err != nil {
		return fmt.Errorf("slow query log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("slow query log: %w", err)
	}
	if !t.started {
		return t.start(f, fi)
	}
	if !os.SameFile(t.file, fi) || fi.Size() < t.offset {
		t.offset, t.midLine = 0, false
	}
	t.file = fi
	return t.readLines(ctx, f, sink)
}

// start puts the offset at the end of the file; a last line without its
// newline yet began before Lookout watched, and is not counted.
func (t *logTail) start(f *os.File, fi os.FileInfo) error {
	t.started, t.file, t.offset = true, fi, fi.Size()
	if t.offset == 0 {
		return nil
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, t.offset-1); err != nil {
		return fmt.Errorf("slow query log %s: read: %w", t.path, err)
	}
	t.midLine = last[0] != '\n'
	return nil
}

// readLines reads the complete lines from the offset, at most maxBytes.
func (t *logTail) readLines(ctx context.Context, f *os.File, sink slowSink) error {
	br := bufio.NewReaderSize(io.NewSectionReader(f, t.offset, t.maxBytes), int(min(maxLogLine, t.maxBytes)))
	for n := 0; ; n++ {
		if n%1000 == 999 && ctx.Err() != nil {
			return fmt.Errorf("slow query log: %w", ctx.Err())
		}
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			t.offset += int64(len(line))
			if t.midLine {
				t.midLine = false // the end of a line not counted
				continue
			}
			t.parse(line, sink)
		case errors.Is(err, bufio.ErrBufferFull):
			// A line longer than the buffer: count it once and skip it,
			// through this pass and the next ones if need be.
			t.offset += int64(len(line))
			if !t.midLine {
				sink.skip()
			}
			t.midLine = true
		case errors.Is(err, io.EOF):
			return nil // line, if any, is partial: read again next pass
		default:
			return fmt.Errorf("slow query log %s: read: %w", t.path, err)
		}
	}
}

// slowLogEntry holds the fields of a "Slow query" log line that Lookout
// reads, as MongoDB documents them. queryShapeHash and planCacheShapeHash
// are MongoDB 8.0's; queryHash is earlier versions' name for the latter.
type slowLogEntry struct {
	T struct {
		Date string `json:"$date"`
	} `json:"t"`
	ID   int    `json:"id"`
	Msg  string `json:"msg"`
	Attr struct {
		Type               string          `json:"type"`
		NS                 string          `json:"ns"`
		Command            json.RawMessage `json:"command"`
		PlanSummary        string          `json:"planSummary"`
		DurationMillis     *float64        `json:"durationMillis"`
		DocsExamined       float64         `json:"docsExamined"`
		NReturned          float64         `json:"nreturned"`
		QueryHash          string          `json:"queryHash"`
		PlanCacheShapeHash string          `json:"planCacheShapeHash"`
		QueryShapeHash     string          `json:"queryShapeHash"`
	} `json:"attr"`
}

// parse counts one complete line if it is a slow query at or above the
// threshold; a line that is not JSON, or a slow query that cannot be
// read, is counted as skipped.
func (t *logTail) parse(line []byte, sink slowSink) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return
	}
	if !bytes.Contains(line, []byte(`"Slow query"`)) {
		if !json.Valid(line) {
			sink.skip()
		}
		return
	}
	var e slowLogEntry
	if err := json.Unmarshal(line, &e); err != nil {
		sink.skip()
		return
	}
	if e.ID != logIDSlowQuery && e.Msg != "Slow query" {
		return
	}
	op, err := e.slowOp()
	if err != nil {
		sink.skip()
		return
	}
	if op.seconds*1000 >= t.minMillis {
		sink.add(op)
	}
}

// slowOp turns a slow-query line into a slowOp.
func (e *slowLogEntry) slowOp() (slowOp, error) {
	a := &e.Attr
	if a.DurationMillis == nil {
		return slowOp{}, errors.New("no durationMillis")
	}
	op := slowOp{
		plan:         slowPlan(a.PlanSummary),
		planSummary:  labelValue(a.PlanSummary),
		seconds:      *a.DurationMillis / 1000,
		docsExamined: a.DocsExamined,
		docsReturned: a.NReturned,
	}
	op.database, op.collection = splitNamespace(a.NS)
	var cmdName string
	if len(a.Command) > 0 {
		var err error
		if op.shape, cmdName, err = jsonCommandShape(a.Command); err != nil {
			return slowOp{}, err
		}
	}
	op.op = slowOpName(cmdName, a.Type)
	for _, h := range []struct{ kind, hash string }{
		{shapeKeyQueryShapeHash, a.QueryShapeHash},
		{shapeKeyPlanCacheShapeHash, a.PlanCacheShapeHash},
		{shapeKeyQueryHash, a.QueryHash},
	} {
		if h.hash != "" {
			op.hashKind, op.hash = h.kind, labelValue(h.hash)
			break
		}
	}
	if at, err := time.Parse(time.RFC3339Nano, e.T.Date); err == nil {
		op.at = at
	}
	return op, op.check()
}
