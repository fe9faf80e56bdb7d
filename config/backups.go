package config

import (
	"fmt"
	"maps"
	"net/url"
	"path"
	"slices"
	"time"
)

// Backups is what a MongoDB target's backups must keep true
// (mongodb[].backups): a fresh backup on schedule, a copy off site, the
// retention, restore drills; and where to read them.
type Backups struct {
	// Expect is when a backup should succeed, and how late it may be.
	Expect BackupExpect `yaml:"expect"`
	// Retention is how old the oldest restorable backup must be at least.
	Retention   Duration       `yaml:"retention"`
	Sources     []BackupSource `yaml:"sources"`
	RestoreTest *RestoreTest   `yaml:"restore_test"`
}

// BackupExpect is a backup's schedule: cron fields (in Timezone, UTC by
// default) or every so long, and the grace a backup has to complete.
type BackupExpect struct {
	Schedule *Schedule `yaml:"schedule"`
	Every    Duration  `yaml:"every"`
	Timezone string    `yaml:"timezone"`
	Grace    Duration  `yaml:"grace"`
	// Location is Timezone loaded.
	Location *time.Location `yaml:"-"`
}

// DefaultBackupGrace is how long after its scheduled time a backup may
// complete, when grace is not set.
const DefaultBackupGrace = Duration(2 * time.Hour)

// BackupSource is one place a target's backups are read from: exactly one
// of its kinds. Name is the source label (default: the kind's name).
type BackupSource struct {
	Name  string       `yaml:"name"`
	PBM   *PBMSource   `yaml:"pbm"`
	Atlas *AtlasSource `yaml:"atlas"`
	Files *FilesSource `yaml:"files"`
	S3    *S3Source    `yaml:"s3"`
	// Kind is the kind set, one of the BackupPBM... constants.
	Kind string `yaml:"-"`
}

// CopyOf is the name of the source this one holds the off-site copy of
// (files' or s3's copy_of), or "".
func (s *BackupSource) CopyOf() string {
	switch {
	case s.Files != nil:
		return s.Files.CopyOf
	case s.S3 != nil:
		return s.S3.CopyOf
	}
	return ""
}

// The kinds of backup sources, as the config names them.
const (
	BackupPBM   = "pbm"
	BackupAtlas = "atlas"
	BackupFiles = "files"
	BackupS3    = "s3"
)

// PBMSource reads Percona Backup for MongoDB's own collections (admin.
// pbmBackups, pbmPITRChunks, pbmRestores) through the target's connection.
type PBMSource struct{}

// AtlasSource reads a cluster's snapshots and backup schedule from the
// Atlas Administration API v2, as a service account (ClientID and
// ClientSecret: OAuth client credentials) or with an API key (PublicKey
// and PrivateKey: HTTP digest).
type AtlasSource struct {
	GroupID      string `yaml:"group_id"`
	Cluster      string `yaml:"cluster"`
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	PublicKey    string `yaml:"public_key"`
	PrivateKey   string `yaml:"private_key"`
	BaseURL      string `yaml:"base_url"`
	// BaseParsed is BaseURL parsed.
	BaseParsed *url.URL `yaml:"-" json:"-"`
}

// DefaultAtlasBaseURL is the Atlas Administration API's.
const DefaultAtlasBaseURL = "https://cloud.mongodb.com"

// FilesSource reads dump files in a local or mounted folder.
type FilesSource struct {
	Path    string `yaml:"path"`
	Pattern string `yaml:"pattern"`
	// CopyOf names the source this folder holds the copy of (a mount of
	// another region's storage).
	CopyOf string `yaml:"copy_of"`
}

// S3Source reads dump objects in an S3 bucket (or an S3-compatible store).
type S3Source struct {
	Endpoint        string `yaml:"endpoint"`
	Bucket          string `yaml:"bucket"`
	Prefix          string `yaml:"prefix"`
	Region          string `yaml:"region"`
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
	Pattern         string `yaml:"pattern"`
	// CopyOf names the source this bucket holds the off-site copy of.
	CopyOf string `yaml:"copy_of"`
	// EndpointURL is Endpoint parsed.
	EndpointURL *url.URL `yaml:"-" json:"-"`
}

// DefaultBackupPattern matches every file or object.
const DefaultBackupPattern = "*"

// RestoreTest is how often a restore drill must succeed: a PBM restore,
// or the named heartbeat probe the drill checks in to.
type RestoreTest struct {
	Heartbeat string   `yaml:"heartbeat"`
	Every     Duration `yaml:"every"`
}

func (b *Backups) check(d *decoder, at string) {
	e := &b.Expect
	e.Location = checkWhen(d, at+".expect", whenFields{e.Schedule, e.Every, e.Timezone, &e.Grace}, DefaultBackupGrace, "the backup")
	if b.Retention < 0 {
		d.errorAt(at+".retention", "%s is negative; want how old the oldest restorable backup must be, like 720h", b.Retention.Std())
	}
	if len(b.Sources) == 0 {
		d.errorAt(at+".sources", "missing; want where backups are read from: pbm, atlas, files or s3")
	}
	names := map[string]int{}
	for i := range b.Sources {
		s := &b.Sources[i]
		p := fmt.Sprintf("%s.sources[%d]", at, i)
		s.check(d, p)
		if s.Name == "" {
			continue
		}
		if j, dup := names[s.Name]; dup {
			d.errorAt(p+".name", "%q is the name of sources[%d] too; give each source of a kind a name of its own", s.Name, j)
			continue
		}
		names[s.Name] = i
	}
	for i := range b.Sources {
		s := &b.Sources[i]
		of := s.CopyOf()
		if of == "" {
			continue
		}
		p := fmt.Sprintf("%s.sources[%d].%s.copy_of", at, i, s.Kind)
		switch j, ok := names[of]; {
		case !ok:
			d.errorAt(p, "%q names no source of this target; want the name of the source this one copies%s", of, suggest(of, slices.Sorted(maps.Keys(names))))
		case j == i:
			d.errorAt(p, "names this source itself; want the source this one is the copy of")
		}
	}
	if rt := b.RestoreTest; rt != nil {
		if rt.Every <= 0 {
			d.errorAt(at+".restore_test.every", "missing; want how often a restore drill must succeed, like 720h")
		}
		if rt.Heartbeat == "" && !slices.ContainsFunc(b.Sources, func(s BackupSource) bool { return s.Kind == BackupPBM }) {
			d.errorAt(at+".restore_test", "names no heartbeat, and no pbm source reports restores; want heartbeat: NAME, the heartbeat probe the drill checks in to")
		}
	}
}

// checkRestoreTests checks that each restore_test.heartbeat names a
// heartbeat probe.
func checkRestoreTests(d *decoder, c *Config) {
	heartbeats := map[string]bool{}
	var names []string
	for _, p := range c.Probes {
		if p.Heartbeat != nil {
			heartbeats[p.Name] = true
			names = append(names, p.Name)
		}
	}
	for i, m := range c.MongoDB {
		if m.Backups == nil || m.Backups.RestoreTest == nil || m.Backups.RestoreTest.Heartbeat == "" {
			continue
		}
		if h := m.Backups.RestoreTest.Heartbeat; !heartbeats[h] {
			d.errorAt(fmt.Sprintf("mongodb[%d].backups.restore_test.heartbeat", i),
				"%q is no heartbeat probe; want the name of the probes[] entry with heartbeat: that the drill checks in to%s", h, suggest(h, names))
		}
	}
}

func (s *BackupSource) check(d *decoder, at string) {
	var kinds []string
	if s.PBM != nil {
		kinds = append(kinds, BackupPBM)
	}
	if s.Atlas != nil {
		kinds = append(kinds, BackupAtlas)
		s.Atlas.check(d, at+".atlas")
	}
	if s.Files != nil {
		kinds = append(kinds, BackupFiles)
		s.Files.check(d, at+".files")
	}
	if s.S3 != nil {
		kinds = append(kinds, BackupS3)
		s.S3.check(d, at+".s3")
	}
	switch len(kinds) {
	case 0:
		d.errorAt(at, "has no kind; want one of pbm, atlas, files, s3")
		return
	case 1:
		s.Kind = kinds[0]
	default:
		d.errorAt(at, "has %d kinds (%v); want exactly one per source", len(kinds), kinds)
		return
	}
	if s.Name == "" {
		s.Name = s.Kind
	}
}

func (a *AtlasSource) check(d *decoder, at string) {
	if a.GroupID == "" {
		d.errorAt(at+".group_id", "missing; want the Atlas project's ID (the group ID in its URL)")
	}
	if a.Cluster == "" {
		d.errorAt(at+".cluster", "missing; want the cluster's name")
	}
	oauth, digest := a.ClientID != "" || a.ClientSecret != "", a.PublicKey != "" || a.PrivateKey != ""
	switch {
	case oauth && digest:
		d.errorAt(at+".public_key", "is set beside client_id; want a service account (client_id, client_secret) or an API key (public_key, private_key), not both")
	case oauth && a.ClientID == "":
		d.errorAt(at+".client_id", "missing; client_secret is set, and a service account needs both")
	case oauth && a.ClientSecret == "":
		d.errorAt(at+".client_secret", "missing; client_id is set, and a service account needs both (give it through ${VAR})")
	case digest && a.PublicKey == "":
		d.errorAt(at+".public_key", "missing; private_key is set, and an API key needs both")
	case digest && a.PrivateKey == "":
		d.errorAt(at+".private_key", "missing; public_key is set, and an API key needs both (give it through ${VAR})")
	case !oauth && !digest:
		d.errorAt(at, "has no credentials; want client_id and client_secret (a service account) or public_key and private_key (an API key)")
	}
	if a.BaseURL == "" {
		a.BaseURL = DefaultAtlasBaseURL
	}
	u, err := url.Parse(a.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		d.errorAt(at+".base_url", "%q is not an http(s) URL without credentials; want like %s", redactURL(a.BaseURL), DefaultAtlasBaseURL)
		return
	}
	a.BaseParsed = u
}

func (f *FilesSource) check(d *decoder, at string) {
	if f.Path == "" {
		d.errorAt(at+".path", "missing; want the folder the dumps are written to, like /backups/mongodump")
	}
	f.Pattern = checkPattern(d, at, f.Pattern)
}

func (s *S3Source) check(d *decoder, at string) {
	if s.Bucket == "" {
		d.errorAt(at+".bucket", "missing; want the bucket's name")
	}
	switch {
	case s.Endpoint == "":
		d.errorAt(at+".endpoint", "missing; want the S3 endpoint, like https://s3.eu-central-1.amazonaws.com")
	default:
		u, err := url.Parse(s.Endpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") {
			d.errorAt(at+".endpoint", "%q is not an http(s) URL of a host without credentials or path; want like https://s3.eu-central-1.amazonaws.com", redactURL(s.Endpoint))
		} else {
			s.EndpointURL = u
		}
	}
	if (s.AccessKeyID == "") != (s.SecretAccessKey == "") {
		d.errorAt(at+".secret_access_key", "access_key_id and secret_access_key go together; want both (give them through ${VAR}), or neither for a public bucket")
	}
	s.Pattern = checkPattern(d, at, s.Pattern)
}

// checkPattern checks a files or s3 source's pattern, a glob of the names
// (path.Match), and returns it with its default.
func checkPattern(d *decoder, at, p string) string {
	if p == "" {
		return DefaultBackupPattern
	}
	if _, err := path.Match(p, ""); err != nil {
		d.errorAt(at+".pattern", "%q is not a valid glob; want a name with * ? or [a-z], like *.archive.gz", p)
	}
	return p
}

// redactURL is what an error may show of a URL from the config
// (redactedURL), or a placeholder when it does not parse.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(the value is not shown: it does not parse and may hold a secret)"
	}
	return redactedURL(u)
}
