// Package buildtest gives tests the path of a server binary that a build
// script makes (FerretDB, the S3 gateway): from an environment variable,
// or by running the script, which prints the path on its last line.
package buildtest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Binary is $binEnv when set, else the path script prints once it has
// built the binary (or found it built). When that fails, the test is
// skipped, or fails when $requireEnv is set (as CI sets it).
func Binary(t testing.TB, what, script, binEnv, requireEnv string) string {
	t.Helper()
	if bin := os.Getenv(binEnv); bin != "" {
		return bin
	}
	out, err := exec.CommandContext(t.Context(), "bash", script).Output()
	if err != nil {
		msg := fmt.Sprintf("cannot build %s with %s: %v", what, script, err)
		if ee, ok := err.(*exec.ExitError); ok {
			msg += "\n" + string(ee.Stderr)
		}
		if os.Getenv(requireEnv) == "" {
			t.Skip(msg + "\n(set " + requireEnv + "=1 to make this a failure)")
		}
		t.Fatal(msg)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}
