package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/lookout-dev/lookout/config"
)

// cmdHealthcheck asks a running daemon's /healthz; the container image
// uses it as its HEALTHCHECK, having no shell or curl. /healthz takes no
// credentials. With --config, the URL and TLS come from the daemon's own
// config: its server.listen, and with TLS in its web config, the
// certificate it serves is the one trusted (so a certificate for a public
// name serves a check of 127.0.0.1). Otherwise a daemon with TLS or mTLS
// needs the --tls flags.
func cmdHealthcheck(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:9477/healthz", "health endpoint")
	configFile := fs.String("config", "", "the daemon's config file: check the admin listener it sets (instead of --url)")
	flags := addClientFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(code int, err error) int {
		fmt.Fprintln(stderr, "lookout healthcheck:", err)
		return code
	}
	if *configFile != "" {
		urlSet := false
		fs.Visit(func(f *flag.Flag) { urlSet = urlSet || f.Name == "url" })
		if urlSet {
			return fail(2, errors.New("--url and --config are both set; want one of them"))
		}
		var err error
		if *url, flags.pinned, err = healthTarget(*configFile); err != nil {
			return fail(2, err)
		}
	}
	client, err := flags.client(5*time.Second, os.Getenv)
	if err != nil {
		return fail(2, err)
	}
	req, err := http.NewRequest(http.MethodGet, *url, nil)
	if err != nil {
		return fail(2, err)
	}
	resp, err := client.do(req)
	if err != nil {
		return fail(1, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(1, errors.New(resp.Status))
	}
	return 0
}

// healthTarget reads a daemon's config for the URL of its /healthz (an
// unspecified listen address is checked on loopback) and, when its web
// config has TLS, the certificate (DER) it serves.
func healthTarget(path string) (string, []byte, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return "", nil, err
	}
	s := cfg.Server
	host, port, err := net.SplitHostPort(s.Listen)
	if err != nil {
		return "", nil, fmt.Errorf("%s: server.listen: %w", path, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	target := "http://" + net.JoinHostPort(host, port) + "/healthz"
	if s.WebConfigFile == "" {
		return target, nil, nil
	}
	wc, err := config.LoadWebConfig(s.WebConfigFile)
	if err != nil {
		return "", nil, fmt.Errorf("server.web_config_file: %w", err)
	}
	if !wc.TLSConfig.IsEnabled() {
		return target, nil, nil
	}
	tc, err := web.ConfigToTLSConfig(&wc.TLSConfig)
	if err != nil {
		return "", nil, fmt.Errorf("server.web_config_file: %w", err)
	}
	cert, err := tc.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		return "", nil, fmt.Errorf("server.web_config_file: %w", err)
	}
	return "https://" + net.JoinHostPort(host, port) + "/healthz", cert.Certificate[0], nil
}

// pinTo trusts exactly the certificate served (DER), whatever its names:
// the check dials an address the certificate need not name.
func pinTo(cfg *tls.Config, served []byte) {
	cfg.InsecureSkipVerify = true // replaced by VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, served) {
			return errors.New("the daemon serves another certificate than its web config's cert_file")
		}
		return nil
	}
}
