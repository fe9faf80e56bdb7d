package mongodb

import (
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// profileOp reads a profile entry, with the fields MongoDB documents for
// it. A field of the wrong type makes the entry unreadable; a missing one
// is zero, except ns and millis, which every entry has.
func profileOp(doc bson.Raw) (slowOp, error) {
	if err := doc.Validate(); err != nil {
		return slowOp{}, err
	}
	var f profileFields
	ns := f.str(doc, "ns")
	millis, hasMillis := f.num(doc, "millis")
	typ := f.str(doc, "op")
	summary := f.str(doc, "planSummary")
	examined, _ := f.num(doc, "docsExamined")
	returned, _ := f.num(doc, "nreturned")
	kinds := []string{shapeKeyQueryShapeHash, shapeKeyPlanCacheShapeHash, shapeKeyQueryHash}
	hashes := make([]string, len(kinds))
	for i, k := range kinds {
		hashes[i] = f.str(doc, k)
	}
	cmd, hasCmd := f.doc(doc, "command")
	switch {
	case f.err != nil:
		return slowOp{}, f.err
	case ns == "" || !hasMillis:
		return slowOp{}, errors.New("no ns or millis")
	}

	op := slowOp{
		plan:         slowPlan(summary),
		planSummary:  labelValue(summary),
		seconds:      millis / 1000,
		docsExamined: examined,
		docsReturned: returned,
	}
	op.database, op.collection = splitNamespace(ns)
	var cmdName string
	if hasCmd {
		op.shape, cmdName = bsonCommandShape(cmd)
	}
	op.op = slowOpName(cmdName, typ)
	for i, h := range hashes {
		if h != "" {
			op.hashKind, op.hash = kinds[i], labelValue(h)
			break
		}
	}
	if ts, ok := doc.Lookup("ts").DateTimeOK(); ok {
		op.at = bson.DateTime(ts).Time().UTC()
	}
	return op, op.check()
}

// profileFields reads the fields of a valid profile entry and keeps the
// first type error.
type profileFields struct {
	err error
}

func (f *profileFields) wrongType(key string, v bson.RawValue, want string) {
	if f.err == nil {
		f.err = fmt.Errorf("%s is a %s, not a %s", key, v.Type, want)
	}
}

// str returns a string field; "" when it is missing.
func (f *profileFields) str(doc bson.Raw, key string) string {
	v := doc.Lookup(key)
	if v.IsZero() {
		return ""
	}
	s, ok := v.StringValueOK()
	if !ok {
		f.wrongType(key, v, "string")
	}
	return s
}

// num returns a number field, which MongoDB sends as int32, int64 or
// double; has is false when it is missing.
func (f *profileFields) num(doc bson.Raw, key string) (n float64, has bool) {
	v := doc.Lookup(key)
	if v.IsZero() {
		return 0, false
	}
	if i, ok := v.Int32OK(); ok {
		return float64(i), true
	}
	if i, ok := v.Int64OK(); ok {
		return float64(i), true
	}
	if d, ok := v.DoubleOK(); ok {
		return d, true
	}
	f.wrongType(key, v, "number")
	return 0, true
}

// doc returns a document field; has is false when it is missing.
func (f *profileFields) doc(doc bson.Raw, key string) (d bson.Raw, has bool) {
	v := doc.Lookup(key)
	if v.IsZero() {
		return nil, false
	}
	d, ok := v.DocumentOK()
	if !ok {
		f.wrongType(key, v, "document")
	}
	return d, ok
}
