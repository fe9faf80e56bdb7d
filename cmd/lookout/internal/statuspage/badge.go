package statuspage

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Badge files, under /badge/PROBE/.
const (
	BadgeState    = "state.svg"
	BadgeUptime30 = "uptime-30d.svg"
)

// stateBadge is a probe's state: its name on the left, the state on the
// right.
func stateBadge(name string, st State) []byte {
	colour := map[State]string{Operational: "#2e7d32", Degraded: "#a15c00", Down: "#c62828", UnderMaintenance: "#1565c0"}[st]
	if colour == "" {
		colour = "#616161"
	}
	return badge(name, strings.ToLower(st.Text()), colour)
}

// uptimeBadge is a probe's uptime over the last 30 days.
func uptimeBadge(up *float64) []byte {
	colour := "#616161"
	switch {
	case up == nil:
	case *up >= 99.9:
		colour = "#2e7d32"
	case *up >= 99:
		colour = "#33691e"
	case *up >= 95:
		colour = "#a15c00"
	default:
		colour = "#c62828"
	}
	return badge("uptime 30d", percentText(up), colour)
}

// badge draws a shields.io-style flat badge: label on grey, value on
// colour, white text (every colour here has at least 4.5:1 contrast
// with it), with its text as the image's accessible name.
func badge(label, value, colour string) []byte {
	lw, vw := textWidth(label)+10, textWidth(value)+10
	w := lw + vw
	l, v := html.EscapeString(label), html.EscapeString(value)
	return fmt.Appendf(nil, `<svg xmlns="http://www.w3.org/2000/svg" width="%[1]d" height="20" role="img" aria-label="%[2]s: %[3]s">`+
		`<title>%[2]s: %[3]s</title>`+
		`<linearGradient id="s" x2="0" y2="100%%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>`+
		`<clipPath id="r"><rect width="%[1]d" height="20" rx="3" fill="#fff"/></clipPath>`+
		`<g clip-path="url(#r)"><rect width="%[4]d" height="20" fill="#555"/><rect x="%[4]d" width="%[5]d" height="20" fill="%[6]s"/><rect width="%[1]d" height="20" fill="url(#s)"/></g>`+
		`<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">`+
		`<text x="%[7]g" y="15" fill="#010101" fill-opacity=".3">%[2]s</text><text x="%[7]g" y="14">%[2]s</text>`+
		`<text x="%[8]g" y="15" fill="#010101" fill-opacity=".3">%[3]s</text><text x="%[8]g" y="14">%[3]s</text>`+
		"</g></svg>\n",
		w, l, v, lw, vw, colour, float64(lw)/2, float64(lw)+float64(vw)/2)
}

// textWidth estimates the width of s in 11 px Verdana, rounded up: close
// enough to size a badge around it.
func textWidth(s string) int {
	w := 0.0
	for _, r := range s {
		switch {
		case strings.ContainsRune("iljI.,:;!|' ", r):
			w += 3.5
		case strings.ContainsRune("frt()[]-", r):
			w += 4.8
		case strings.ContainsRune("mwMW%", r):
			w += 10.5
		case r >= 'A' && r <= 'Z':
			w += 7.6
		case r < 128:
			w += 6.9
		default:
			w += 8
		}
	}
	return int(math.Ceil(w))
}
