package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"regexp"
	"strings"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

// MongoDB is one MongoDB deployment Lookout watches. Collection runs on
// Lookout's schedule, never on a scrape.
type MongoDB struct {
	Name string `yaml:"name"`
	// URI is mongodb:// or mongodb+srv://; put credentials in it through
	// ${VAR}, or give uri_file. It never appears in logs, errors or metrics.
	URI            string      `yaml:"uri"`
	URIFile        string      `yaml:"uri_file"`
	Interval       Duration    `yaml:"interval"`
	Timeout        Duration    `yaml:"timeout"`
	Databases      DBFilter    `yaml:"databases"`
	MaxCollections int         `yaml:"max_collections"`
	SlowQueries    SlowQueries `yaml:"slow_queries"`
	// UnusedIndexAfter is how long an index must go unused to count as unused.
	UnusedIndexAfter Duration `yaml:"unused_index_after"`
}

// DBFilter selects databases by glob.
type DBFilter struct {
	Include []string `yaml:"include"`
	Exclude []string `yaml:"exclude"`
}

// SlowQueries says where slow operations are read from.
type SlowQueries struct {
	Source    string   `yaml:"source"` // profile or log
	Threshold Duration `yaml:"threshold"`
	Path      string   `yaml:"path"` // with source: log
}

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
	defaultMongoSlowSource   = "profile"
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
	if m.Timeout >= m.Interval {
		d.errorAt(at+".timeout", "%s is not less than the interval %s; want a timeout shorter than the interval", m.Timeout.Std(), m.Interval.Std())
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
	if err := oneOf(sq.Source, "profile", "log"); err != nil {
		d.errorAt(at+".slow_queries.source", "%v", err)
	}
	if sq.Source == "log" && sq.Path == "" {
		d.errorAt(at+".slow_queries.path", "missing; source: log reads mongod's log file, like /var/log/mongodb/mongod.log")
	}
	if sq.Threshold == 0 {
		sq.Threshold = DefaultSlowThreshold
	}
}

// checkMongoURIOptions parses a MongoDB URI's options as the driver does at
// start, so that what the driver would refuse (connectTimeoutMS=abc,
// tls=maybe) is a config error. A mongodb+srv URI is read as the mongodb
// URI of its one host: the driver would look its hosts up in DNS, which a
// check must not need. The error names the option, never its value or the
// URI.
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
	if _, err := connstring.ParseAndValidate(u.String()); err != nil {
		msg := quotedValue.ReplaceAllString(err.Error(), "$1")
		if p, ok := u.User.Password(); ok && p != "" && strings.Contains(msg, p) {
			return errors.New("the driver refuses its options")
		}
		return errors.New(msg)
	}
	return nil
}

// quotedValue is the value the driver quotes after an option's name.
var quotedValue = regexp.MustCompile(`(for "[^"]*"): "[^"]*"`)
