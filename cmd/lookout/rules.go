package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/lookout-dev/lookout/alerting/rules"
)

// cmdRules is `lookout rules export DIR`: it writes the built-in rule
// files into DIR, for a Prometheus that evaluates them itself. Files
// already there are left alone unless -force.
func cmdRules(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "export" {
		fmt.Fprintln(stderr, "usage: lookout rules export [-force] DIR")
		return 2
	}
	fset := flag.NewFlagSet("rules export", flag.ContinueOnError)
	fset.SetOutput(stderr)
	force := fset.Bool("force", false, "replace rule files already in DIR")
	if err := fset.Parse(args[1:]); err != nil {
		return 2
	}
	if fset.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: lookout rules export [-force] DIR")
		return 2
	}
	dir := fset.Arg(0)
	files, err := rules.BuiltinFiles()
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(stderr, "lookout: rules export:", err)
		return 1
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		path := filepath.Join(dir, name)
		flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
		if *force {
			flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		}
		f, err := os.OpenFile(path, flags, 0o644)
		if errors.Is(err, fs.ErrExist) {
			fmt.Fprintf(stderr, "lookout: rules export: %s exists; left as it is (-force replaces it)\n", path)
			return 1
		}
		if err == nil {
			_, err = f.Write(files[name])
			err = errors.Join(err, f.Close())
		}
		if err != nil {
			fmt.Fprintln(stderr, "lookout: rules export:", err)
			return 1
		}
		fmt.Fprintln(stdout, path)
	}
	return 0
}
