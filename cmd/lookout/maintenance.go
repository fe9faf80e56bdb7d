package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lookout-dev/lookout/alerting/maintenance"
)

const maintenanceUsage = `Usage:
  lookout maintenance start [FLAGS] --duration 1h [--message TEXT] [--author NAME] MATCHER...
  lookout maintenance ls [FLAGS]
  lookout maintenance end [FLAGS] ID

start opens a one-off maintenance window now: the alerts its matchers
select are muted as a silence mutes them, and the probes they select count
the time as maintenance in their uptime. MATCHER is like probe="api-health"
or probe=~"api-.*". end ends a one-off (ID from start or ls); a window of
the config's maintenance section ends when the config says.
` + clientFlagsUsage + `start and end need the admin role, ls read.
`

func cmdMaintenance(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, maintenanceUsage)
		return 2
	}
	fs := flag.NewFlagSet("maintenance "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", "http://127.0.0.1:9477", "the daemon's address")
	dur := fs.String("duration", "", "how long the window lasts, like 1h (start)")
	author := fs.String("author", os.Getenv("USER"), "who opens the window (start)")
	message := fs.String("message", "", "what the work is (start)")
	flags := addClientFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	client, err := flags.client(10*time.Second, os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "lookout maintenance:", err)
		return 2
	}
	api := strings.TrimSuffix(*base, "/") + "/api/v1/maintenance"
	switch args[0] {
	case "start":
		switch {
		case fs.NArg() == 0:
			fmt.Fprint(stderr, "lookout maintenance start: want at least one matcher\n\n"+maintenanceUsage)
			return 2
		case *dur == "":
			fmt.Fprint(stderr, "lookout maintenance start: want --duration, how long the window lasts, like 1h\n\n"+maintenanceUsage)
			return 2
		}
		body, _ := json.Marshal(maintenance.Request{Matchers: fs.Args(), Duration: *dur, Message: *message, CreatedBy: *author})
		var w maintenance.Window
		if err := call(client, http.MethodPost, api, body, &w); err != nil {
			fmt.Fprintln(stderr, "lookout maintenance start:", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s until %s\n", w.ID, w.End.Local().Format(time.RFC3339))
		return 0
	case "ls":
		var out maintenance.Listing
		if err := call(client, http.MethodGet, api, nil, &out); err != nil {
			fmt.Fprintln(stderr, "lookout maintenance ls:", err)
			return 1
		}
		writeMaintenance(stdout, out)
		return 0
	case "end":
		if fs.NArg() != 1 {
			fmt.Fprint(stderr, "lookout maintenance end: want one window ID\n\n"+maintenanceUsage)
			return 2
		}
		if err := call(client, http.MethodDelete, api+"/"+url.PathEscape(fs.Arg(0)), nil, nil); err != nil {
			fmt.Fprintln(stderr, "lookout maintenance end:", err)
			return 1
		}
		fmt.Fprintln(stdout, "ended", fs.Arg(0))
		return 0
	}
	fmt.Fprintf(stderr, "lookout maintenance: unknown subcommand %q\n\n%s", args[0], maintenanceUsage)
	return 2
}

// writeMaintenance prints the windows as a table: each configured one
// with its current window, else its next (BY "config"), then the
// one-offs, newest first.
func writeMaintenance(w io.Writer, l maintenance.Listing) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSTARTS\tENDS\tBY\tMATCHERS\tMESSAGE")
	at := func(t time.Time) string { return t.Local().Format(time.RFC3339) }
	for _, p := range l.Configured {
		state, starts, ends := maintenance.StateEnded, "-", "-"
		span := p.Current
		if span != nil {
			state = maintenance.StateActive
		} else if span = p.Next; span != nil {
			state = maintenance.StateScheduled
		}
		if span != nil {
			starts, ends = at(span.Start), at(span.End)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\tconfig\t%s\t%s\n", p.ID, state, starts, ends, strings.Join(p.Matchers, ","), p.Message)
	}
	for _, o := range l.OneOffs {
		by := o.CreatedBy
		if by == "" {
			by = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", o.ID, o.State, at(o.Start), at(o.End), by, strings.Join(o.Matchers, ","), o.Message)
	}
	tw.Flush()
}
