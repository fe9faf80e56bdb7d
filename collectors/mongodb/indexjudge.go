package mongodb

import (
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// indexSpec is one listIndexes document, as far as Lookout judges it.
type indexSpec struct {
	Name   string
	Key    bson.D
	Unique bool
	Hidden bool
	// TTL is set for an index with expireAfterSeconds: the server deletes
	// expired documents through it, which $indexStats does not count.
	TTL bool
	// variant is what else changes which documents the index holds or
	// how it compares them: sparse, partialFilterExpression, collation.
	// Only indexes of the same variant can stand in for each other.
	variant string
}

// decodeIndexSpecs decodes listIndexes documents.
func decodeIndexSpecs(raws []bson.Raw) ([]indexSpec, error) {
	specs := make([]indexSpec, 0, len(raws))
	for _, raw := range raws {
		var doc struct {
			Name      string   `bson:"name"`
			Key       bson.D   `bson:"key"`
			Unique    bool     `bson:"unique"`
			Hidden    bool     `bson:"hidden"`
			TTL       *any     `bson:"expireAfterSeconds"`
			Sparse    bool     `bson:"sparse"`
			Partial   bson.Raw `bson:"partialFilterExpression"`
			Collation bson.Raw `bson:"collation"`
		}
		if err := bson.Unmarshal(raw, &doc); err != nil {
			return nil, fmt.Errorf("decode index spec: %w", err)
		}
		specs = append(specs, indexSpec{
			Name: doc.Name, Key: doc.Key, Unique: doc.Unique, Hidden: doc.Hidden, TTL: doc.TTL != nil,
			variant: fmt.Sprintf("sparse=%t partial=%x collation=%x", doc.Sparse, []byte(doc.Partial), []byte(doc.Collation)),
		})
	}
	return specs, nil
}

// decodeIndexSizes reads storageStats.indexSizes from $collStats output (one
// document per shard; sizes add up).
func decodeIndexSizes(raws []bson.Raw) (map[string]float64, error) {
	sizes := map[string]float64{}
	for _, raw := range raws {
		var doc struct {
			StorageStats struct {
				IndexSizes map[string]bson.RawValue `bson:"indexSizes"`
			} `bson:"storageStats"`
		}
		if err := bson.Unmarshal(raw, &doc); err != nil {
			return nil, fmt.Errorf("decode $collStats: %w", err)
		}
		for name, v := range doc.StorageStats.IndexSizes {
			n, ok := number(v)
			if !ok {
				return nil, fmt.Errorf("decode $collStats: indexSizes.%s is %s, want a number", name, v.Type)
			}
			sizes[name] += n
		}
	}
	return sizes, nil
}

// indexStat is one $indexStats document: one index on one member.
type indexStat struct {
	Name string
	Host string
	Ops  int64
	// Since is when the member started counting: its start or the index's
	// creation.
	Since time.Time
}

func decodeIndexStats(raws []bson.Raw) ([]indexStat, error) {
	stats := make([]indexStat, 0, len(raws))
	for _, raw := range raws {
		var doc struct {
			Name     string `bson:"name"`
			Host     string `bson:"host"`
			Accesses struct {
				Ops   bson.RawValue `bson:"ops"`
				Since time.Time     `bson:"since"`
			} `bson:"accesses"`
		}
		if err := bson.Unmarshal(raw, &doc); err != nil {
			return nil, fmt.Errorf("decode $indexStats: %w", err)
		}
		ops, ok := number(doc.Accesses.Ops)
		if !ok {
			return nil, fmt.Errorf("decode $indexStats: index %s: accesses.ops is %s, want a number", doc.Name, doc.Accesses.Ops.Type)
		}
		stats = append(stats, indexStat{Name: doc.Name, Host: doc.Host, Ops: int64(ops), Since: doc.Accesses.Since})
	}
	return stats, nil
}

// number reads an int32, int64 or double.
func number(v bson.RawValue) (float64, bool) {
	switch v.Type {
	case bson.TypeInt32:
		return float64(v.Int32()), true
	case bson.TypeInt64:
		return float64(v.Int64()), true
	case bson.TypeDouble:
		return v.Double(), true
	}
	return 0, false
}

// unusedIndexes names the indexes that counted no access on any member for
// at least after: every member reported the index, with 0 ops, counting
// since at least after ago. The _id index is never unused: it cannot be
// dropped. With no stats, nothing can be judged.
func unusedIndexes(specs []indexSpec, stats []indexStat, now time.Time, after time.Duration) map[string]bool {
	unused := map[string]bool{}
	if len(stats) == 0 {
		return unused
	}
	hosts := map[string]bool{}
	for _, st := range stats {
		hosts[st.Host] = true
	}
	for _, spec := range specs {
		if spec.Name == "_id_" || spec.Unique || spec.TTL {
			continue
		}
		seen := map[string]bool{}
		quiet := true
		for _, st := range stats {
			if st.Name != spec.Name {
				continue
			}
			seen[st.Host] = true
			quiet = quiet && st.Ops == 0 && !st.Since.IsZero() && now.Sub(st.Since) >= after
		}
		unused[spec.Name] = quiet && len(seen) == len(hosts)
	}
	return unused
}

// redundantIndexes maps each redundant index to one that covers it: an
// index whose key pattern is a prefix (or a copy) of another's, with the
// same directions and the same variant, is redundant, because the longer
// one serves its queries too. Unique and TTL indexes do something besides
// serving reads and the _id index cannot go, so none of them is ever
// redundant; a hidden index does not count as covering, since the planner
// does not use it.
func redundantIndexes(specs []indexSpec) map[string]string {
	keys := make([]btreeKey, len(specs))
	for i, sp := range specs {
		keys[i] = newBtreeKey(sp.Key)
	}
	redundant := map[string]string{}
	for i, a := range specs {
		if a.Unique || a.TTL || a.Name == "_id_" || !keys[i].plain {
			continue
		}
		for j, b := range specs {
			if i == j || b.Hidden || a.variant != b.variant || !keys[j].plain || !keys[i].prefixOf(keys[j]) {
				continue
			}
			// Of two identical key patterns, the first listed stays.
			if len(a.Key) == len(b.Key) && j > i {
				continue
			}
			redundant[a.Name] = b.Name
			break
		}
	}
	return redundant
}

// btreeKey is a key pattern read for comparing: its fields and their
// directions; plain when every field is an ascending or descending B-tree
// key (not text, hashed, 2dsphere or wildcard).
type btreeKey struct {
	fields []string
	dirs   []float64
	plain  bool
}

func newBtreeKey(key bson.D) btreeKey {
	k := btreeKey{fields: make([]string, len(key)), dirs: make([]float64, len(key)), plain: len(key) > 0}
	for i, e := range key {
		k.fields[i] = e.Key
		n, ok := keyDirection(e.Value)
		k.dirs[i] = n
		k.plain = k.plain && ok && (n == 1 || n == -1)
	}
	return k
}

// prefixOf tells whether k's fields and directions start other's.
func (k btreeKey) prefixOf(other btreeKey) bool {
	return len(k.fields) <= len(other.fields) &&
		slices.Equal(k.fields, other.fields[:len(k.fields)]) && slices.Equal(k.dirs, other.dirs[:len(k.dirs)])
}

// keyDirection reads a decoded key-pattern value: int32, int64 or double.
func keyDirection(v any) (float64, bool) {
	switch n := v.(type) {
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}
