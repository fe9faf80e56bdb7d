//go:build !linux

package notify_test

import "testing"

// mountTmpfs skips the test: mounting a tmpfs is Linux's.
func mountTmpfs(t *testing.T, _ string) string {
	t.Skip("a tmpfs can be mounted on Linux only")
	return ""
}
