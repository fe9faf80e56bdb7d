package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/lookout-dev/lookout/cmd/lookout/internal/importer"
	"github.com/lookout-dev/lookout/cmd/lookout/internal/importer/blackbox"
	"github.com/lookout-dev/lookout/cmd/lookout/internal/importer/gatus"
	"github.com/lookout-dev/lookout/config"
)

const importUsage = `usage:
  lookout import blackbox --config blackbox.yml --prometheus prometheus.yml > lookout.yml
  lookout import gatus config.yaml|CONFIG_FOLDER > lookout.yml
`

// Exit codes of `lookout import`.
const (
	importComplete = 0 // everything was carried over
	importPartial  = 1 // the config is written; the items on stderr were left behind
	importFailed   = 2 // usage error or unreadable input: nothing is written
)

// cmdImport is `lookout import TOOL ...`: it reads another tool's config
// and writes Lookout's to stdout, commented where a setting had no exact
// equivalent; stderr lists every item left behind and why, and the exit
// code tells whether anything was.
func cmdImport(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, importUsage)
		return importFailed
	}
	var (
		out  []byte
		left []importer.Left
		err  error
	)
	switch args[0] {
	case "blackbox":
		out, left, err = importBlackbox(args[1:], stderr)
	case "gatus":
		out, left, err = importGatus(args[1:])
	default:
		fmt.Fprintf(stderr, "lookout import: unknown tool %q\n%s", args[0], importUsage)
		return importFailed
	}
	if errors.Is(err, flag.ErrHelp) {
		return importFailed
	}
	if err != nil {
		fmt.Fprintln(stderr, "lookout import:", err)
		return importFailed
	}
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintln(stderr, "lookout import:", err)
		return importFailed
	}
	// The importers write what Lookout loads; an environment reference
	// whose variable is not set here is the one thing `lookout check` can
	// still find, so it is said, not counted as left behind.
	if _, err := config.Parse("the imported config", out, os.LookupEnv); err != nil {
		fmt.Fprintf(stderr, "lookout import: lookout check will say, until this is fixed:\n%v\n", err)
	}
	if len(left) == 0 {
		return importComplete
	}
	fmt.Fprintf(stderr, "lookout import: %d items left behind:\n", len(left))
	for _, l := range left {
		fmt.Fprintf(stderr, "  %s\n", l)
	}
	return importPartial
}

// importBlackbox reads blackbox_exporter's modules and the Prometheus
// scrape jobs that use them.
func importBlackbox(args []string, stderr io.Writer) ([]byte, []importer.Left, error) {
	fset := flag.NewFlagSet("import blackbox", flag.ContinueOnError)
	fset.SetOutput(stderr)
	bbFile := fset.String("config", "", "blackbox_exporter's config file (blackbox.yml)")
	promFile := fset.String("prometheus", "", "the Prometheus config whose scrape jobs use its modules (prometheus.yml)")
	if err := fset.Parse(args); err != nil {
		return nil, nil, flag.ErrHelp
	}
	if *bbFile == "" || *promFile == "" || fset.NArg() != 0 {
		return nil, nil, errors.New("import blackbox needs --config FILE and --prometheus FILE, and nothing else")
	}
	bb, err := os.ReadFile(*bbFile)
	if err != nil {
		return nil, nil, err
	}
	prom, err := os.ReadFile(*promFile)
	if err != nil {
		return nil, nil, err
	}
	out, left, err := blackbox.Convert(bb, prom, filepath.Dir(*promFile))
	if err != nil {
		return nil, nil, fmt.Errorf("%s, %s: %w", *bbFile, *promFile, err)
	}
	return out, left, nil
}

// importGatus reads a Gatus config file, or a folder of them.
func importGatus(args []string) ([]byte, []importer.Left, error) {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return nil, nil, errors.New("import gatus needs the Gatus config file or folder (GATUS_CONFIG_PATH), and nothing else: lookout import gatus config.yaml")
	}
	src, err := gatus.ReadPath(args[0])
	if err != nil {
		return nil, nil, err
	}
	out, left, err := gatus.Convert(src)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", args[0], err)
	}
	return out, left, nil
}
