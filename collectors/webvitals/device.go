package webvitals

import "strings"

// Device classes, the values of the device label.
const (
	deviceMobile  = "mobile"
	deviceTablet  = "tablet"
	deviceDesktop = "desktop"
)

// deviceClass tells mobile, tablet or desktop from a User-Agent. Android
// without "Mobile" is a tablet, as Google's guidance for Android browsers
// has it. iPadOS 13 and later sends a desktop Safari User-Agent, so those
// iPads count as desktop; nothing in the header tells them apart.
func deviceClass(ua string) string {
	has := func(s string) bool { return strings.Contains(ua, s) }
	switch {
	case has("iPad"), has("Tablet") && !has("Tablet PC"), has("Kindle"), has("Silk/"), has("PlayBook"),
		has("Android") && !has("Mobi"):
		return deviceTablet
	case has("Mobi"), has("iPhone"), has("iPod"), has("Windows Phone"), has("Opera Mini"), has("BlackBerry"), has("IEMobile"):
		return deviceMobile
	default:
		return deviceDesktop
	}
}
