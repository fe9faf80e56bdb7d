package browserprobe

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
)

// The evidence a down run leaves, one folder per run:
// ARTIFACTS/PROBE/RUN/ with these files.
const (
	ScreenshotFile = "screenshot.png"
	ConsoleFile    = "console.json"
	RequestsFile   = "requests.json"
	// RunFile is the run's time, probe and reason.
	RunFile = "run.json"
)

// artifactTypes are the files of a run folder and their content types:
// nothing else is listed or served.
var artifactTypes = map[string]string{
	RunFile:        "application/json",
	ScreenshotFile: "image/png",
	ConsoleFile:    "application/json",
	RequestsFile:   "application/json",
}

// How much evidence one run keeps.
const (
	keptConsole  = 100 // uncaught errors and console.error lines
	keptRequests = 500
	// shotSide bounds the screenshot's larger side, in image pixels;
	// maxShotBytes drops a screenshot larger than that all the same.
	shotSide     = 1600
	maxShotBytes = 4 << 20
	// runLayout names a run's folder: its time in UTC, sortable as text.
	runLayout = "20060102T150405.000Z"
)

// ArtifactStore keeps the evidence of the browser runs that ended down
// (a screenshot, the console lines and the request list, secrets as ***)
// under browser.artifacts.path, a folder per probe and per run, shared by
// all browser probes. It keeps at most keep_per_probe runs per probe and
// max_bytes over all probes, removing the oldest first; the bounds count
// what is on disk, so they hold across restarts. A run's folder is written
// under a temporary name and renamed when complete: it is listed whole or
// not at all. Failing to keep evidence is logged; it never changes a run.
type ArtifactStore struct {
	log *slog.Logger
	mu  sync.Mutex // serialises writing and pruning
	cfg config.Artifacts
}

// NewArtifactStore returns a store that keeps nothing until Configure.
func NewArtifactStore(log *slog.Logger) *ArtifactStore {
	return &ArtifactStore{log: log}
}

// Configure applies browser.artifacts, at start and at each reload, and
// applies its bounds to what is kept already.
func (s *ArtifactStore) Configure(a config.Artifacts) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg = a
	if a.Path != "" {
		s.prune()
	}
}

// ArtifactRun is one kept run, as the API lists it.
type ArtifactRun struct {
	// Run names the run's folder, as the file's URL does.
	Run    string         `json:"run"`
	Time   time.Time      `json:"time"`
	Reason string         `json:"reason"`
	Files  []ArtifactFile `json:"files"`
}

// ArtifactFile is one file of a kept run.
type ArtifactFile struct {
	Name        string `json:"name"`
	Bytes       int64  `json:"bytes"`
	ContentType string `json:"content_type"`
}

// runMeta is run.json.
type runMeta struct {
	Probe  string    `json:"probe"`
	Time   time.Time `json:"time"`
	Reason string    `json:"reason"`
	URL    string    `json:"url"`
}

// Runs lists the kept runs of a probe, the newest first; none when it
// has none.
func (s *ArtifactStore) Runs(probe string) ([]ArtifactRun, error) {
	s.mu.Lock()
	root := s.cfg.Path
	s.mu.Unlock()
	if root == "" {
		return nil, nil
	}
	dir := filepath.Join(root, folderName(probe))
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("artifacts: list %s: %w", probe, err)
	}
	var runs []ArtifactRun
	for _, e := range slices.Backward(entries) { // ReadDir sorts by name: by time
		t, ok := runTime(e.Name())
		if !ok || !e.IsDir() {
			continue
		}
		run := ArtifactRun{Run: e.Name(), Time: t}
		if b, err := os.ReadFile(filepath.Join(dir, e.Name(), RunFile)); err == nil {
			var m runMeta
			if json.Unmarshal(b, &m) == nil {
				run.Reason = m.Reason
			}
		}
		run.Files = runFiles(filepath.Join(dir, e.Name()))
		runs = append(runs, run)
	}
	return runs, nil
}

// runFiles are the known files of a run folder, in name order.
func runFiles(dir string) []ArtifactFile {
	var files []ArtifactFile
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range artifactTypes {
			if !yield(n) {
				return
			}
		}
	}) {
		if info, err := os.Lstat(filepath.Join(dir, name)); err == nil && info.Mode().IsRegular() {
			files = append(files, ArtifactFile{Name: name, Bytes: info.Size(), ContentType: artifactTypes[name]})
		}
	}
	return files
}

// Open opens one file of a kept run: only a run folder's name and one of
// the files a run has, anything else is fs.ErrNotExist. Close it.
func (s *ArtifactStore) Open(probe, run, file string) (*os.File, ArtifactFile, error) {
	s.mu.Lock()
	root := s.cfg.Path
	s.mu.Unlock()
	ctype, known := artifactTypes[file]
	if _, ok := runTime(run); !ok || !known || root == "" {
		return nil, ArtifactFile{}, fs.ErrNotExist
	}
	f, err := os.OpenInRoot(root, filepath.Join(folderName(probe), run, file))
	if err != nil {
		return nil, ArtifactFile{}, err
	}
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		f.Close()
		return nil, ArtifactFile{}, fs.ErrNotExist
	}
	return f, ArtifactFile{Name: file, Bytes: info.Size(), ContentType: ctype}, nil
}

// Newest is the newest kept run of probe that has file (ScreenshotFile,
// …), "" when none has it: the run a page about the probe shows.
func (s *ArtifactStore) Newest(probe, file string) string {
	s.mu.Lock()
	root := s.cfg.Path
	s.mu.Unlock()
	if _, known := artifactTypes[file]; !known || root == "" {
		return ""
	}
	dir := filepath.Join(root, folderName(probe))
	entries, _ := os.ReadDir(dir) // none: nothing kept yet
	for _, e := range slices.Backward(entries) {
		if _, ok := runTime(e.Name()); !ok || !e.IsDir() {
			continue
		}
		if info, err := os.Lstat(filepath.Join(dir, e.Name(), file)); err == nil && info.Mode().IsRegular() {
			return e.Name()
		}
	}
	return ""
}

// Screenshot reads the screenshot of a kept run (a PNG of at most
// maxShotBytes; a larger file is refused), as Open finds it.
func (s *ArtifactStore) Screenshot(probe, run string) ([]byte, error) {
	f, info, err := s.Open(probe, run, ScreenshotFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if info.Bytes > maxShotBytes {
		return nil, fmt.Errorf("artifacts: the screenshot of %s's run %s is %d bytes, over the %d a run keeps", probe, run, info.Bytes, maxShotBytes)
	}
	return io.ReadAll(io.LimitReader(f, maxShotBytes))
}

// runTime is the time a run folder's name says, or false when the name
// is not one.
func runTime(name string) (time.Time, bool) {
	if len(name) != len(runLayout) {
		return time.Time{}, false
	}
	t, err := time.Parse(runLayout, name)
	return t, err == nil && t.Format(runLayout) == name
}

// folderName is a probe's name as a folder's: letters, digits, - and _
// as they are, every other byte as %XX, so that no name is a path, hidden,
// or the same folder as another name.
func folderName(probe string) string {
	var b strings.Builder
	for i := range len(probe) {
		c := probe[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// evidence is what a down run leaves.
type evidence struct {
	probe string
	meta  runMeta
	files map[string][]byte
}

// save writes a run's folder, then applies the bounds. Its errors are
// logged by the caller.
func (s *ArtifactStore) save(ev *evidence) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Path == "" || s.cfg.KeepPerProbe <= 0 {
		return nil
	}
	if size(ev.files) > int64(s.cfg.MaxBytes) {
		delete(ev.files, ScreenshotFile)
		if size(ev.files) > int64(s.cfg.MaxBytes) {
			return fmt.Errorf("artifacts: the run's evidence (%d bytes) is over browser.artifacts.max_bytes (%d)", size(ev.files), s.cfg.MaxBytes)
		}
		s.log.Warn("browser evidence kept without its screenshot: it would be over browser.artifacts.max_bytes", "probe", ev.probe)
	}
	dir := filepath.Join(s.cfg.Path, folderName(ev.probe))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("artifacts: create folder: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, ".tmp-") // 0700
	if err != nil {
		return fmt.Errorf("artifacts: create folder: %w", err)
	}
	if err := writeFiles(tmp, ev.files); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, ev.meta.Time.Format(runLayout))); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("artifacts: rename the run's folder: %w", err)
	}
	s.prune()
	return nil
}

func writeFiles(dir string, files map[string][]byte) error {
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return fmt.Errorf("artifacts: write %s: %w", name, err)
		}
	}
	return nil
}

func size(files map[string][]byte) int64 {
	var n int64
	for _, b := range files {
		n += int64(len(b))
	}
	return n
}

// keptRun is a run folder on disk, for pruning.
type keptRun struct {
	dir, name string
	bytes     int64
}

// prune removes the oldest runs beyond keep_per_probe of each probe, then
// the oldest of all while they are over max_bytes, and what a write left
// half done; s.mu is held.
func (s *ArtifactStore) prune() {
	probeDirs, err := os.ReadDir(s.cfg.Path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("browser evidence: cannot read its folder", "path", s.cfg.Path, "err", err)
		}
		return
	}
	var all []keptRun
	var total int64
	for _, pd := range probeDirs {
		if !pd.IsDir() || strings.HasPrefix(pd.Name(), ".") {
			continue
		}
		dir := filepath.Join(s.cfg.Path, pd.Name())
		entries, err := os.ReadDir(dir)
		if err != nil {
			s.log.Warn("browser evidence: cannot read a probe's folder", "path", dir, "err", err)
			continue
		}
		var runs []keptRun
		for _, e := range entries {
			switch _, ok := runTime(e.Name()); {
			case strings.HasPrefix(e.Name(), ".tmp-"):
				s.remove(filepath.Join(dir, e.Name()))
			case ok && e.IsDir():
				r := keptRun{dir: dir, name: e.Name()}
				for _, f := range runFiles(filepath.Join(dir, e.Name())) {
					r.bytes += f.Bytes
				}
				runs = append(runs, r)
			}
		}
		if extra := len(runs) - s.cfg.KeepPerProbe; extra > 0 { // sorted by name: the oldest first
			for _, r := range runs[:extra] {
				s.remove(filepath.Join(r.dir, r.name))
			}
			runs = runs[extra:]
		}
		for _, r := range runs {
			total += r.bytes
		}
		all = append(all, runs...)
		if len(runs) == 0 {
			_ = os.Remove(dir) // only when empty
		}
	}
	slices.SortFunc(all, func(a, b keptRun) int { return cmp.Or(strings.Compare(a.name, b.name), strings.Compare(a.dir, b.dir)) })
	for _, r := range all {
		if total <= int64(s.cfg.MaxBytes) {
			break
		}
		s.remove(filepath.Join(r.dir, r.name))
		total -= r.bytes
		_ = os.Remove(r.dir) // only when empty
	}
}

func (s *ArtifactStore) remove(path string) {
	if err := os.RemoveAll(path); err != nil {
		s.log.Warn("browser evidence: cannot remove an old run", "path", path, "err", err)
	}
}

// ConsoleLine is an entry of console.json: an uncaught error or a
// console.error call.
type ConsoleLine struct {
	Kind string `json:"kind"` // "uncaught" or "console.error"
	Text string `json:"text"`
	// At is the time since the run started.
	At float64 `json:"at_seconds"`
}

// RequestEntry is an entry of requests.json: a request of the run, each
// hop of a redirect on its own.
type RequestEntry struct {
	URL    string `json:"url"`
	Method string `json:"method"`
	Type   string `json:"type,omitempty"` // Document, Script, Image, Fetch, …
	Status int    `json:"status,omitempty"`
	// Bytes are the encoded bytes received, headers included.
	Bytes   int64  `json:"bytes"`
	Failure string `json:"failure,omitempty"`
}

// recorder keeps, for the evidence of a run, its console lines and its
// requests, each bounded. Like pageEvents, on runs in chromedp's loop and
// only updates memory under a lock.
type recorder struct {
	start time.Time

	mu       sync.Mutex
	console  []ConsoleLine
	requests []RequestEntry
	byID     map[network.RequestID]int
}

func newRecorder() *recorder {
	return &recorder{start: time.Now(), byID: map[network.RequestID]int{}}
}

func (r *recorder) on(ev any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		r.line("uncaught", exceptionText(ev.ExceptionDetails))
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError {
			r.line("console.error", consoleText(ev.Args))
		}
	case *network.EventRequestWillBeSent:
		if i, ok := r.byID[ev.RequestID]; ok && ev.RedirectResponse != nil {
			r.requests[i].Status = int(ev.RedirectResponse.Status)
		}
		delete(r.byID, ev.RequestID)
		if len(r.requests) < keptRequests {
			r.byID[ev.RequestID] = len(r.requests)
			r.requests = append(r.requests, RequestEntry{URL: ev.Request.URL, Method: ev.Request.Method, Type: string(ev.Type)})
		}
	case *network.EventResponseReceived:
		if i, ok := r.byID[ev.RequestID]; ok {
			r.requests[i].Status = int(ev.Response.Status)
		}
	case *network.EventLoadingFinished:
		if i, ok := r.byID[ev.RequestID]; ok {
			r.requests[i].Bytes = int64(ev.EncodedDataLength)
		}
	case *network.EventLoadingFailed:
		if i, ok := r.byID[ev.RequestID]; ok {
			text := ev.ErrorText
			switch {
			case ev.BlockedReason != "":
				text = "blocked: " + string(ev.BlockedReason)
			case ev.Canceled:
				text = "canceled"
			}
			r.requests[i].Failure = text
		}
	}
}

func (r *recorder) line(kind, text string) {
	if len(r.console) < keptConsole {
		r.console = append(r.console, ConsoleLine{Kind: kind, Text: text, At: time.Since(r.start).Seconds()})
	}
}

// redacted are the console lines and requests with the secrets as ***.
func (r *recorder) redacted(red redactor) ([]ConsoleLine, []RequestEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	console := slices.Clone(r.console)
	for i := range console {
		console[i].Text = red.String(console[i].Text)
	}
	requests := slices.Clone(r.requests)
	for i := range requests {
		requests[i].URL = red.String(requests[i].URL)
		requests[i].Failure = red.String(requests[i].Failure)
	}
	return console, requests
}

// screenshot captures the tab's viewport as PNG, scaled down so that its
// larger side is at most shotSide pixels, within the run's time; nil when
// it cannot (the browser went away, the run's time is up) or it is over
// maxShotBytes.
func (r *run) screenshot() []byte {
	if r.t.inst.gone() || r.browserEnded() || r.t.ctx.Err() != nil {
		return nil
	}
	var shot []byte
	err := chromedp.Do(r.t.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		m, err := cdp.Call(ctx, t, page.GetLayoutMetrics, cdp.Empty{})
		if err != nil {
			return err
		}
		vv := m.CSSVisualViewport
		if vv == nil || vv.ClientWidth <= 0 || vv.ClientHeight <= 0 {
			return errors.New("no viewport")
		}
		// The capture is in the device's pixels.
		scale := min(1, shotSide/(max(vv.ClientWidth, vv.ClientHeight)*r.device.scale))
		res, err := cdp.Call(ctx, t, page.CaptureScreenshot, page.CaptureScreenshotParams{
			Format: page.CaptureScreenshotFormatPng,
			Clip:   &page.Viewport{X: vv.PageX, Y: vv.PageY, Width: vv.ClientWidth, Height: vv.ClientHeight, Scale: scale},
		})
		shot = res.Data
		return err
	}))
	switch {
	case err != nil:
		r.p.browser.log.Debug("browser evidence without a screenshot", "probe", r.p.name, "err", firstLine(err.Error()))
		return nil
	case len(shot) > maxShotBytes:
		r.p.browser.log.Warn("browser evidence without a screenshot: it is too large", "probe", r.p.name, "bytes", len(shot))
		return nil
	}
	return shot
}

// keepEvidence writes the evidence of a run that ended down: its
// screenshot (taken before the tab closed), console lines and requests,
// with the secrets as ***. A failure is logged.
func (p *Prober) keepEvidence(res probes.Result, r *run) {
	store := p.browser.artifacts
	console, requests := r.record.redacted(p.redact)
	ev := &evidence{probe: p.name, files: map[string][]byte{}}
	ev.meta = runMeta{Probe: p.name, Time: res.Start.UTC(), Reason: res.Reason, URL: p.redact.String(p.cfg.URL.Redacted())}
	for name, v := range map[string]any{RunFile: ev.meta, ConsoleFile: orEmpty(console), RequestsFile: orEmpty(requests)} {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			store.log.Warn("browser evidence not kept", "probe", p.name, "err", err)
			return
		}
		ev.files[name] = b
	}
	if r.shot != nil {
		ev.files[ScreenshotFile] = r.shot
	}
	if err := store.save(ev); err != nil {
		store.log.Warn("browser evidence not kept", "probe", p.name, "err", err)
	}
}

// orEmpty writes a nil list as [].
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
