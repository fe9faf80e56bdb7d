package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lookout-dev/lookout/alerting/silences"
)

const silenceUsage = `Usage:
  lookout silence add [FLAGS] [--duration 2h] [--author NAME] [--comment TEXT] MATCHER...
  lookout silence ls [FLAGS]
  lookout silence expire [FLAGS] ID

MATCHER is like alertname="ProbeDown", probe=~"api-.*" or env!="dev".
` + clientFlagsUsage + `add and expire need the admin role, ls read.
`

func cmdSilence(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, silenceUsage)
		return 2
	}
	fs := flag.NewFlagSet("silence "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", "http://127.0.0.1:9477", "the daemon's address")
	dur := fs.String("duration", "2h", "how long the silence lasts (add)")
	author := fs.String("author", os.Getenv("USER"), "who creates the silence (add)")
	comment := fs.String("comment", "", "why (add)")
	flags := addClientFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	client, err := flags.client(10*time.Second, os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "lookout silence:", err)
		return 2
	}
	api := strings.TrimSuffix(*base, "/") + "/api/v1/silences"
	switch args[0] {
	case "add":
		if fs.NArg() == 0 {
			fmt.Fprint(stderr, "lookout silence add: want at least one matcher\n\n"+silenceUsage)
			return 2
		}
		body, _ := json.Marshal(silences.JSON{Matchers: fs.Args(), Duration: *dur, CreatedBy: *author, Comment: *comment})
		var s silences.JSON
		if err := call(client, http.MethodPost, api, body, &s); err != nil {
			fmt.Fprintln(stderr, "lookout silence add:", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s until %s\n", s.ID, s.EndsAt.Local().Format(time.RFC3339))
		return 0
	case "ls":
		var out struct {
			Silences []silences.JSON `json:"silences"`
		}
		if err := call(client, http.MethodGet, api, nil, &out); err != nil {
			fmt.Fprintln(stderr, "lookout silence ls:", err)
			return 1
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tENDS\tBY\tMATCHERS\tCOMMENT")
		for _, s := range out.Silences {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.State, s.EndsAt.Local().Format(time.RFC3339), s.CreatedBy, strings.Join(s.Matchers, ","), s.Comment)
		}
		tw.Flush()
		return 0
	case "expire":
		if fs.NArg() != 1 {
			fmt.Fprint(stderr, "lookout silence expire: want one silence ID\n\n"+silenceUsage)
			return 2
		}
		if err := call(client, http.MethodDelete, api+"/"+fs.Arg(0), nil, nil); err != nil {
			fmt.Fprintln(stderr, "lookout silence expire:", err)
			return 1
		}
		fmt.Fprintln(stdout, "expired", fs.Arg(0))
		return 0
	}
	fmt.Fprintf(stderr, "lookout silence: unknown subcommand %q\n\n%s", args[0], silenceUsage)
	return 2
}

// call sends a request to the daemon's API, a body as JSON; a non-2xx
// answer is an error carrying the daemon's message.
func call(client *daemonClient, method, url string, body []byte, out any) error {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
