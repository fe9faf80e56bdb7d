// Package browsertest holds the end-to-end test of the Web Vitals endpoint in
// a real browser: headless Chromium loads a page that reports with the npm
// package web-vitals, and the test reads what the collector observed.
//
// The test needs Debian's chromium and node_modules/web-vitals in this folder
// (npm ci here); .ci/test installs both and sets LOOKOUT_BROWSER_TESTS=1, which
// turns a missing dependency into a failure instead of a skip.
package browsertest
