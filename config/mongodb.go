package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"regexp"
	"strings"

	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// MongoDB is one MongoDB deployment Lookout watches. Collection runs on
// Lookout's schedule, never on a scrape.
type MongoDB struct {
	Name string `yaml:"name"`
	// URI is mongodb:// or mongodb+srv://; put credentials in it through
	// ${VAR}, or give uri_file. It never appears in logs, errors or metrics.
	URI       string   `yaml:"uri"`
	URIFile   string   `yaml:"uri_file"`
	Interval  Duration `yaml:"interval"`
	Timeout   Duration `yaml:"timeout"`
	Databases DBFilter `yaml:"databases"`
	// MaxCollections bounds how many collections a pass looks at, over
	// all databases.
	MaxCollections int         `yaml:"max_collections"`
	SlowQueries    SlowQueries `yaml:"slow_queries"`
	// UnusedIndexAfter is how long an index must have counted no access,
	// on every replica-set member, to be reported unused.
	UnusedIndexAfter Duration `yaml:"unused_index_after"`
	// Backups, when set, watches the target's backups.
	Backups *Backups `yaml:"backups"`
}

// DBFilter selects databases by glob (path.Match); an empty Include means
// every database. Exclude wins.
type DBFilter struct {
	Include []string `yaml:"include"`
	Exclude []string `yaml:"exclude"`
}

// SlowQueries says where slow operations are read from: the system.profile
// collection of each database (SlowSourceProfile) or mongod's structured
// log file (SlowSourceLog, at Path).
type SlowQueries struct {
	Source    string   `yaml:"source"`
	Threshold Duration `yaml:"threshold"`
	Path      string   `yaml:"path"` // with source: log
}

// Sources of slow operations, the values of SlowQueries.Source.
const (
	SlowSourceProfile = "profile"
	SlowSourceLog     = "log"
)

// MongoMaxPoolSize bounds the connections Lookout opens to one target (its
// replica-set members aside); a URI's minPoolSize may not exceed it.
const MongoMaxPoolSize = 4

// defaultMongoExclude are the databases left out when databases.exclude
// is not set: MongoDB's own.
func defaultMongoExclude() []string { return []string{"admin", "local", "config"} }

// Defaults of mongodb targets.
const (
	DefaultMongoInterval     = Duration(60e9)
	DefaultMongoTimeout      = Duration(20e9)
	DefaultMaxCollections    = 2000
	DefaultSlowThreshold     = Duration(100e6)
	DefaultUnusedIndexAfter  = Duration(168 * 3600e9)
	defaultMongoSlowSource   = SlowSourceProfile
	mongoURIValueNotShownMsg = "(the value is not shown: it may hold a password)"
)

func checkMongoDBs(d *decoder, ms []MongoDB) {
	first := map[string]int{}
	for i := range ms {
		m := &ms[i]
		path := fmt.Sprintf("mongodb[%d]", i)
		switch j, dup := first[m.Name]; {
		case m.Name == "":
			d.errorAt(path+".name", "missing; every MongoDB target needs a unique name (the target label)")
		case dup:
			d.errorAt(path+".name", "duplicate target name %q, first used by mongodb[%d]", m.Name, j)
		default:
			first[m.Name] = i
		}
		m.check(d, path)
	}
}

func (m *MongoDB) check(d *decoder, at string) {
	switch {
	case m.URI == "" && m.URIFile == "":
		d.errorAt(at+".uri", "missing; want uri (like ${MONGODB_URI}) or uri_file")
	case m.URI != "" && m.URIFile != "":
		d.errorAt(at+".uri_file", "uri and uri_file are both set; want one of them")
	case m.URIFile != "":
		b, err := os.ReadFile(m.URIFile)
		if err != nil {
			d.errorAt(at+".uri_file", "cannot read %q: %v", m.URIFile, unwrapPathError(err))
			return
		}
		m.URI = strings.TrimSpace(string(b))
	}
	if m.URI != "" {
		u, err := url.Parse(m.URI)
		switch {
		case err != nil || (u.Scheme != "mongodb" && u.Scheme != "mongodb+srv") || u.Host == "":
			d.errorAt(at+".uri", "is not a MongoDB URI; want mongodb://HOST[:PORT]/... or mongodb+srv://HOST/... %s", mongoURIValueNotShownMsg)
		default:
			if err := checkMongoURIOptions(u); err != nil {
				d.errorAt(at+".uri", "%v %s", err, mongoURIValueNotShownMsg)
			}
		}
	}
	if m.Interval == 0 {
		m.Interval = DefaultMongoInterval
	}
	if m.Timeout == 0 {
		m.Timeout = min(DefaultMongoTimeout, m.Interval*4/5)
	}
	switch {
	case m.Timeout >= m.Interval:
		d.errorAt(at+".timeout", "%s is not less than the interval %s; want a timeout shorter than the interval", m.Timeout.Std(), m.Interval.Std())
	case m.Timeout == 0:
		d.errorAt(at+".interval", "%s leaves no time for a pass's timeout; want an interval like 60s", m.Interval.Std())
	}
	if m.Databases.Exclude == nil {
		m.Databases.Exclude = defaultMongoExclude()
	}
	for field, globs := range map[string][]string{"include": m.Databases.Include, "exclude": m.Databases.Exclude} {
		for j, g := range globs {
			if _, err := path.Match(g, ""); err != nil {
				d.errorAt(fmt.Sprintf("%s.databases.%s[%d]", at, field, j), "%q is not a valid glob; want a name with * ? or [a-z], like app*", g)
			}
		}
	}
	if m.MaxCollections == 0 {
		m.MaxCollections = DefaultMaxCollections
	} else if m.MaxCollections < 0 {
		d.errorAt(at+".max_collections", "%d is negative; want the most collections to look at, like 2000", m.MaxCollections)
	}
	if m.UnusedIndexAfter == 0 {
		m.UnusedIndexAfter = DefaultUnusedIndexAfter
	}
	sq := &m.SlowQueries
	if sq.Source == "" {
		sq.Source = defaultMongoSlowSource
	}
	if err := oneOf(sq.Source, SlowSourceProfile, SlowSourceLog); err != nil {
		d.errorAt(at+".slow_queries.source", "%v", err)
	}
	if sq.Source == SlowSourceLog && sq.Path == "" {
		d.errorAt(at+".slow_queries.path", "missing; source: log reads mongod's log file, like /var/log/mongodb/mongod.log")
	}
	if sq.Threshold == 0 {
		sq.Threshold = DefaultSlowThreshold
	}
	if m.Backups != nil {
		m.Backups.check(d, at+".backups")
	}
}

// checkMongoURIOptions builds the driver's client options from a MongoDB
// URI as the collector does at start (with its pool of MongoMaxPoolSize),
// so that what the driver would refuse (connectTimeoutMS=abc, tls=maybe,
// minPoolSize=10, heartbeatFrequencyMS=100, a tlsCAFile that cannot be
// read) is a config error. A mongodb+srv URI is read as the mongodb URI of
// its one host: the driver would look its hosts up in DNS, which a check
// must not need. The error names the option, never its value or the URI.
func checkMongoURIOptions(u *url.URL) error {
	if u.Scheme == "mongodb+srv" {
		if u.Port() != "" {
			return errors.New("a mongodb+srv URI cannot have a port")
		}
		q := u.Query()
		if strings.EqualFold(q.Get("directConnection"), "true") {
			return errors.New("a mongodb+srv URI cannot set directConnection=true")
		}
		for k := range q {
			if strings.EqualFold(k, "srvMaxHosts") || strings.EqualFold(k, "srvServiceName") {
				q.Del(k)
			}
		}
		plain := *u
		plain.Scheme, plain.RawQuery = "mongodb", q.Encode()
		u = &plain
	}
	if err := options.Client().ApplyURI(u.String()).SetMaxPoolSize(MongoMaxPoolSize).Validate(); err != nil {
		msg := quotedValue.ReplaceAllString(err.Error(), "$1")
		var secrets []string
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, p)
		}
		for k, vs := range u.Query() {
			if strings.EqualFold(k, "tlsCertificateKeyFilePassword") {
				secrets = append(secrets, vs...)
			}
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(msg, s) {
				return errors.New("the driver refuses its options")
			}
		}
		return errors.New(msg)
	}
	return nil
}

// quotedValue is the value the driver quotes after an option's name.
var quotedValue = regexp.MustCompile(`(for "[^"]*"): "[^"]*"`)
