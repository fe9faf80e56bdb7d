package browserprobe

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/chromedp/cdproto"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/lookout-dev/lookout/config"
)

// device is what a run emulates: Lighthouse's desktop, a mid-range
// Android phone (Pixel 7's screen), or a window of the configured size.
type device struct {
	name          string // desktop, mobile or viewport
	width, height int64
	scale         float64
	mobile        bool // mobile viewport, touch, a mobile Chrome's user agent
}

func deviceOf(cfg *config.Browser) device {
	switch {
	case cfg.Viewport != nil:
		return device{name: "viewport", width: int64(cfg.Viewport.Width), height: int64(cfg.Viewport.Height), scale: 1}
	case cfg.Device == config.DeviceMobile:
		return device{name: config.DeviceMobile, width: 412, height: 915, scale: 2.625, mobile: true}
	}
	return device{name: config.DeviceDesktop, width: 1350, height: 940, scale: 1}
}

func (d device) String() string { return fmt.Sprintf("%s %dx%d", d.name, d.width, d.height) }

// userAgent is what the tab says it is: the browser's own user agent
// without "Headless" on a desktop, a phone's Chrome of the same version
// on mobile.
func (d device) userAgent(own, product string) (string, *emulation.UserAgentMetadata) {
	if !d.mobile {
		return strings.Replace(own, "HeadlessChrome/", "Chrome/", 1), nil
	}
	major := "120"
	if _, v, ok := strings.Cut(product, "/"); ok {
		major, _, _ = strings.Cut(v, ".")
	}
	ua := "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/" + major + ".0.0.0 Mobile Safari/537.36"
	return ua, &emulation.UserAgentMetadata{
		Brands:          []*emulation.UserAgentBrandVersion{{Brand: "Chromium", Version: major}, {Brand: "Not-A.Brand", Version: "24"}},
		Platform:        "Android",
		PlatformVersion: "10",
		Model:           "K",
		Mobile:          true,
	}
}

// emulate sets the tab's device, and the CPU and network throttling.
func emulate(ctx context.Context, d device, throttle *config.Throttle, inst *instance) error {
	return chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: d.width, Height: d.height, DeviceScaleFactor: d.scale, Mobile: d.mobile,
			ScreenWidth: d.width, ScreenHeight: d.height,
		}); err != nil {
			return fmt.Errorf("emulate the device: %w", err)
		}
		if d.mobile {
			if _, err := cdp.Call(ctx, t, emulation.SetTouchEmulationEnabled, emulation.SetTouchEmulationEnabledParams{Enabled: true, MaxTouchPoints: 5}); err != nil {
				return fmt.Errorf("emulate touch: %w", err)
			}
		}
		ua, meta := d.userAgent(inst.userAgent, inst.version)
		if ua != "" {
			p := emulation.SetUserAgentOverrideParams{UserAgent: ua, UserAgentMetadata: meta}
			if meta != nil {
				p.Platform = "Linux armv81"
			}
			if _, err := cdp.Call(ctx, t, emulation.SetUserAgentOverride, p); err != nil {
				return fmt.Errorf("set the user agent: %w", err)
			}
		}
		if throttle == nil {
			return nil
		}
		if throttle.CPU > 1 {
			if _, err := cdp.Call(ctx, t, emulation.SetCPUThrottlingRate, emulation.SetCPUThrottlingRateParams{Rate: throttle.CPU}); err != nil {
				return fmt.Errorf("throttle the CPU: %w", err)
			}
		}
		if throttle.Network != "" {
			if err := throttleNetwork(ctx, t, config.NetworkProfiles[throttle.Network]); err != nil {
				return fmt.Errorf("throttle the network: %w", err)
			}
		}
		return nil
	}))
}

// legacyNetworkConditions are the parameters of
// Network.emulateNetworkConditions, which the protocol's current version
// replaced with emulateNetworkConditionsByRule; a Chromium older than the
// replacement (a remote one) still has only it.
type legacyNetworkConditions struct {
	Offline            bool    `json:"offline"`
	Latency            float64 `json:"latency"`
	DownloadThroughput float64 `json:"downloadThroughput"`
	UploadThroughput   float64 `json:"uploadThroughput"`
}

// throttleNetwork applies a network preset to every request of the tab
// (latency before each response's headers, then the throughput), and to
// navigator.connection.
func throttleNetwork(ctx context.Context, t *chromedp.Target, p config.NetworkProfile) error {
	latency := float64(p.Latency.Milliseconds())
	_, err := cdp.Call(ctx, t, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{Latency: latency, DownloadThroughput: p.DownloadBps, UploadThroughput: p.UploadBps}},
	})
	if err == nil {
		_, err = cdp.Call(ctx, t, network.OverrideNetworkState, network.OverrideNetworkStateParams{
			Latency: latency, DownloadThroughput: p.DownloadBps, UploadThroughput: p.UploadBps,
		})
		return err
	}
	var perr *cdproto.Error
	if !errors.As(err, &perr) {
		return err
	}
	return t.Call(ctx, "Network.emulateNetworkConditions", legacyNetworkConditions{
		Latency: latency, DownloadThroughput: p.DownloadBps, UploadThroughput: p.UploadBps,
	}, nil)
}
