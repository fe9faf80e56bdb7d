package dispatch

import (
	"strconv"
	"time"

	"github.com/prometheus/common/model"
)

// Defaults of the root route's timers, as in Alertmanager.
const (
	DefaultGroupWait      = 30 * time.Second
	DefaultGroupInterval  = 5 * time.Minute
	DefaultRepeatInterval = 4 * time.Hour
)

// GroupByAll in GroupBy groups by all of an alert's labels.
const GroupByAll model.LabelName = "..."

// Route is one node of the routing tree, as in Alertmanager's route
// block. Fields left zero are inherited from the parent (the root takes
// the defaults above); GroupBy is inherited when nil, so an explicit
// `group_by: []` must arrive as a non-nil empty slice (one group for all
// alerts of the route).
type Route struct {
	Receiver       string
	GroupBy        []model.LabelName // GroupByAll ("...") groups by all labels
	GroupWait      time.Duration     // before the first notification of a new group
	GroupInterval  time.Duration     // between notifications about a changed group
	RepeatInterval time.Duration     // before re-sending an unchanged firing group
	Matchers       Matchers          // from ParseMatchers; empty matches every alert
	Continue       bool              // after matching, go on to the next sibling
	Routes         []*Route
}

// node is a Route with its inherited settings resolved and its
// identifier computed, so the caller's tree is never changed.
type node struct {
	id             string
	receiver       string
	groupBy        map[model.LabelName]bool
	groupByAll     bool
	groupWait      time.Duration
	groupInterval  time.Duration
	repeatInterval time.Duration
	matchers       Matchers
	cont           bool
	children       []*node
}

// newTree resolves r and its descendants. A nil r routes every alert to
// the receiver "" with the default timers.
func newTree(r *Route) *node {
	root := &node{
		id:             "{}",
		groupBy:        map[model.LabelName]bool{},
		groupWait:      DefaultGroupWait,
		groupInterval:  DefaultGroupInterval,
		repeatInterval: DefaultRepeatInterval,
	}
	if r == nil {
		return root
	}
	root.apply(r)
	root.id = r.Matchers.String()
	root.children = newChildren(r.Routes, root)
	return root
}

func newChildren(rs []*Route, parent *node) []*node {
	var ns []*node
	for i, r := range rs {
		n := *parent
		n.children = nil
		n.apply(r)
		// As Alertmanager's Route.ID: the path of matchers plus the
		// position among siblings, stable across restarts and reloads
		// that keep the tree's shape.
		n.id = parent.id + "/" + r.Matchers.String() + "/" + strconv.Itoa(i)
		n.children = newChildren(r.Routes, &n)
		ns = append(ns, &n)
	}
	return ns
}

// apply overrides the inherited settings with those r sets.
func (n *node) apply(r *Route) {
	if r.Receiver != "" {
		n.receiver = r.Receiver
	}
	if r.GroupBy != nil {
		n.groupBy = map[model.LabelName]bool{}
		n.groupByAll = false
		for _, ln := range r.GroupBy {
			if ln == GroupByAll {
				n.groupByAll = true
				continue
			}
			n.groupBy[ln] = true
		}
	}
	if r.GroupWait > 0 {
		n.groupWait = r.GroupWait
	}
	if r.GroupInterval > 0 {
		n.groupInterval = r.GroupInterval
	}
	if r.RepeatInterval > 0 {
		n.repeatInterval = r.RepeatInterval
	}
	n.matchers = r.Matchers
	n.cont = r.Continue
}

// match returns the routes lset goes to, depth first, left to right: a
// child that matches ends the search among its siblings unless it has
// Continue; a node none of whose children match is itself the match.
func (n *node) match(lset model.LabelSet) []*node {
	if !n.matchers.Matches(lset) {
		return nil
	}
	var all []*node
	for _, c := range n.children {
		m := c.match(lset)
		all = append(all, m...)
		if m != nil && !c.cont {
			break
		}
	}
	if len(all) == 0 {
		all = append(all, n)
	}
	return all
}

// groupLabels are the labels of lset the route groups by.
func (n *node) groupLabels(lset model.LabelSet) model.LabelSet {
	if n.groupByAll {
		return lset.Clone()
	}
	gl := model.LabelSet{}
	for ln, lv := range lset {
		if n.groupBy[ln] {
			gl[ln] = lv
		}
	}
	return gl
}

// groupKey identifies the group of lset on this route, as Alertmanager
// forms it: route identifier, colon, group labels.
func (n *node) groupKey(groupLabels model.LabelSet) string {
	return n.id + ":" + groupLabels.String()
}

// walk visits n and its descendants depth first.
func (n *node) walk(visit func(*node)) {
	visit(n)
	for _, c := range n.children {
		c.walk(visit)
	}
}
