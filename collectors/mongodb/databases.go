package mongodb

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/lookout-dev/lookout/config"
)

// namespace is one collection a pass looks at.
type namespace struct {
	Database, Collection string
}

func (n namespace) String() string { return n.Database + "." + n.Collection }

// namespaces lists the collections of the databases dbs, in name order, at
// most MaxCollections of them; skipped tells how many more there were.
// Views and system collections are left out: they have no indexes of
// their own.
func namespaces(ctx context.Context, client *mongo.Client, cfg config.MongoDB, dbs []string) (ns []namespace, skipped int, err error) {
	for _, db := range dbs {
		colls, err := client.Database(db).ListCollectionNames(ctx, bson.D{{Key: "type", Value: "collection"}})
		if err != nil {
			return ns, skipped, fmt.Errorf("listCollections %s: %w", db, err)
		}
		slices.Sort(colls)
		for _, c := range colls {
			if strings.HasPrefix(c, "system.") {
				continue
			}
			if len(ns) >= cfg.MaxCollections {
				skipped++
				continue
			}
			ns = append(ns, namespace{Database: db, Collection: c})
		}
	}
	return ns, skipped, nil
}

// databases lists the databases that Include and Exclude select, once per
// pass: the steps that need them (slow queries, indexes) share the answer.
func (p *pass) databases(ctx context.Context, client *mongo.Client, cfg config.MongoDB) ([]string, error) {
	if !p.dbsListed {
		p.dbs, p.dbsErr = listDatabases(ctx, client, cfg)
		p.dbsListed = true
	}
	return p.dbs, p.dbsErr
}

func listDatabases(ctx context.Context, client *mongo.Client, cfg config.MongoDB) ([]string, error) {
	dbs, err := client.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("listDatabases: %w", err)
	}
	slices.Sort(dbs)
	return slices.DeleteFunc(dbs, func(db string) bool { return !selected(db, cfg.Databases.Include, cfg.Databases.Exclude) }), nil
}

// selected tells whether a database name passes the include and exclude
// globs.
func selected(db string, include, exclude []string) bool {
	matches := func(globs []string) bool {
		return slices.ContainsFunc(globs, func(g string) bool {
			ok, err := path.Match(g, db)
			return err == nil && ok
		})
	}
	return (len(include) == 0 || matches(include)) && !matches(exclude)
}
