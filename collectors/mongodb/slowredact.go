package mongodb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// A command's shape is the command as JSON with its field names and
// operators ($gt, $in, ...) kept and every value replaced by "?": strings,
// numbers, dates, ObjectIds, booleans, nulls, regular expressions, binary
// data alike. An array shows each distinct shape of its elements once, so
// an array of values is ["?"] and [{a: 1}, {a: 2}] is [{"a":"?"}]. The
// fields that say how the command was sent rather than what it asks
// (slowCommandNoise) are left out. Field names are kept: an application
// that uses values as field names shows them.
//
// Nothing of a value is ever copied: the functions below write only field
// names, punctuation and "?".

// maxShapeDepth bounds how deep a shape goes; deeper documents show as "?".
const maxShapeDepth = 32

const shapeValue = `"?"`

// slowCommandNoise tells whether a top-level field of a command says how it
// was sent (session, cluster time, read and write concerns, ...) rather than
// what it asks; such fields are left out of the shape.
func slowCommandNoise(field string) bool {
	switch field {
	case "$db", "lsid", "$clusterTime", "$configTime", "$topologyTime", "$configServerState",
		"$readPreference", "readConcern", "writeConcern", "txnNumber", "autocommit", "startTransaction",
		"$audit", "$client", "signature", "mayBypassWriteBlocking", "apiVersion", "apiStrict",
		"apiDeprecationErrors", "maxTimeMS", "comment":
		return true
	}
	return false
}

// bsonCommandShape returns the shape of a command from the profiler and the
// command's name (its first field); the document must be valid.
func bsonCommandShape(doc bson.Raw) (shape, name string) {
	if e, err := doc.IndexErr(0); err == nil {
		name = e.Key()
	}
	return bsonDocShape(doc, 0, true), name
}

func bsonDocShape(doc bson.Raw, depth int, top bool) string {
	elems, err := doc.Elements()
	if err != nil || depth > maxShapeDepth {
		return shapeValue
	}
	var b strings.Builder
	b.WriteByte('{')
	n := 0
	for _, e := range elems {
		key := e.Key()
		if top && slowCommandNoise(key) {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		writeShapeKey(&b, key)
		b.WriteString(bsonValueShape(e.Value(), depth+1))
	}
	b.WriteByte('}')
	return b.String()
}

func bsonValueShape(v bson.RawValue, depth int) string {
	switch v.Type {
	case bson.TypeEmbeddedDocument:
		if doc, ok := v.DocumentOK(); ok {
			return bsonDocShape(doc, depth, false)
		}
	case bson.TypeArray:
		arr, ok := v.ArrayOK()
		if !ok || depth > maxShapeDepth {
			return shapeValue
		}
		vals, err := arr.Values()
		if err != nil {
			return shapeValue
		}
		items := make([]string, len(vals))
		for i, x := range vals {
			items[i] = bsonValueShape(x, depth+1)
		}
		return arrayShape(items)
	}
	return shapeValue
}

// arrayShape joins the distinct element shapes, in order of first
// appearance.
func arrayShape(items []string) string {
	var b strings.Builder
	b.WriteByte('[')
	seen := make(map[string]bool, 1)
	for _, it := range items {
		if seen[it] {
			continue
		}
		if len(seen) > 0 {
			b.WriteByte(',')
		}
		seen[it] = true
		b.WriteString(it)
	}
	b.WriteByte(']')
	return b.String()
}

func writeShapeKey(b *strings.Builder, key string) {
	q, _ := json.Marshal(key) // a string always marshals; invalid UTF-8 becomes U+FFFD
	b.Write(q)
	b.WriteByte(':')
}

// jsonCommandShape returns the shape of a command from mongod's log, where
// it is relaxed Extended JSON, and the command's name (its first field). A
// value written as Extended JSON ({"$date": ...}, {"$oid": ...}) is one
// value.
func jsonCommandShape(cmd []byte) (shape, name string, err error) {
	dec := json.NewDecoder(bytes.NewReader(cmd))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return "", "", fmt.Errorf("command: %w", err)
	}
	if tok != json.Delim('{') {
		return "", "", errors.New("command: not an object")
	}
	shape, name, err = jsonObjectShape(dec, 0, true)
	if err != nil {
		return "", "", fmt.Errorf("command: %w", err)
	}
	return shape, name, nil
}

// jsonObjectShape reads an object whose '{' has been read, up to and with
// its '}', and returns its shape and first field name.
func jsonObjectShape(dec *json.Decoder, depth int, top bool) (shape, first string, err error) {
	var b strings.Builder
	b.WriteByte('{')
	n := 0
	for i := 0; dec.More(); i++ {
		tok, err := dec.Token()
		if err != nil {
			return "", "", err
		}
		key, ok := tok.(string)
		if !ok {
			return "", "", errors.New("object key is not a string")
		}
		if i == 0 {
			first = key
			if !top && extJSONType(key) {
				return shapeValue, first, skipRest(dec)
			}
		}
		v, err := jsonValueShape(dec, depth+1)
		if err != nil {
			return "", "", err
		}
		if top && slowCommandNoise(key) {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		writeShapeKey(&b, key)
		b.WriteString(v)
	}
	if _, err := dec.Token(); err != nil { // '}'
		return "", "", err
	}
	b.WriteByte('}')
	if depth > maxShapeDepth {
		return shapeValue, first, nil
	}
	return b.String(), first, nil
}

func jsonValueShape(dec *json.Decoder, depth int) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	switch tok {
	case json.Delim('{'):
		s, _, err := jsonObjectShape(dec, depth, false)
		return s, err
	case json.Delim('['):
		var items []string
		for dec.More() {
			s, err := jsonValueShape(dec, depth+1)
			if err != nil {
				return "", err
			}
			items = append(items, s)
		}
		if _, err := dec.Token(); err != nil { // ']'
			return "", err
		}
		if depth > maxShapeDepth {
			return shapeValue, nil
		}
		return arrayShape(items), nil
	}
	return shapeValue, nil
}

// skipRest reads the rest of the object or array being read, up to and
// with its closing delimiter.
func skipRest(dec *json.Decoder) error {
	for open := 1; open > 0; {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			open++
		case json.Delim('}'), json.Delim(']'):
			open--
		}
	}
	return nil
}

// extJSONType tells whether a first field name makes an object one
// Extended JSON value. $regex is not one: in a filter it is the operator.
func extJSONType(key string) bool {
	switch key {
	case "$oid", "$date", "$numberInt", "$numberLong", "$numberDouble", "$numberDecimal",
		"$binary", "$uuid", "$timestamp", "$regularExpression", "$symbol", "$code",
		"$dbPointer", "$minKey", "$maxKey", "$undefined":
		return true
	}
	return false
}
