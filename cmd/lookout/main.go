// Command lookout is the Lookout daemon and its command-line tools.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/lookout-dev/lookout/alerting/rules/ruletest"
	"github.com/lookout-dev/lookout/cmd/lookout/internal/daemon"
	"github.com/lookout-dev/lookout/cmd/lookout/internal/kinds"
	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/browserprobe"
	"github.com/lookout-dev/lookout/probes/heartbeat"
	"github.com/lookout-dev/lookout/probes/httpprobe"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

const usage = `Lookout watches a web product's APIs and tells on-call before users do.

Usage:
  lookout run [--config lookout.yml] [--log.level info] [--log.format text]
  lookout check [lookout.yml]
  lookout probe NAME [--config lookout.yml] [--fail-on-degraded]
  lookout test rules FILE...
  lookout rules export [-force] DIR
  lookout import blackbox --config blackbox.yml --prometheus prometheus.yml > lookout.yml
  lookout import gatus config.yaml|CONFIG_FOLDER > lookout.yml
  lookout silence add|ls|expire [--url http://127.0.0.1:9477] [--tls.* ...] [--token-file FILE] ...
  lookout maintenance start|ls|end [--url http://127.0.0.1:9477] [--tls.* ...] [--token-file FILE] ...
  lookout healthcheck [--url http://127.0.0.1:9477/healthz | --config lookout.yml] [--tls.* ...]
  lookout version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "probe":
		return cmdProbe(args[1:], stdout, stderr)
	case "healthcheck":
		return cmdHealthcheck(args[1:], stderr)
	case "test":
		return cmdTest(args[1:], stdout, stderr)
	case "silence":
		return cmdSilence(args[1:], stdout, stderr)
	case "maintenance":
		return cmdMaintenance(args[1:], stdout, stderr)
	case "rules":
		return cmdRules(args[1:], stdout, stderr)
	case "import":
		return cmdImport(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "lookout", buildVersion())
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "lookout: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func cmdRun(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFile := fs.String("config", "lookout.yml", "config file")
	level := fs.String("log.level", "info", "log level: debug, info, warn, error")
	format := fs.String("log.format", "text", "log format: text or json")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, err := newLogger(stderr, *level, *format)
	if err != nil {
		fmt.Fprintln(stderr, "lookout:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{})
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	}()
	transports := httpprobe.NewTransports()
	defer transports.CloseIdle()
	beats := heartbeat.NewStore()
	browser := browserprobe.NewBrowser(log)
	err = daemon.Run(ctx, daemon.Options{ConfigFile: *cfgFile, Logger: log, Version: buildVersion(), Reload: reload,
		Kinds: kinds.All(transports, beats, browser), Heartbeats: beats, Browser: browser})
	if err != nil {
		var cerrs config.Errors
		if errors.As(err, &cerrs) {
			fmt.Fprintln(stderr, err)
		} else {
			log.Error("lookout failed", "err", err)
		}
		return 1
	}
	return 0
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log.level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log.format %q: want text or json", format)
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	file := "lookout.yml"
	if len(args) > 0 {
		file = args[0]
	}
	cfg, err := config.Load(file)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	groups, err := daemon.LoadRules(file, cfg, nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	for _, w := range cfg.Server.Warnings() {
		fmt.Fprintln(stderr, w)
	}
	n := 0
	for _, g := range groups {
		n += len(g.Rules)
	}
	fmt.Fprintf(stdout, "%s: OK, %d probes, %d rules\n", file, len(cfg.Probes), n)
	return 0
}

func cmdProbe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFile := fs.String("config", "lookout.yml", "config file")
	failDegraded := fs.Bool("fail-on-degraded", false, "exit non-zero when the probe is degraded, too")
	name, err := parseWithName(fs, args)
	if err != nil {
		fmt.Fprintln(stderr, "lookout probe:", err)
		return 2
	}
	cfg, err := config.Load(*cfgFile)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	for _, pc := range cfg.Probes {
		if pc.Name != name {
			continue
		}
		transports := httpprobe.NewTransports()
		defer transports.CloseIdle()
		browser := browserprobe.NewBrowser(slog.New(slog.DiscardHandler))
		browser.Configure(cfg.Browser)
		defer browser.Close()
		// A heartbeat is judged without the daemon's check-ins (its report says so).
		r, err := kinds.All(transports, heartbeat.NewStore(), browser).NewRunner(pc, slog.New(slog.DiscardHandler))
		if err != nil {
			fmt.Fprintln(stderr, "lookout probe:", err)
			return 2
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		res := r.Probe(ctx)
		writeReport(stdout, r.Kind(), pc, res, time.Now())
		if res.State == probes.Down || (*failDegraded && res.State == probes.Degraded) {
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "lookout probe: no probe named %q in %s\n", name, *cfgFile)
	return 2
}

// parseWithName parses flags written before or after the one positional
// argument, a probe name.
func parseWithName(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() == 0 {
		return "", errors.New("want a probe name: lookout probe NAME --config lookout.yml")
	}
	name := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("unexpected arguments %q; want one probe name", fs.Args())
	}
	return name, nil
}

// cmdTest runs rule unit tests in promtool's format: exit 1 when any
// fails, 2 on usage errors.
func cmdTest(args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 || args[0] != "rules" {
		fmt.Fprintln(stderr, "lookout test: want lookout test rules FILE...")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if !ruletest.Run(ctx, stdout, args[1:]...).OK() {
		return 1
	}
	return 0
}
