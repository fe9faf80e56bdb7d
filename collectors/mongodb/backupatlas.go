package mongodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/icholy/digest"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/lookout-dev/lookout/config"
)

// An atlas source reads a cluster's Cloud Backup snapshots and its backup
// schedule from the Atlas Administration API v2, as a service account
// (OAuth 2 client credentials: a token from {base}/api/oauth/token, kept
// until a minute before it expires) or with an API key (HTTP digest, MD5
// with qop=auth, the challenge kept and reused with a counted nonce).
//
// GET …/backup/snapshots (version 2023-01-01) is read page by page, 500 a
// page and at most 50 pages; GET …/backup/schedule (version 2024-08-05)
// says whether snapshots are copied to other regions. Every request carries
// the step's context and so its deadline; a 429 is retried after its
// Retry-After when that fits in the deadline, three times at most; a
// redirect to another host is refused, so a token or digest never leaves
// the configured one; an answer is read up to 16 MiB. An error names the
// method and path, and shows of Atlas's answer only its errorCode and a
// short, cleaned excerpt of its detail: never a secret nor the token.

// atlasSnapshotType is the type label of Atlas's snapshots, whatever their
// snapshotType (scheduled, onDemand, fallback).
const atlasSnapshotType = "snapshot"

// The versions of the Administration API Lookout reads each resource in
// (the Accept header names them).
const (
	atlasSnapshotsVersion = "application/vnd.atlas.2023-01-01+json"
	atlasScheduleVersion  = "application/vnd.atlas.2024-08-05+json"
)

const (
	atlasPageSize   = 500      // the API's largest itemsPerPage
	atlasMaxPages   = 50       // 25,000 snapshots: an hourly snapshot kept for almost three years
	atlasMaxBody    = 16 << 20 // one answer; a full page of snapshots is about 300 KiB
	atlasMaxRetries = 3        // after a 429
	atlasTokenEarly = time.Minute
	atlasExcerpt    = 160 // runes of Atlas's detail an error shows
	atlasErrorBody  = 64 << 10
)

// Snapshot statuses, as the API documents them.
const (
	atlasQueued     = "queued"
	atlasInProgress = "inProgress"
	atlasCompleted  = "completed"
	atlasFailed     = "failed"
)

// atlasSnapshot is the part of a snapshot (DiskBackupReplicaSet) Lookout
// reads. ExpiresAt is zero for a snapshot Atlas keeps until it is deleted.
type atlasSnapshot struct {
	ID               string    `json:"id"`
	Status           string    `json:"status"`
	SnapshotType     string    `json:"snapshotType"`
	CreatedAt        time.Time `json:"createdAt"`
	ExpiresAt        time.Time `json:"expiresAt"`
	StorageSizeBytes int64     `json:"storageSizeBytes"`
	CopyRegions      []string  `json:"copyRegions"`
}

// atlasSnapshotPage is one page of the listing. TotalCount is, as Atlas
// documents it, an estimate.
type atlasSnapshotPage struct {
	Results    []atlasSnapshot `json:"results"`
	TotalCount int             `json:"totalCount"`
}

// atlasSchedule is the part of the backup schedule Lookout reads: when
// the policy takes the next snapshot, and the copy settings (one per
// region snapshots are copied to).
type atlasSchedule struct {
	NextSnapshot time.Time `json:"nextSnapshot"`
	CopySettings []struct {
		RegionName            string            `json:"regionName"`
		Frequencies           []string          `json:"frequencies"`
		CopyPolicyItems       []json.RawMessage `json:"copyPolicyItems"`
		LastNumberOfSnapshots int               `json:"lastNumberOfSnapshots"`
	} `json:"copySettings"`
}

// copies says whether the schedule copies any snapshot to another region:
// a copy setting with a region and something to copy (frequencies, the
// newer copy policy items, or a number of recent snapshots).
func (s *atlasSchedule) copies() bool {
	for _, c := range s.CopySettings {
		if c.RegionName != "" && (len(c.Frequencies) > 0 || len(c.CopyPolicyItems) > 0 || c.LastNumberOfSnapshots > 0) {
			return true
		}
	}
	return false
}

// atlasReader reads the cluster cfg names. The client it keeps (and the
// service account's token or the digest challenge in it) lives as long as
// the collector.
func atlasReader(cfg *config.AtlasSource) func(context.Context, *mongo.Client, time.Time) (*backupReport, error) {
	api := newAtlasAPI(cfg)
	return func(ctx context.Context, _ *mongo.Client, now time.Time) (*backupReport, error) {
		snaps, err := api.snapshots(ctx)
		if err != nil {
			return nil, err
		}
		var sched atlasSchedule
		if err := api.get(ctx, api.backupURL("schedule"), atlasScheduleVersion, &sched); err != nil {
			return nil, err
		}
		rep := atlasReport(snaps, sched.copies(), now)
		rep.nextPlanned = sched.NextSnapshot
		return rep, nil
	}
}

// atlasReport maps the snapshots, in any order, to a report. Atlas gives
// no end time nor error text for a snapshot: the last success is the
// newest completed snapshot's createdAt, and lastError says which snapshot
// failed. Each snapshot's copyRegions lists the regions Atlas copies it to
// (the API documents no state per copy): copied is the newest completed
// snapshot that has one.
func atlasReport(snaps []atlasSnapshot, hasCopy bool, now time.Time) *backupReport {
	t := backupType{name: atlasSnapshotType, prevSize: -1}
	var newest, prev *atlasSnapshot
	for i := range snaps {
		s := &snaps[i]
		if s.Status != atlasCompleted {
			continue
		}
		switch {
		case newest == nil || s.CreatedAt.After(newest.CreatedAt):
			prev, newest = newest, s
		case prev == nil || s.CreatedAt.After(prev.CreatedAt):
			prev = s
		}
	}
	if newest != nil {
		t.lastSuccess, t.size = newest.CreatedAt, newest.StorageSizeBytes
	}
	if prev != nil {
		t.prevSize = prev.StorageSizeBytes
	}
	rep := &backupReport{hasCopy: hasCopy}
	var lastFailed *atlasSnapshot
	for i := range snaps {
		s := &snaps[i]
		unseen := newest == nil || s.CreatedAt.After(newest.CreatedAt) // newer than the last success
		switch s.Status {
		case atlasCompleted:
			if s.ExpiresAt.IsZero() || s.ExpiresAt.After(now) {
				rep.restorable++
				if rep.oldest.IsZero() || s.CreatedAt.Before(rep.oldest) {
					rep.oldest = s.CreatedAt
				}
			}
			if len(s.CopyRegions) > 0 && s.CreatedAt.After(rep.copied) {
				rep.copied = s.CreatedAt
			}
		case atlasFailed:
			if unseen {
				t.failures++
				if lastFailed == nil || s.CreatedAt.After(lastFailed.CreatedAt) {
					lastFailed = s
				}
			}
		case atlasQueued, atlasInProgress:
			t.running = t.running || unseen
		}
	}
	if lastFailed != nil {
		t.lastError = fmt.Sprintf("%s snapshot taken at %s: %s", lastFailed.SnapshotType, lastFailed.CreatedAt.UTC().Format(time.RFC3339), lastFailed.Status)
	}
	rep.types = []backupType{t}
	rep.recent = atlasRecent(snaps)
	return rep
}

// atlasRecent are the newest snapshots, newest first, for the API.
func atlasRecent(snaps []atlasSnapshot) []BackupEntry {
	newest := slices.SortedFunc(slices.Values(snaps), func(a, b atlasSnapshot) int { return b.CreatedAt.Compare(a.CreatedAt) })
	out := make([]BackupEntry, 0, min(len(newest), recentBackups))
	for _, s := range newest[:min(len(newest), recentBackups)] {
		out = append(out, BackupEntry{Name: s.ID, Type: s.SnapshotType, Status: s.Status, Start: s.CreatedAt, Size: s.StorageSizeBytes})
	}
	return out
}

// atlasAPI is a client of one cluster's backup resources.
type atlasAPI struct {
	cfg    *config.AtlasSource
	base   *url.URL // cfg.BaseParsed, its path rooted
	client *http.Client
	oauth  *clientcredentials.Config // nil with an API key
	// secrets are what an error must never show (with the token).
	secrets []string

	mu    sync.Mutex // guards token
	token *oauth2.Token
}

func newAtlasAPI(cfg *config.AtlasSource) *atlasAPI {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	base := *cfg.BaseParsed
	if !strings.HasPrefix(base.Path, "/") {
		base.Path, base.RawPath = "/"+base.Path, ""
	}
	a := &atlasAPI{cfg: cfg, base: &base, client: &http.Client{Transport: transport, CheckRedirect: atlasRedirect}}
	if cfg.ClientID != "" {
		a.oauth = &clientcredentials.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			TokenURL:     a.base.JoinPath("api", "oauth", "token").String(),
			// Atlas takes the client ID and secret as HTTP Basic only.
			AuthStyle: oauth2.AuthStyleInHeader,
		}
		a.secrets = []string{cfg.ClientSecret}
	} else {
		a.client.Transport = &digest.Transport{Username: cfg.PublicKey, Password: cfg.PrivateKey, Transport: transport}
		a.secrets = []string{cfg.PrivateKey}
	}
	return a
}

// atlasRedirect follows a redirect only on the same host (and never from
// https to http): the token or the digest goes with the request.
func atlasRedirect(req *http.Request, via []*http.Request) error {
	from := via[0].URL
	if req.URL.Host != from.Host || (from.Scheme == "https" && req.URL.Scheme != "https") {
		return fmt.Errorf("refused a redirect to %s://%s, another host", req.URL.Scheme, req.URL.Host)
	}
	if len(via) >= 5 {
		return errors.New("stopped after 5 redirects")
	}
	return nil
}

// backupURL is the URL of one of the cluster's backup resources.
func (a *atlasAPI) backupURL(resource string) *url.URL {
	return a.base.JoinPath("api", "atlas", "v2", "groups", url.PathEscape(a.cfg.GroupID),
		"clusters", url.PathEscape(a.cfg.Cluster), "backup", resource)
}

// snapshots reads every page of the cluster's snapshots.
func (a *atlasAPI) snapshots(ctx context.Context) ([]atlasSnapshot, error) {
	u := a.backupURL("snapshots")
	var all []atlasSnapshot
	for page := 1; page <= atlasMaxPages; page++ {
		pu := *u
		pu.RawQuery = url.Values{"pageNum": {strconv.Itoa(page)}, "itemsPerPage": {strconv.Itoa(atlasPageSize)}}.Encode()
		var p atlasSnapshotPage
		if err := a.get(ctx, &pu, atlasSnapshotsVersion, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Results...)
		// A short page ends the listing, unless the count says more
		// remain; an empty one always does.
		if len(p.Results) == 0 || (len(p.Results) < atlasPageSize && len(all) >= p.TotalCount) {
			return all, nil
		}
	}
	return nil, fmt.Errorf("atlas: GET %s: more than %d pages of %d snapshots; Lookout reads no more, and reports none rather than a part",
		u.EscapedPath(), atlasMaxPages, atlasPageSize)
}

// get reads the JSON resource at u into v, in the API version accept
// names, waiting out up to atlasMaxRetries 429s.
func (a *atlasAPI) get(ctx context.Context, u *url.URL, accept string, v any) error {
	op := "GET " + u.EscapedPath()
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return fmt.Errorf("atlas: %s: %w", op, err)
		}
		req.Header.Set("Accept", accept)
		if err := a.authorize(ctx, req); err != nil {
			return err
		}
		resp, err := a.client.Do(req)
		if err != nil {
			return fmt.Errorf("atlas: %s: %w", op, atlasUnwrap(err))
		}
		if resp.StatusCode == http.StatusTooManyRequests && attempt < atlasMaxRetries {
			wait := atlasRetryAfter(resp.Header.Get("Retry-After"), attempt, time.Now())
			atlasDrain(resp)
			if err := atlasSleep(ctx, wait); err != nil {
				return fmt.Errorf("atlas: %s: rate limited (429), retry after %s: %w", op, wait, err)
			}
			continue
		}
		return a.decode(resp, op, v)
	}
}

// decode reads a 2xx answer's JSON into v; any other answer is an
// *atlasError.
func (a *atlasAPI) decode(resp *http.Response, op string, v any) error {
	defer atlasDrain(resp)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, atlasErrorBody))
		e := a.newError(op, resp.StatusCode, body)
		if resp.StatusCode == http.StatusUnauthorized && a.oauth != nil {
			a.dropToken()
			e.hint = "the service account's token was refused; a new one is fetched on the next read"
		}
		return e
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, atlasMaxBody+1))
	if err != nil {
		return fmt.Errorf("atlas: %s: read the answer: %w", op, err)
	}
	if len(body) > atlasMaxBody {
		return fmt.Errorf("atlas: %s: the answer is larger than %d MiB; Lookout reads no more", op, atlasMaxBody>>20)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("atlas: %s: an answer Lookout cannot read: %w", op, err)
	}
	return nil
}

// authorize sets a service account's bearer token on req, fetching one
// when none is kept or the kept one expires within atlasTokenEarly. With
// an API key it does nothing: the digest transport answers the challenge.
func (a *atlasAPI) authorize(ctx context.Context, req *http.Request) error {
	if a.oauth == nil {
		return nil
	}
	a.mu.Lock()
	// oauth2 takes the HTTP client of the token request from the context.
	src := a.oauth.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, a.client))
	tok, err := oauth2.ReuseTokenSourceWithExpiry(a.token, src, atlasTokenEarly).Token()
	a.token = tok // nil after an error
	a.mu.Unlock()
	if err != nil {
		return a.tokenError(err)
	}
	tok.SetAuthHeader(req)
	return nil
}

func (a *atlasAPI) dropToken() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.token = nil
}

// tokenError is what a failed token request says: the status, Atlas's
// error code and a short excerpt, never oauth2's copy of the whole body.
func (a *atlasAPI) tokenError(err error) error {
	op := "POST " + a.base.JoinPath("api", "oauth", "token").EscapedPath()
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		e := a.newError(op, re.Response.StatusCode, re.Body)
		if re.ErrorCode != "" { // an OAuth error body: {"error", "error_description"}
			e.code, e.detail = a.clean(re.ErrorCode), a.clean(re.ErrorDescription)
		}
		if e.status == http.StatusBadRequest || e.status == http.StatusUnauthorized {
			e.hint = "check client_id and client_secret"
		}
		return e
	}
	return fmt.Errorf("atlas: get a service account token: %s: %w", op, atlasUnwrap(err))
}

// atlasError is an answer outside 2xx.
type atlasError struct {
	op           string // method and path
	status       int
	code, detail string // Atlas's errorCode and an excerpt of its detail
	hint         string
}

func (e *atlasError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "atlas: %s: %d %s", e.op, e.status, http.StatusText(e.status))
	switch {
	case e.code != "" && e.detail != "":
		fmt.Fprintf(&b, ": %s: %s", e.code, e.detail)
	case e.code != "" || e.detail != "":
		fmt.Fprintf(&b, ": %s%s", e.code, e.detail)
	}
	if e.hint != "" {
		fmt.Fprintf(&b, " (%s)", e.hint)
	}
	return b.String()
}

func (a *atlasAPI) newError(op string, status int, body []byte) *atlasError {
	e := &atlasError{op: op, status: status}
	var ab struct {
		ErrorCode string `json:"errorCode"`
		Detail    string `json:"detail"`
	}
	if json.Unmarshal(body, &ab) == nil {
		e.code, e.detail = a.clean(ab.ErrorCode), a.clean(ab.Detail)
	}
	switch status {
	case http.StatusUnauthorized:
		e.hint = "check public_key and private_key"
	case http.StatusForbidden:
		e.hint = "the key or service account needs the Project Read Only role on the project, and this address on its access list"
	case http.StatusNotFound:
		e.hint = "check group_id and cluster, and that the cluster has Cloud Backup"
	}
	return e
}

// clean is s as an error may show it: one line of printable text, at most
// atlasExcerpt runes, with every secret and the token replaced.
func (a *atlasAPI) clean(s string) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }), " ")
	a.mu.Lock()
	secrets := a.secrets
	if a.token != nil && a.token.AccessToken != "" {
		secrets = append(secrets[:len(secrets):len(secrets)], a.token.AccessToken)
	}
	a.mu.Unlock()
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "REDACTED")
		}
	}
	if r := []rune(s); len(r) > atlasExcerpt {
		s = string(r[:atlasExcerpt]) + "…"
	}
	return s
}

// atlasRetryAfter is how long a 429 asks to wait: Retry-After in seconds
// or as an HTTP date, else 1 s doubled at each attempt.
func atlasRetryAfter(h string, attempt int, now time.Time) time.Duration {
	if secs, err := strconv.Atoi(strings.TrimSpace(h)); err == nil {
		return time.Duration(max(secs, 0)) * time.Second
	}
	if at, err := http.ParseTime(h); err == nil {
		return max(at.Sub(now), 0)
	}
	return time.Second << attempt
}

// atlasSleep waits d, unless that would pass ctx's deadline (then it
// says so at once) or ctx ends first.
func atlasSleep(ctx context.Context, d time.Duration) error {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		return errors.New("that is past the deadline, so Lookout does not wait")
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// atlasDrain reads a little of what is left of a body, so that the connection
// can be reused, and closes it.
func atlasDrain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	_ = resp.Body.Close()
}

// atlasUnwrap drops net/http's "Get \"URL\":" prefix: the error names
// the path already.
func atlasUnwrap(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}
