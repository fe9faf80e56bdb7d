//go:build !linux

package browserprobe

import "github.com/chromedp/chromedp"

// processOptions are chromedp's own elsewhere: only Linux has Pdeathsig,
// and Lookout runs in production on Linux.
func processOptions() []chromedp.ExecAllocatorOption { return nil }

func killGroup(int) {}

func killLeftovers(string) {}

func processesUsing(string, bool) []int { return nil }
