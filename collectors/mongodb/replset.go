package mongodb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Features that the replica-set sub-collector probes.
const (
	featureReplSetGetStatus = "replSetGetStatus"
	featureOplog            = "local.oplog.rs"
)

// Server error codes read by the replica-set sub-collector: a standalone
// mongod answers replSetGetStatus with NoReplicationEnabled (it has no
// replica set to report on), and a user without read access on local gets
// Unauthorized for the oplog.
const (
	codeUnauthorized         = 13
	codeNoReplicationEnabled = 76
)

// memberStates names the replica-set member states by number, as MongoDB
// documents them; they are the values of the state label.
var memberStates = []string{
	0: "STARTUP", 1: "PRIMARY", 2: "SECONDARY", 3: "RECOVERING", 5: "STARTUP2",
	6: "UNKNOWN", 7: "ARBITER", 8: "DOWN", 9: "ROLLBACK", 10: "REMOVED",
}

const statePrimary = 1

// collectReplSet reports member state, health and lag, the term and the
// oplog window.
func collectReplSet(ctx context.Context, client *mongo.Client, p *pass) error {
	raw, err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "replSetGetStatus", Value: 1}}).Raw()
	switch {
	case isUnsupported(err) || isCode(err, codeNoReplicationEnabled):
		p.feature(featureReplSetGetStatus, false)
		return nil
	case err != nil:
		return fmt.Errorf("replSetGetStatus: %w", err)
	}
	p.feature(featureReplSetGetStatus, true)
	var errs []error
	if err := addReplSetStatus(raw, p); err != nil {
		errs = append(errs, fmt.Errorf("replSetGetStatus: %w", err))
	}
	if err := collectOplogWindow(ctx, client, p); err != nil {
		errs = append(errs, fmt.Errorf("oplog window: %w", err))
	}
	return errors.Join(errs...)
}

func isCode(err error, code int32) bool {
	var ce mongo.CommandError
	return errors.As(err, &ce) && ce.Code == code
}

// replSetStatus holds the fields of the replSetGetStatus reply that Lookout
// reads, as MongoDB documents them. Numbers are float64 because MongoDB
// sends int32, int64 or double depending on the field and version.
type replSetStatus struct {
	Set     string   `bson:"set"`
	MyState float64  `bson:"myState"`
	Term    *float64 `bson:"term"`
	Members []struct {
		Name       string    `bson:"name"`
		Health     float64   `bson:"health"`
		State      float64   `bson:"state"`
		StateStr   string    `bson:"stateStr"`
		OptimeDate time.Time `bson:"optimeDate"`
	} `bson:"members"`
}

func stateName(n float64) string {
	i := int(n)
	if i < 0 || i >= len(memberStates) || memberStates[i] == "" {
		return "UNKNOWN"
	}
	return memberStates[i]
}

// addReplSetStatus adds the metrics of a replSetGetStatus reply. Lag is
// reported for healthy members with an optime, and only when there is a
// primary to measure it from; a down member's optime is meaningless.
func addReplSetStatus(raw bson.Raw, p *pass) error {
	var rs replSetStatus
	if err := bson.Unmarshal(raw, &rs); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if rs.Term != nil {
		p.gauge(p.descs.replsetTerm, *rs.Term)
	}
	var primary time.Time
	for _, m := range rs.Members {
		if int(m.State) == statePrimary {
			primary = m.OptimeDate
		}
	}
	for _, m := range rs.Members {
		state := stateName(m.State)
		for _, s := range memberStates {
			if s != "" {
				p.gauge(p.descs.replsetMemberState, boolValue(s == state), m.Name, s)
			}
		}
		p.gauge(p.descs.replsetMemberHealth, m.Health, m.Name)
		if !primary.IsZero() && m.Health == 1 && !m.OptimeDate.IsZero() && m.OptimeDate.Unix() > 0 {
			p.gauge(p.descs.replsetMemberLag, max(primary.Sub(m.OptimeDate).Seconds(), 0), m.Name)
		}
	}
	return nil
}

// collectOplogWindow reads the first and last entries of local.oplog.rs. A
// user without read access on local, or a member without an oplog, is
// reported as lacking the feature.
func collectOplogWindow(ctx context.Context, client *mongo.Client, p *pass) error {
	oplog := client.Database("local").Collection("oplog.rs")
	var ends [2]bson.Raw
	for i, dir := range []int{1, -1} {
		opts := options.FindOne().SetSort(bson.D{{Key: "$natural", Value: dir}}).
			SetProjection(bson.D{{Key: "ts", Value: 1}})
		raw, err := oplog.FindOne(ctx, bson.D{}, opts).Raw()
		switch {
		case errors.Is(err, mongo.ErrNoDocuments), isUnsupported(err), isCode(err, codeUnauthorized):
			p.feature(featureOplog, false)
			return nil
		case err != nil:
			return err
		}
		ends[i] = raw
	}
	return addOplogWindow(ends[0], ends[1], p)
}

// addOplogWindow adds the oplog window of its first and last entries (as
// collectOplogWindow reads them: ts only).
func addOplogWindow(first, last bson.Raw, p *pass) error {
	window, err := oplogWindow(first, last)
	if err != nil {
		return err
	}
	p.feature(featureOplog, true)
	p.gauge(p.descs.replsetOplogWindow, window)
	return nil
}

// oplogWindow returns the seconds between the ts of two oplog entries.
func oplogWindow(first, last bson.Raw) (float64, error) {
	var a, b struct {
		TS bson.Timestamp `bson:"ts"`
	}
	if err := bson.Unmarshal(first, &a); err != nil {
		return 0, fmt.Errorf("decode first entry: %w", err)
	}
	if err := bson.Unmarshal(last, &b); err != nil {
		return 0, fmt.Errorf("decode last entry: %w", err)
	}
	return float64(b.TS.T) - float64(a.TS.T), nil
}
