// Package atlastest is a fake Atlas Administration API v2 for tests of
// Lookout's atlas backup source: one cluster's snapshots, paged as Atlas
// pages them (pageNum, itemsPerPage up to 500, totalCount), and its backup
// schedule, in the shapes Atlas documents (DiskBackupReplicaSet in version
// 2023-01-01, DiskBackupSnapshotSchedule20240805 in version 2024-08-05).
//
// It takes only the authentication Atlas documents: with an API key, HTTP
// digest (a 401 with a Digest challenge, realm "MMS Public API", MD5,
// qop=auth; the answer checked against the private key, each nonce count
// used once); with a service account, a token from POST /api/oauth/token
// (HTTP Basic client ID and secret, grant_type=client_credentials) sent
// as a Bearer token until it expires. Only tests import it.
package atlastest

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Realm is the realm of Atlas's digest challenge.
const Realm = "MMS Public API"

// The versions (Accept headers) the fake serves each resource in.
const (
	SnapshotsVersion = "application/vnd.atlas.2023-01-01+json"
	ScheduleVersion  = "application/vnd.atlas.2024-08-05+json"
)

// Snapshot is one snapshot of the cluster. A zero ExpiresAt is left out of
// the answer.
type Snapshot struct {
	CreatedAt, ExpiresAt time.Time
	Status               string // queued, inProgress, completed, failed
	SnapshotType         string // scheduled, onDemand, fallback
	StorageSizeBytes     int64
	CopyRegions          []string
}

// CopySetting is one region of the schedule's copy settings.
type CopySetting struct {
	RegionName  string
	Frequencies []string
}

// Options are what the fake holds and the credentials it takes: an API key
// (PublicKey, PrivateKey) or a service account (ClientID, ClientSecret).
type Options struct {
	GroupID, Cluster       string
	PublicKey, PrivateKey  string
	ClientID, ClientSecret string
	// TokenLifetime is the expires_in of a token (default an hour, as Atlas).
	TokenLifetime time.Duration
	// Snapshots are listed in this order.
	Snapshots    []Snapshot
	CopySettings []CopySetting
}

// Request is one request the fake answered.
type Request struct {
	Method, Path string
	Query        url.Values
	Status       int
}

// Server is a running fake.
type Server struct {
	URL  string
	opts Options

	mu         sync.Mutex
	nonces     map[string]uint64    // issued digest nonces and their last nonce count
	tokens     map[string]time.Time // issued tokens and their expiry
	requests   []Request
	issued     int
	challenges int
	limited    int // 429s still to answer
	retryAfter string
}

// Start starts a fake on 127.0.0.1, stopped when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if o.TokenLifetime == 0 {
		o.TokenLifetime = time.Hour
	}
	s := &Server{opts: o, nonces: map[string]uint64{}, tokens: map[string]time.Time{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// RateLimit makes the next n authenticated API requests answer 429 with
// this Retry-After ("" for none).
func (s *Server) RateLimit(n int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limited, s.retryAfter = n, retryAfter
}

// Requests are the requests answered so far, token requests included.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// TokensIssued is how many tokens the token endpoint gave out.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

// Challenges is how many digest challenges (401s) the fake sent.
func (s *Server) Challenges() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.challenges
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	s.serve(sw, r)
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Status: sw.status})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/api/oauth/token" {
		s.token(w, r)
		return
	}
	if !s.authenticated(w, r) {
		return
	}
	if s.limited > 0 {
		s.limited--
		if s.retryAfter != "" {
			w.Header().Set("Retry-After", s.retryAfter)
		}
		atlasError(w, http.StatusTooManyRequests, "RATE_LIMITED", "You have exceeded the rate limit for this resource.")
		return
	}
	if r.Method != http.MethodGet {
		atlasError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "The method is not allowed on this resource.")
		return
	}
	prefix := "/api/atlas/v2/groups/" + s.opts.GroupID + "/clusters/" + s.opts.Cluster + "/backup/"
	switch r.URL.Path {
	case prefix + "snapshots":
		if s.version(w, r, SnapshotsVersion) {
			s.snapshots(w, r)
		}
	case prefix + "schedule":
		if s.version(w, r, ScheduleVersion) {
			s.schedule(w, r)
		}
	default:
		atlasError(w, http.StatusNotFound, "RESOURCE_NOT_FOUND", "Cannot find resource "+r.URL.Path+".")
	}
}

// version answers 406 unless the request asks for the resource's version.
func (s *Server) version(w http.ResponseWriter, r *http.Request, want string) bool {
	if got := r.Header.Get("Accept"); got != want {
		atlasError(w, http.StatusNotAcceptable, "INVALID_VERSION", fmt.Sprintf("Accept %q names no version of this resource; want %q.", got, want))
		return false
	}
	return true
}

// atlasError writes an error in Atlas's shape.
func atlasError(w http.ResponseWriter, status int, code, detail string) {
	writeJSON(w, status, "application/json", map[string]any{
		"detail": detail, "error": status, "errorCode": code, "parameters": []any{}, "reason": http.StatusText(status),
	})
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// authenticated checks the request's credentials, and answers 401 when
// they do not hold.
func (s *Server) authenticated(w http.ResponseWriter, r *http.Request) bool {
	if s.opts.ClientID != "" {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if exp, issued := s.tokens[tok]; ok && issued && time.Now().Before(exp) {
			return true
		}
		atlasError(w, http.StatusUnauthorized, "UNAUTHORIZED", "You are not authorized for this resource.")
		return false
	}
	if s.digestValid(r) {
		return true
	}
	nonce := randomHex(16)
	s.nonces[nonce] = 0
	s.challenges++
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Digest realm=%q, domain="", nonce=%q, algorithm=MD5, qop="auth", stale=false`, Realm, nonce))
	atlasError(w, http.StatusUnauthorized, "UNAUTHORIZED", "You are not authorized for this resource.")
	return false
}

// digestValid checks a digest answer (RFC 7616, MD5, qop=auth) against the
// API key, and that its nonce was issued here and its count not used yet.
func (s *Server) digestValid(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "Digest ") {
		return false
	}
	p := parseParams(h[7:])
	if p["username"] != s.opts.PublicKey || p["realm"] != Realm || p["qop"] != "auth" || p["uri"] != r.URL.RequestURI() {
		return false
	}
	if alg := p["algorithm"]; alg != "" && !strings.EqualFold(alg, "MD5") {
		return false
	}
	last, issued := s.nonces[p["nonce"]]
	nc, err := strconv.ParseUint(p["nc"], 16, 32)
	if !issued || err != nil || len(p["nc"]) != 8 || nc <= last || p["cnonce"] == "" {
		return false
	}
	ha1 := md5Hex(s.opts.PublicKey + ":" + Realm + ":" + s.opts.PrivateKey)
	ha2 := md5Hex(r.Method + ":" + p["uri"])
	want := md5Hex(ha1 + ":" + p["nonce"] + ":" + p["nc"] + ":" + p["cnonce"] + ":auth:" + ha2)
	if subtle.ConstantTimeCompare([]byte(want), []byte(p["response"])) != 1 {
		return false
	}
	s.nonces[p["nonce"]] = nc
	return true
}

// parseParams reads an auth header's comma-separated key=value and
// key="quoted value" pairs.
func parseParams(s string) map[string]string {
	out := map[string]string{}
	for s = strings.TrimLeft(s, " ,"); s != ""; s = strings.TrimLeft(s, " ,") {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			break
		}
		key, rest := strings.ToLower(strings.TrimSpace(s[:eq])), strings.TrimLeft(s[eq+1:], " ")
		var val strings.Builder
		if strings.HasPrefix(rest, `"`) {
			i := 1
			for ; i < len(rest) && rest[i] != '"'; i++ {
				if rest[i] == '\\' && i+1 < len(rest) {
					i++
				}
				val.WriteByte(rest[i])
			}
			s = rest[min(i+1, len(rest)):]
		} else {
			end := strings.IndexByte(rest, ',')
			if end < 0 {
				end = len(rest)
			}
			val.WriteString(strings.TrimSpace(rest[:end]))
			s = rest[end:]
		}
		out[key] = val.String()
	}
	return out
}

// token is the service accounts' token endpoint.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	oauthError := func(status int, code, desc string) {
		writeJSON(w, status, "application/json", map[string]string{"error": code, "error_description": desc})
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		oauthError(http.StatusBadRequest, "invalid_request", "want a form POST")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok || s.opts.ClientID == "" || id != s.opts.ClientID || secret != s.opts.ClientSecret {
		oauthError(http.StatusUnauthorized, "invalid_client", "Invalid client credentials.")
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		oauthError(http.StatusBadRequest, "unsupported_grant_type", "want grant_type=client_credentials")
		return
	}
	tok := "mdb_sa_at_" + randomHex(24)
	s.tokens[tok] = time.Now().Add(s.opts.TokenLifetime)
	s.issued++
	writeJSON(w, http.StatusOK, "application/vnd.atlas.2023-01-01+json;charset=utf-8", map[string]any{
		"access_token": tok, "token_type": "Bearer", "expires_in": int(s.opts.TokenLifetime / time.Second),
	})
}

// snapshots answers one page of the listing.
func (s *Server) snapshots(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	per, page := 100, 1
	if v := q.Get("itemsPerPage"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			atlasError(w, http.StatusBadRequest, "INVALID_QUERY_PARAMETER", "itemsPerPage must be between 1 and 500.")
			return
		}
		per = n
	}
	if v := q.Get("pageNum"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			atlasError(w, http.StatusBadRequest, "INVALID_QUERY_PARAMETER", "pageNum must be at least 1.")
			return
		}
		page = n
	}
	all := s.opts.Snapshots
	from, to := min((page-1)*per, len(all)), min(page*per, len(all))
	results := make([]map[string]any, 0, to-from)
	for i, sn := range all[from:to] {
		results = append(results, s.snapshotJSON(from+i, sn, r))
	}
	writeJSON(w, http.StatusOK, SnapshotsVersion, map[string]any{
		"links":      []map[string]string{{"href": s.URL + r.URL.RequestURI(), "rel": "self"}},
		"results":    results,
		"totalCount": len(all),
	})
}

// snapshotJSON is a snapshot as the API documents DiskBackupReplicaSet.
func (s *Server) snapshotJSON(i int, sn Snapshot, r *http.Request) map[string]any {
	id := fmt.Sprintf("%024x", i+1)
	m := map[string]any{
		"cloudProvider":    "AWS",
		"copyRegions":      append([]string{}, sn.CopyRegions...),
		"createdAt":        sn.CreatedAt.UTC().Format(time.RFC3339),
		"frequencyType":    "hourly",
		"id":               id,
		"links":            []map[string]string{{"href": s.URL + r.URL.Path + "/" + id, "rel": "self"}},
		"mongodVersion":    "8.0.4",
		"policyItems":      []string{fmt.Sprintf("%024x", 0xbeef)},
		"replicaSetName":   s.opts.Cluster + "-shard-0",
		"snapshotType":     sn.SnapshotType,
		"status":           sn.Status,
		"storageSizeBytes": sn.StorageSizeBytes,
		"type":             "replicaSet",
	}
	if !sn.ExpiresAt.IsZero() {
		m["expiresAt"] = sn.ExpiresAt.UTC().Format(time.RFC3339)
	}
	if sn.SnapshotType == "onDemand" {
		m["description"] = "taken by hand"
	}
	return m
}

// schedule answers the backup schedule (DiskBackupSnapshotSchedule20240805).
func (s *Server) schedule(w http.ResponseWriter, r *http.Request) {
	copies := []map[string]any{}
	for _, c := range s.opts.CopySettings {
		copies = append(copies, map[string]any{
			"cloudProvider": "AWS", "frequencies": c.Frequencies, "regionName": c.RegionName,
			"shouldCopyOplogs": false, "zoneId": fmt.Sprintf("%024x", 0x20e),
		})
	}
	writeJSON(w, http.StatusOK, ScheduleVersion, map[string]any{
		"autoExportEnabled":      false,
		"clusterId":              fmt.Sprintf("%024x", 0xc1),
		"clusterName":            s.opts.Cluster,
		"copySettings":           copies,
		"extraRetentionSettings": []any{},
		"links":                  []map[string]string{{"href": s.URL + r.URL.Path, "rel": "self"}},
		"nextSnapshot":           time.Now().Add(time.Hour).Truncate(time.Hour).UTC().Format(time.RFC3339),
		"policies": []map[string]any{{
			"id": fmt.Sprintf("%024x", 0x9011c7),
			"policyItems": []map[string]any{
				{"frequencyInterval": 1, "frequencyType": "hourly", "id": fmt.Sprintf("%024x", 0xbeef), "retentionUnit": "days", "retentionValue": 30},
				{"frequencyInterval": 1, "frequencyType": "daily", "id": fmt.Sprintf("%024x", 0xda1), "retentionUnit": "days", "retentionValue": 90},
			},
		}},
		"referenceHourOfDay":                2,
		"referenceMinuteOfHour":             0,
		"restoreWindowDays":                 7,
		"useOrgAndGroupNamesInExportPrefix": false,
	})
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
