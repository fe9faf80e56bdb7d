// Package store is the in-memory, bounded store of Lookout's own series
// that alert and recording rules query with PromQL.
//
// Each series holds its float samples in Gorilla-compressed chunks of up
// to 120 samples (delta-of-delta timestamps, XOR values), and its native
// histogram samples uncompressed beside them. Retention and a series limit
// bound its memory.
package store
