package gatus

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ReadPath reads a Gatus config as Gatus does from GATUS_CONFIG_PATH: a
// file, or a directory whose YAML files (*.yaml, *.yml, in its
// subdirectories too) are merged into one config, in path order. Merging
// joins mappings key by key and appends lists (endpoints from several
// files become one list); a key with a plain value that two files both
// set is an error naming both, as Gatus refuses it.
func ReadPath(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return os.ReadFile(path)
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := strings.ToLower(filepath.Ext(p)); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no *.yaml or *.yml file in the folder", path)
	}
	var merged *yaml.Node
	from := map[*yaml.Node]string{} // plain values, by the file that set them
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if len(doc.Content) == 0 {
			continue // an empty file
		}
		root := doc.Content[0]
		if root.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s: line %d: want a mapping of Gatus settings, found %s", f, root.Line, kindName(root))
		}
		markFrom(root, f, from)
		if merged == nil {
			merged = root
			continue
		}
		if err := mergeInto(merged, root, "", from); err != nil {
			return nil, err
		}
	}
	if merged == nil {
		return nil, fmt.Errorf("%s: its YAML files are empty", path)
	}
	return yaml.Marshal(merged)
}

// markFrom records, for each plain value under n, the file it came from.
func markFrom(n *yaml.Node, file string, from map[*yaml.Node]string) {
	if n.Kind == yaml.ScalarNode {
		from[n] = file
	}
	for _, c := range n.Content {
		markFrom(c, file, from)
	}
}

// mergeInto merges src into dst, both mappings; where is their place in
// the config, for errors.
func mergeInto(dst, src *yaml.Node, where string, from map[*yaml.Node]string) error {
	for i := 0; i+1 < len(src.Content); i += 2 {
		key, val := src.Content[i], src.Content[i+1]
		place := key.Value
		if where != "" {
			place = where + "." + key.Value
		}
		j := mappingIndex(dst, key.Value)
		if j < 0 {
			dst.Content = append(dst.Content, key, val)
			continue
		}
		old := dst.Content[j+1]
		switch {
		case old.Kind == yaml.MappingNode && val.Kind == yaml.MappingNode:
			if err := mergeInto(old, val, place, from); err != nil {
				return err
			}
		case old.Kind == yaml.SequenceNode && val.Kind == yaml.SequenceNode:
			old.Content = append(old.Content, val.Content...)
		default:
			return errors.New(place + ": set in " + from[dst.Content[j]] + " and again in " + from[key] +
				"; Gatus merges the files of a config folder and refuses a setting made twice")
		}
	}
	return nil
}

// mappingIndex is the index of key's node in the mapping m, or -1.
func mappingIndex(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return i
		}
	}
	return -1
}
