package mongodb

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Features that the server sub-collector probes: the values of the feature
// label.
const (
	featureServerStatus = "serverStatus"
	featureUptime       = "serverStatus.uptime"
	featureConnections  = "serverStatus.connections"
	featureOpcounters   = "serverStatus.opcounters"
)

// Server error codes that mean "this server cannot do that", not "it failed".
const (
	codeCommandNotFound     = 59
	codeCommandNotSupported = 115
	codeNotImplemented      = 238
)

// isUnsupported tells whether err is the server saying it lacks a command.
func isUnsupported(err error) bool {
	var ce mongo.CommandError
	if !errors.As(err, &ce) {
		return false
	}
	switch ce.Code {
	case codeCommandNotFound, codeCommandNotSupported, codeNotImplemented:
		return true
	}
	return false
}

// collectServer reports mongodb_up, the version and what serverStatus has.
func collectServer(ctx context.Context, client *mongo.Client, p *pass) error {
	admin := client.Database("admin")
	if err := admin.RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err(); err != nil {
		p.gauge(p.descs.up, 0)
		return fmt.Errorf("ping: %w", err)
	}
	p.gauge(p.descs.up, 1)

	var errs []error
	raw, err := admin.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Raw()
	if err == nil {
		err = addBuildInfo(raw, p)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("buildInfo: %w", err))
	}

	raw, err = admin.RunCommand(ctx, bson.D{{Key: "serverStatus", Value: 1}}).Raw()
	switch {
	case isUnsupported(err):
		p.feature(featureServerStatus, false)
	case err != nil:
		errs = append(errs, fmt.Errorf("serverStatus: %w", err))
	default:
		p.feature(featureServerStatus, true)
		if err := addServerStatus(raw, p); err != nil {
			errs = append(errs, fmt.Errorf("serverStatus: %w", err))
		}
	}
	return errors.Join(errs...)
}

// buildInfo holds the fields of the buildInfo reply that Lookout reads.
type buildInfo struct {
	Version         string `bson:"version"`
	FerretDBVersion string `bson:"ferretdbVersion"` // FerretDB only
}

func addBuildInfo(raw bson.Raw, p *pass) error {
	var bi buildInfo
	if err := bson.Unmarshal(raw, &bi); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	server := "mongodb"
	if bi.FerretDBVersion != "" {
		server = "ferretdb"
	}
	p.gauge(p.descs.versionInfo, 1, bi.Version, server)
	return nil
}

// serverStatus holds the fields of the serverStatus reply that Lookout reads,
// as MongoDB documents them; a nil field is one the server left out. Numbers
// are float64 because MongoDB sends int32, int64 or double depending on the
// field and version.
type serverStatus struct {
	Uptime      *float64 `bson:"uptime"`
	Connections *struct {
		Current      float64 `bson:"current"`
		Available    float64 `bson:"available"`
		TotalCreated float64 `bson:"totalCreated"`
		Active       float64 `bson:"active"`
	} `bson:"connections"`
	Opcounters *struct {
		Insert  float64 `bson:"insert"`
		Query   float64 `bson:"query"`
		Update  float64 `bson:"update"`
		Delete  float64 `bson:"delete"`
		Getmore float64 `bson:"getmore"`
		Command float64 `bson:"command"`
	} `bson:"opcounters"`
}

// addServerStatus adds what the reply has and reports what it lacks.
func addServerStatus(raw bson.Raw, p *pass) error {
	var ss serverStatus
	if err := bson.Unmarshal(raw, &ss); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	p.feature(featureUptime, ss.Uptime != nil)
	if ss.Uptime != nil {
		p.gauge(p.descs.uptime, *ss.Uptime)
	}
	p.feature(featureConnections, ss.Connections != nil)
	if c := ss.Connections; c != nil {
		p.gauge(p.descs.connections, c.Current, "current")
		p.gauge(p.descs.connections, c.Available, "available")
		p.gauge(p.descs.connections, c.Active, "active")
		p.counter(p.descs.connectionsCreated, c.TotalCreated)
	}
	p.feature(featureOpcounters, ss.Opcounters != nil)
	if o := ss.Opcounters; o != nil {
		for _, op := range []struct {
			name string
			v    float64
		}{
			{"insert", o.Insert}, {"query", o.Query}, {"update", o.Update},
			{"delete", o.Delete}, {"getmore", o.Getmore}, {"command", o.Command},
		} {
			p.counter(p.descs.opcounters, op.v, op.name)
		}
	}
	return nil
}
