package browserprobe

import (
	"cmp"
	"net/url"
	"slices"
	"strings"
)

// redactor shows a probe's secrets as *** in everything a run tells: as
// written, and as a URL's query or path carries them (a form sent with GET
// puts a password in the next page's URL).
type redactor struct{ r *strings.Replacer }

func newRedactor(secrets []string) redactor {
	var forms []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		forms = append(forms, s, url.QueryEscape(s), url.PathEscape(s))
	}
	slices.SortFunc(forms, func(a, b string) int { return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b)) }) // longest first
	forms = slices.Compact(forms)
	if len(forms) == 0 {
		return redactor{}
	}
	pairs := make([]string, 0, 2*len(forms))
	for _, f := range forms {
		pairs = append(pairs, f, "***")
	}
	return redactor{strings.NewReplacer(pairs...)}
}

func (r redactor) String(s string) string {
	if r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

func (r redactor) all(ss []string) {
	for i := range ss {
		ss[i] = r.String(ss[i])
	}
}

// facts hides the secrets in f's texts.
func (r redactor) facts(f *Facts) {
	if r.r == nil {
		return
	}
	r.all(f.Errors)
	r.all(f.Console)
	r.all(f.CSP)
	for i := range f.Failed {
		f.Failed[i].URL = r.String(f.Failed[i].URL)
		f.Failed[i].Error = r.String(f.Failed[i].Error)
	}
}

// redactURL is a URL with its password hidden, for a reason.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "(an invalid URL)"
}
