package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Sentinels of the errors Parse finds before any field is validated.
var (
	ErrUnknownKey = errors.New("is not a known key")
	ErrType       = errors.New("has the wrong form")
)

// shape checks a parsed document against the Config type before it is
// decoded, so that every problem names its field path and line, an
// unknown key comes with the nearest known one, and a value of the wrong
// type says what form the field needs. It never quotes a value: a token
// pasted under the wrong key must not reach a log.
type shape struct {
	errs Errors
}

var (
	durationType    = reflect.TypeOf(time.Duration(0))
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	// The older interface, which secret.String implements.
	obsoleteUnmarshalerType = reflect.TypeOf((*interface {
		UnmarshalYAML(func(any) error) error
	})(nil)).Elem()
)

func (s *shape) fail(path string, line int, err error, detail string, args ...any) {
	if path == "" {
		path = "config file"
	}
	s.errs = append(s.errs, &FieldError{Field: path, Line: line, Err: err, Detail: fmt.Sprintf(detail, args...)})
}

// walk checks node n, found at path, against type t. line is where
// messages point: the line of the key whose value n is, which a block
// value starts below.
func (s *shape) walk(n *yaml.Node, t reflect.Type, path string, line int) {
	for n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
			continue
		}
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if n.Kind == 0 || isNull(n) {
		// An empty file or value: yaml leaves the fields at their zero
		// values, as if they were absent, and Validate says what is missing.
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var ok bool
	switch {
	case leaf(t):
		ok = n.Decode(reflect.New(t).Interface()) == nil
	case t.Kind() == reflect.Struct:
		if ok = n.Kind == yaml.MappingNode; ok {
			s.mapping(n, t, path)
		}
	case t.Kind() == reflect.Slice:
		if ok = n.Kind == yaml.SequenceNode; ok {
			for i, item := range n.Content {
				s.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), item.Line)
			}
		}
	default:
		ok = n.Decode(reflect.New(t).Interface()) == nil
	}
	if !ok {
		s.fail(path, line, ErrType, "must be %s (got %s)", expected(t), found(n, t))
	}
}

// mapping checks each key of a mapping against the fields of struct t.
func (s *shape) mapping(n *yaml.Node, t reflect.Type, path string) {
	fields := yamlFields(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.ShortTag() == "!!merge" {
			// "<<: *anchor" merges another mapping's keys into this one.
			s.walk(v, t, path, k.Line)
			continue
		}
		p := join(path, k.Value)
		ft, ok := fields[k.Value]
		if !ok {
			names := fieldOrder(t)
			if near := Nearest(k.Value, names); near != "" {
				s.fail(p, k.Line, ErrUnknownKey, "did you mean %s?", near)
			} else {
				s.fail(p, k.Line, ErrUnknownKey, "the keys here are %s", strings.Join(names, ", "))
			}
			continue
		}
		s.walk(v, ft, p, k.Line)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlFields maps a struct's YAML keys to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		if name := yamlKey(t.Field(i)); name != "" {
			out[name] = t.Field(i).Type
		}
	}
	return out
}

// fieldOrder lists a struct's YAML keys in declaration order.
func fieldOrder(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		if name := yamlKey(t.Field(i)); name != "" {
			out = append(out, name)
		}
	}
	return out
}

// yamlKey is the key yaml.v3 decodes into f: "" for an unexported field
// or one tagged "-".
func yamlKey(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	switch name {
	case "-":
		return ""
	case "":
		return strings.ToLower(f.Name)
	}
	return name
}

// leaf reports whether yaml decodes t as one value rather than field by
// field or item by item.
func leaf(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return t == durationType || p.Implements(unmarshalerType) || p.Implements(obsoleteUnmarshalerType)
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// expected describes the form a field of type t takes, with an example
// where the form is not obvious.
func expected(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration such as 30m or 1h30m"
	case leaf(t):
		return "a string"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Struct:
		return "a mapping of keys to values"
	case reflect.Slice:
		switch t.Elem().Kind() {
		case reflect.Struct:
			return "a list of items, each starting with '- '"
		case reflect.String:
			return "a list of strings"
		}
		return "a list"
	}
	return "a " + t.String()
}

// found describes what a node holds by its kind alone, never its value.
func found(n *yaml.Node, want reflect.Type) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number with a fraction"
	case "!!bool":
		return "a boolean"
	case "!!timestamp":
		return "a date"
	case "!!str":
		if want == durationType {
			return "text that is not a duration"
		}
		return "text"
	}
	return "a value of another type"
}
