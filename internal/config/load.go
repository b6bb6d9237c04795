package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is one thing wrong with a config file. It reads
// FILE:LINE: path.to.field: what is wrong ("line N:" when the text came
// from no file; no line when the field is in no line of the file, such as a
// required one that is missing from an empty file).
type Error struct {
	File string // the file's path as given; "" for text parsed from memory
	Line int    // 1-based; 0 when unknown
	Path string // smscs[1].name, routes.prefixes["+39"]; "" for the file as a whole
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		fmt.Fprintf(&b, "%s: ", e.File)
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// errf is a validation error about the field at path; the loader adds the
// file and line.
func errf(path, format string, a ...any) *Error {
	return &Error{Path: path, Msg: fmt.Sprintf(format, a...)}
}

// Options change how a file is read.
type Options struct {
	// RoutingOnly reads the file for what routing needs (`otpgate route`):
	// an unset ${NAME} becomes empty instead of an error, and secrets the
	// routing table never uses (server_key) are not required.
	RoutingOnly bool
}

// Load reads, checks and validates the config file at path. Every error is
// an *Error naming the file, the line and the field.
func Load(path string, opts Options) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	return parse(raw, path, opts)
}

// Parse reads, checks and validates config text that came from no file
// (errors say "line N:").
func Parse(raw []byte, opts Options) (*Config, error) { return parse(raw, "", opts) }

// Sandbox is the config `otpgate serve` runs without a file. Its only
// possible error comes from the environment (a malformed
// OTPGATE_SERVER_KEY).
func Sandbox() (*Config, error) {
	cfg, err := Parse([]byte("sandbox: true\n"), Options{})
	if err != nil {
		return nil, fmt.Errorf("the sandbox's built-in config: %w", err)
	}
	return cfg, nil
}

func parse(raw []byte, file string, opts Options) (*Config, error) {
	located := func(err error) error {
		var e *Error
		if errors.As(err, &e) {
			e.File = file
			return e
		}
		return &Error{File: file, Msg: err.Error()}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return nil, located(yamlError(err))
	}
	cfg := &Config{}
	idx := &index{file: file, lines: map[string]int{}}
	if len(root.Content) > 0 {
		doc := root.Content[0]
		expanded := map[*yaml.Node]bool{}
		if err := expandNode(doc, "", opts.RoutingOnly, expanded); err != nil {
			return nil, located(err)
		}
		w := &walker{idx: idx, expanded: expanded}
		w.walk(doc, reflect.TypeOf(cfg).Elem(), "")
		if w.err != nil {
			return nil, located(w.err)
		}
		if err := doc.Decode(cfg); err != nil {
			// the walk checked every field and type; this is a backstop
			return nil, located(yamlError(err))
		}
	}
	cfg.lines = idx
	if err := cfg.finish(opts); err != nil {
		var e *Error
		if errors.As(err, &e) && e.Line == 0 {
			e.Line = idx.line(e.Path)
		}
		return nil, located(err)
	}
	return cfg, nil
}

// Locate gives err (a validation error made outside this package, such as
// a tenant default the engine refuses) this config's file and the line of
// path.
func (c *Config) Locate(path string, err error) error {
	e := &Error{Path: path, Msg: err.Error()}
	if c.lines != nil {
		e.File, e.Line = c.lines.file, c.lines.line(path)
	}
	return e
}

// yamlError turns yaml.v3's "yaml: line 3: …" into an *Error with that line.
func yamlError(err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &Error{Line: n, Msg: msg[len(m[0]):]}
	}
	return &Error{Msg: msg}
}

var yamlLine = regexp.MustCompile(`^line (\d+): `)

// index maps each field path of the file to the line it is on.
type index struct {
	file  string
	lines map[string]int
}

// line is the line of path, or of the nearest enclosing field that is in
// the file (a missing required field is reported where its parent is).
func (x *index) line(path string) int {
	for path != "" {
		if n, ok := x.lines[path]; ok {
			return n
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandNode replaces ${NAME} in every scalar value under n (keys stay as
// written), after parsing, so a secret with YAML syntax in it stays one
// value. An unset NAME is an error naming the field (path), unless lenient:
// then it becomes empty.
func expandNode(n *yaml.Node, path string, lenient bool, expanded map[*yaml.Node]bool) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return nil
		}
		var missing []string
		v := envRef.ReplaceAllStringFunc(n.Value, func(m string) string {
			name := m[2 : len(m)-1]
			v, ok := os.LookupEnv(name)
			if !ok && !lenient {
				missing = append(missing, name)
			}
			return v
		})
		if len(missing) > 0 {
			return &Error{Line: n.Line, Path: path, Msg: fmt.Sprintf("environment variable %s is not set (the config refers to it)", strings.Join(missing, ", "))}
		}
		// a string, whatever it looks like (a password "null" or "a: b"
		// stays one); the walker lets it resolve for a number or a bool
		n.Value = v
		n.Tag, n.Style = "!!str", yaml.DoubleQuotedStyle
		expanded[n] = true
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := expandNode(n.Content[i+1], mapPath(path, n.Content[i].Value), lenient, expanded); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := expandNode(c, fmt.Sprintf("%s[%d]", path, i), lenient, expanded); err != nil {
				return err
			}
		}
	}
	return nil
}

// walker checks a YAML tree against the Go type it will decode into, before
// it is decoded: every mapping key must be a field (else "unknown field",
// with the nearest field's name when one is close), every value of the
// field's kind. It records each field's line in idx. It stops at the first
// error, which names the field's path.
type walker struct {
	idx      *index
	err      *Error
	expanded map[*yaml.Node]bool // scalars that came from ${NAME}
}

var (
	durationType = reflect.TypeOf(Duration(0))
	routesType   = reflect.TypeOf(RoutesConf{})
	unmarshaler  = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
)

// shortRoutes is the short form of routes, for the walk.
type shortRoutes struct {
	Default  string            `yaml:"default"`
	Prefixes map[string]string `yaml:"prefixes"`
}

func (w *walker) fail(n *yaml.Node, path, format string, a ...any) {
	if w.err == nil {
		w.err = &Error{Line: n.Line, Path: path, Msg: fmt.Sprintf(format, a...)}
	}
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	if w.err != nil {
		return
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value: the field takes its default
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		var d Duration
		if err := n.Decode(&d); err != nil {
			w.fail(n, path, "%v", err)
		}
		return
	case t == routesType:
		switch n.Kind {
		case yaml.SequenceNode:
			w.walk(n, reflect.TypeOf([]RouteConf(nil)), path)
		case yaml.MappingNode:
			w.walk(n, reflect.TypeOf(shortRoutes{}), path)
		default:
			w.fail(n, path, "want a list of routes or {default, prefixes}")
		}
		return
	case reflect.PointerTo(t).Implements(unmarshaler):
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			w.fail(n, path, "%v", err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.fail(n, path, "want a mapping of fields (key: value), not %s", describe(n))
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" { // <<: *defaults, or a list of them: their fields are this struct's
				if v.Kind == yaml.SequenceNode {
					for _, m := range v.Content {
						w.walk(m, t, path)
					}
				} else {
					w.walk(v, t, path)
				}
				continue
			}
			p := join(path, k.Value)
			f, ok := fields[k.Value]
			if !ok {
				w.fail(k, p, "unknown field%s", suggest(k.Value, fields))
				return
			}
			w.idx.lines[p] = k.Line
			w.walk(v, f.Type, p)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.fail(n, path, "want a list, not %s", describe(n))
			return
		}
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			w.idx.lines[p] = item.Line
			w.walk(item, t.Elem(), p)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.fail(n, path, "want a mapping, not %s", describe(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := mapPath(path, k.Value)
			w.idx.lines[p] = k.Line
			w.walk(v, t.Elem(), p)
		}
	case reflect.Interface:
	default:
		if n.Kind != yaml.ScalarNode {
			w.fail(n, path, "want %s, not %s", kindName(t), describe(n))
			return
		}
		if w.expanded[n] && t.Kind() != reflect.String {
			n.Tag, n.Style = "", 0 // ${NAME} for a number or a bool: read what it says
		}
		if isInt(t) && n.ShortTag() == "!!float" {
			w.fail(n, path, "want %s, not %q", kindName(t), n.Value)
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			w.fail(n, path, "want %s, not %q", kindName(t), n.Value)
		}
	}
}

// yamlFields maps a struct's YAML field names to its fields.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f
	}
	return out
}

// suggest names the field closest to a misspelt one, when one is close
// enough to be what was meant, else lists the fields.
func suggest(got string, fields map[string]reflect.StructField) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	slices.Sort(names)
	// the nearest name; on a tie, the one sharing the longest start with
	// what was typed ("smsc" is "smscs", not "sms")
	best, bestD, bestP := "", len(got), 0
	low := strings.ToLower(got)
	for _, n := range names {
		d, p := editDistance(low, n), commonPrefix(low, n)
		if d < bestD || d == bestD && p > bestP {
			best, bestD, bestP = n, d, p
		}
	}
	if best != "" && bestD <= max(1, len(best)/3) {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	return " (fields here: " + strings.Join(names, ", ") + ")"
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// mapPath names a map entry: .key for a plain name, ["key"] otherwise.
func mapPath(path, key string) string {
	plain := key != ""
	for _, c := range key {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			plain = false
		}
	}
	if plain {
		return join(path, key)
	}
	return fmt.Sprintf("%s[%q]", path, key)
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

func isInt(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a text"
	}
	return t.String()
}
