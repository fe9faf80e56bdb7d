// Package importer holds what `lookout import` shares between the tools it
// imports from (Gatus, blackbox_exporter): the items it could not carry
// over, which the command lists on stderr and which set its exit code.
package importer

import "fmt"

// Left is one item of the imported config that has no equivalent in
// Lookout's, or that Lookout could not read.
type Left struct {
	// Where is the item's place in the imported file, as a path:
	// "endpoints[2].conditions[1]", "modules.http_2xx.http.body_size_limit".
	Where string
	// Item is the item as it was written, shortened.
	Item string
	// Why says why it was left behind.
	Why string
}

func (l Left) String() string {
	if l.Item == "" {
		return fmt.Sprintf("%s: %s", l.Where, l.Why)
	}
	return fmt.Sprintf("%s: %s: %s", l.Where, l.Item, l.Why)
}
