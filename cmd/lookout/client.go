package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

// clientFlagsUsage is the help of the flags addClientFlags adds, for the
// commands that talk to a running daemon.
const clientFlagsUsage = `FLAGS:
  --url URL                    the daemon's admin address (default http://127.0.0.1:9477)
  --tls.ca-file FILE           CA of the daemon's certificate, for https:// URLs
  --tls.server-name NAME       name the certificate must have, when not the URL's host
  --tls.insecure-skip-verify   do not verify the daemon's certificate
  --tls.cert-file FILE, --tls.key-file FILE
                               client certificate, for a daemon that verifies one (mTLS)
  --token-file FILE            bearer token (default: $LOOKOUT_TOKEN)
  --username NAME --password-file FILE
                               basic-auth user of the daemon's web config
`

// clientFlags are how lookout silence and lookout healthcheck reach a
// daemon: TLS, and credentials read from files or the environment, never
// a flag's value (which ps and shell history show).
type clientFlags struct {
	caFile, certFile, keyFile, serverName string
	insecure                              bool
	tokenFile, username, passwordFile     string
	// pinned, if set, is the one certificate (DER) trusted when no
	// --tls.ca-file is given: see healthTarget.
	pinned []byte
}

// tokenEnv holds a bearer token for the CLI when --token-file is not given.
const tokenEnv = "LOOKOUT_TOKEN"

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	c := &clientFlags{}
	fs.StringVar(&c.caFile, "tls.ca-file", "", "PEM file of the CA that signed the daemon's certificate (default: the system's)")
	fs.StringVar(&c.certFile, "tls.cert-file", "", "client certificate (PEM), for a daemon that asks for one (mTLS)")
	fs.StringVar(&c.keyFile, "tls.key-file", "", "client certificate's key (PEM)")
	fs.StringVar(&c.serverName, "tls.server-name", "", "name to verify the daemon's certificate against (default: the URL's host)")
	fs.BoolVar(&c.insecure, "tls.insecure-skip-verify", false, "do not verify the daemon's certificate")
	fs.StringVar(&c.tokenFile, "token-file", "", "file holding a bearer token of api_tokens_file (default: $"+tokenEnv+")")
	fs.StringVar(&c.username, "username", "", "basic-auth user of the daemon's web config")
	fs.StringVar(&c.passwordFile, "password-file", "", "file holding --username's password")
	return c
}

// daemonClient sends requests to a daemon with the credentials of its
// flags.
type daemonClient struct {
	http *http.Client
	auth func(*http.Request) // nil: no credentials
}

// client builds the HTTP client and credentials the flags ask for; getenv
// reads LOOKOUT_TOKEN.
func (c *clientFlags) client(timeout time.Duration, getenv func(string) string) (*daemonClient, error) {
	tlsConfig, err := c.tls()
	if err != nil {
		return nil, err
	}
	auth, err := c.credentials(getenv)
	if err != nil {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	return &daemonClient{http: &http.Client{Timeout: timeout, Transport: transport}, auth: auth}, nil
}

func (c *clientFlags) tls() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.serverName, InsecureSkipVerify: c.insecure}
	if c.pinned != nil && c.caFile == "" && !c.insecure {
		pinTo(cfg, c.pinned)
	}
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return nil, fmt.Errorf("--tls.ca-file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls.ca-file: %s holds no PEM certificate", c.caFile)
		}
	}
	if (c.certFile == "") != (c.keyFile == "") {
		return nil, errors.New("--tls.cert-file and --tls.key-file go together")
	}
	if c.certFile != "" {
		cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls.cert-file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// credentials: --token-file, else --username with --password-file, else
// $LOOKOUT_TOKEN, else none.
func (c *clientFlags) credentials(getenv func(string) string) (func(*http.Request), error) {
	switch {
	case c.tokenFile != "" && c.username != "":
		return nil, errors.New("--token-file and --username are both set; want one of them")
	case c.tokenFile != "":
		token, err := readSecret(c.tokenFile, "--token-file")
		if err != nil {
			return nil, err
		}
		return bearerAuth(token), nil
	case c.username != "":
		if c.passwordFile == "" {
			return nil, errors.New("--username needs --password-file (a password is never taken as a flag's value)")
		}
		pass, err := readSecret(c.passwordFile, "--password-file")
		if err != nil {
			return nil, err
		}
		user := c.username
		return func(r *http.Request) { r.SetBasicAuth(user, pass) }, nil
	case c.passwordFile != "":
		return nil, errors.New("--password-file needs --username")
	case getenv(tokenEnv) != "":
		return bearerAuth(strings.TrimSpace(getenv(tokenEnv))), nil
	}
	return nil, nil
}

func bearerAuth(token string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

// readSecret reads a token or password file, without its trailing line
// break; the error never shows the contents.
func readSecret(path, flagName string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flagName, err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s: %s is empty", flagName, path)
	}
	return s, nil
}

// do sends req with the credentials.
func (c *daemonClient) do(req *http.Request) (*http.Response, error) {
	if c.auth != nil {
		c.auth(req)
	}
	return c.http.Do(req)
}
