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

// Percona Backup for MongoDB keeps its state in the target's admin
// database: pbmBackups (one document per backup), pbmPITRChunks (the
// oplog slices of point-in-time recovery) and pbmRestores. The fields
// read are PBM's own (name, type, status, start_ts, last_transition_ts,
// last_write_ts, hb, size, error).

// pbmTypes are the backup types PBM makes, each always reported (a type
// never made reads a last success of 0, which max by (source) ignores).
var pbmTypes = []string{"logical", "physical", "incremental"}

// pbmMaxBackups bounds the backups a pass reads, newest first.
const pbmMaxBackups = 10000

// pbmBackup is the part of a pbmBackups document Lookout reads.
type pbmBackup struct {
	Name             string         `bson:"name"`
	Type             string         `bson:"type"`
	Status           string         `bson:"status"`
	StartTS          int64          `bson:"start_ts"`
	LastTransitionTS int64          `bson:"last_transition_ts"`
	LastWriteTS      bson.Timestamp `bson:"last_write_ts"`
	HB               bson.Timestamp `bson:"hb"`
	Size             int64          `bson:"size"`
	Error            string         `bson:"error"`
}

// PBM's terminal statuses; every other one (starting, running,
// dumpDone, copyReady, …) is a backup in progress.
const (
	pbmDone      = "done"
	pbmError     = "error"
	pbmCancelled = "cancelled"
	pbmPartly    = "partlyDone"
)

func readPBM(ctx context.Context, client *mongo.Client, now time.Time) (*backupReport, error) {
	if client == nil {
		return nil, errors.New("pbm: no connection")
	}
	admin := client.Database("admin")
	rep := &backupReport{}
	order := append([]string(nil), pbmTypes...)
	byType := map[string]*backupType{}
	for _, name := range order {
		byType[name] = &backupType{name: name, prevSize: -1}
	}
	proj := bson.D{{Key: "name", Value: 1}, {Key: "type", Value: 1}, {Key: "status", Value: 1}, {Key: "start_ts", Value: 1}, {Key: "last_transition_ts", Value: 1},
		{Key: "last_write_ts", Value: 1}, {Key: "hb", Value: 1}, {Key: "size", Value: 1}, {Key: "error", Value: 1}}
	cur, err := admin.Collection("pbmBackups").Find(ctx, bson.D{},
		options.Find().SetSort(bson.D{{Key: "start_ts", Value: -1}}).SetProjection(proj).SetLimit(pbmMaxBackups).SetBatchSize(500))
	if err != nil {
		return nil, fmt.Errorf("pbm: read admin.pbmBackups: %w", err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var b pbmBackup
		if err := cur.Decode(&b); err != nil {
			return nil, fmt.Errorf("pbm: admin.pbmBackups: a document Lookout cannot read: %w", err)
		}
		t := byType[b.Type]
		if t == nil { // external, or a type PBM adds later
			t = &backupType{name: b.Type, prevSize: -1}
			byType[b.Type] = t
			order = append(order, b.Type)
		}
		pbmCount(rep, t, &b, now)
		if len(rep.recent) < recentBackups {
			e := BackupEntry{Name: b.Name, Type: b.Type, Status: b.Status, Start: unixTime(b.StartTS), Size: b.Size, Error: b.Error,
				RestorePoint: unixTime(int64(b.LastWriteTS.T))}
			if b.Status == pbmDone || b.Status == pbmError || b.Status == pbmCancelled || b.Status == pbmPartly {
				e.End = unixTime(b.LastTransitionTS)
			}
			rep.recent = append(rep.recent, e)
		}
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("pbm: read admin.pbmBackups: %w", err)
	}
	for _, name := range order {
		rep.types = append(rep.types, *byType[name])
	}
	if err := pbmPITR(ctx, admin, rep); err != nil {
		return nil, err
	}
	if err := pbmRestored(ctx, admin, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// pbmCount adds one backup, newest first, to its type and to the
// source's restorable set.
func pbmCount(rep *backupReport, t *backupType, b *pbmBackup, now time.Time) {
	switch b.Status {
	case pbmDone:
		rep.restorable++
		point := time.Unix(b.LastTransitionTS, 0)
		if b.LastWriteTS.T != 0 {
			point = time.Unix(int64(b.LastWriteTS.T), 0)
		}
		if rep.oldest.IsZero() || point.Before(rep.oldest) {
			rep.oldest = point
		}
		switch {
		case t.lastSuccess.IsZero():
			t.lastSuccess = time.Unix(b.LastTransitionTS, 0)
			t.size = b.Size
			t.duration, t.hasDuration = time.Duration(b.LastTransitionTS-b.StartTS)*time.Second, b.StartTS > 0
		case t.prevSize < 0:
			t.prevSize = b.Size
		}
	case pbmError, pbmPartly:
		if t.lastSuccess.IsZero() {
			t.failures++
			if t.lastError == "" {
				t.lastError = b.Error
			}
		}
	case pbmCancelled:
	default:
		if t.lastSuccess.IsZero() { // newer than every success: in progress
			t.running = true
			if hb := time.Unix(int64(b.HB.T), 0); now.Sub(hb) > backupStuckAfter {
				t.stuck = true
			}
		}
	}
}

// pbmPITR reads the newest oplog chunk's end, when PITR is on.
func pbmPITR(ctx context.Context, admin *mongo.Database, rep *backupReport) error {
	var chunk struct {
		End bson.Timestamp `bson:"end_ts"`
	}
	err := admin.Collection("pbmPITRChunks").FindOne(ctx, bson.D{},
		options.FindOne().SetSort(bson.D{{Key: "end_ts", Value: -1}}).SetProjection(bson.D{{Key: "end_ts", Value: 1}})).Decode(&chunk)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return nil
	case err != nil:
		return fmt.Errorf("pbm: read admin.pbmPITRChunks: %w", err)
	}
	if chunk.End.T != 0 {
		rep.pitrEnd = time.Unix(int64(chunk.End.T), 0)
	}
	return nil
}

// pbmRestored reads when the last successful restore ended.
func pbmRestored(ctx context.Context, admin *mongo.Database, rep *backupReport) error {
	var r struct {
		LastTransitionTS int64 `bson:"last_transition_ts"`
	}
	err := admin.Collection("pbmRestores").FindOne(ctx, bson.D{{Key: "status", Value: pbmDone}},
		options.FindOne().SetSort(bson.D{{Key: "last_transition_ts", Value: -1}}).SetProjection(bson.D{{Key: "last_transition_ts", Value: 1}})).Decode(&r)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return nil
	case err != nil:
		return fmt.Errorf("pbm: read admin.pbmRestores: %w", err)
	}
	rep.restored = time.Unix(r.LastTransitionTS, 0)
	return nil
}

// unixTime is PBM's Unix seconds as a time; zero for 0.
func unixTime(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}
