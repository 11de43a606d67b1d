package routing

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// Strict decoding from the YAML syntax tree. Unlike a decoder that stops at the first
// problem, this one reports every unknown field and every mistyped value, each with
// its field path and position.

type decoder struct {
	src     *source
	errs    *errorList
	anchors map[string]ast.Node
	depth   int
	// steps counts values decoded, aliases expanded included, so that aliases
	// nested in aliases (a "billion laughs") end in an error rather than a hang.
	steps     int
	exhausted bool
}

const (
	maxDecodeDepth = 50
	maxDecodeSteps = 100000
)

// step counts one value and reports whether decoding may go on.
func (d *decoder) step(path string, n ast.Node) bool {
	d.steps++
	if d.steps <= maxDecodeSteps {
		return true
	}
	if !d.exhausted {
		d.exhausted = true
		d.fail(path, n, "the policy expands to more than %d values: are aliases nested in aliases?", maxDecodeSteps)
	}
	return false
}

// Visit registers anchors before decoding, so that aliases resolve wherever they are.
func (d *decoder) Visit(n ast.Node) ast.Visitor {
	if a, ok := n.(*ast.AnchorNode); ok && a.Name != nil {
		d.anchors[a.Name.String()] = a.Value
	}
	return d
}

var durationType = reflect.TypeFor[time.Duration]()

func tokenPos(n ast.Node) (token.Position, bool) {
	if n == nil {
		return token.Position{}, false
	}
	// A block mapping's token is the first key's ':'; its first key reads better.
	switch m := n.(type) {
	case *ast.MappingNode:
		if !m.IsFlowStyle && len(m.Values) > 0 {
			return tokenPos(m.Values[0].Key)
		}
	case *ast.MappingValueNode:
		return tokenPos(m.Key)
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return token.Position{}, false
	}
	return *tk.Position, true
}

func (d *decoder) fail(path string, n ast.Node, format string, args ...any) {
	if pos, ok := tokenPos(n); ok {
		if _, seen := d.src.pos[path]; !seen {
			d.src.pos[path] = pos
		}
	}
	d.errs.at(path, format, args...)
	d.src.bad[path] = true
}

// resolve follows anchors, aliases and tags to the node holding the value.
func (d *decoder) resolve(n ast.Node, path string) ast.Node {
	for i := 0; i < 100; i++ {
		switch x := n.(type) {
		case *ast.AnchorNode:
			n = x.Value
		case *ast.AliasNode:
			name := x.Value.String()
			target, ok := d.anchors[name]
			if !ok {
				d.fail(path, x, "alias *%s refers to no anchor &%s", name, name)
				return nil
			}
			n = target
		case *ast.TagNode:
			n = x.Value
		default:
			return n
		}
	}
	d.fail(path, n, "aliases nest too deep")
	return nil
}

func describe(n ast.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode, *ast.LiteralNode:
		return "text"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "true/false"
	}
	return strings.ToLower(n.Type().String())
}

// scalarText is a scalar's text as written: +15550001000 stays "+15550001000" rather
// than becoming the number 15550001000.
func scalarText(n ast.Node) (string, bool) {
	switch x := n.(type) {
	case *ast.StringNode:
		return x.Value, true
	case *ast.LiteralNode:
		return x.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return n.GetToken().Value, true
	}
	return "", false
}

type entry struct {
	key   string
	keyN  ast.Node
	value ast.Node
}

// entries lists a mapping's keys and values, with merge keys (<<: *anchor) expanded;
// keys written in the mapping win over merged ones.
func (d *decoder) entries(n ast.Node, path string) ([]entry, bool) {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > maxDecodeDepth {
		d.fail(path, n, "merges (<<) nest too deep: does an anchor merge itself?")
		return nil, true
	}
	if !d.step(path, n) {
		return nil, true
	}
	var values []*ast.MappingValueNode
	switch x := n.(type) {
	case *ast.MappingNode:
		values = x.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{x}
	default:
		return nil, false
	}
	var own, merged []entry
	for _, mv := range values {
		if mv.Key.IsMergeKey() {
			src := d.resolve(mv.Value, path)
			var srcs []ast.Node
			if seq, ok := src.(*ast.SequenceNode); ok {
				for _, s := range seq.Values {
					srcs = append(srcs, d.resolve(s, path))
				}
			} else {
				srcs = append(srcs, src)
			}
			for _, s := range srcs {
				if s == nil {
					continue
				}
				es, ok := d.entries(s, path)
				if !ok {
					d.fail(path, mv, "<< merges mappings only, not %s", describe(s))
					continue
				}
				merged = append(merged, es...)
			}
			continue
		}
		var kn ast.Node = mv.Key
		if mk, ok := kn.(*ast.MappingKeyNode); ok {
			kn = mk.Value
		}
		if kn = d.resolve(kn, path); kn == nil {
			continue // reported by resolve
		}
		key, ok := scalarText(kn)
		if !ok {
			d.fail(path, mv.Key, "keys must be plain text, not %s", describe(kn))
			continue
		}
		own = append(own, entry{key: key, keyN: mv.Key, value: mv.Value})
	}
	have := map[string]bool{}
	for _, e := range own {
		have[e.key] = true
	}
	for _, e := range merged {
		if !have[e.key] {
			have[e.key] = true
			own = append(own, e)
		}
	}
	return own, true
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *decoder) decode(n ast.Node, path string, v reflect.Value) {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > maxDecodeDepth {
		d.fail(path, n, "nested too deep: does an alias refer to a value that holds it?")
		return
	}
	if !d.step(path, n) {
		return
	}
	if pos, ok := tokenPos(n); ok {
		if _, seen := d.src.pos[path]; !seen {
			d.src.pos[path] = pos
		}
	}
	orig := n
	if n = d.resolve(n, path); n == nil {
		return
	}
	if _, null := n.(*ast.NullNode); null {
		return // as if not written
	}
	t := v.Type()
	if t == durationType {
		d.decodeDuration(orig, n, path, v)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		elem := reflect.New(t.Elem())
		d.decode(n, path, elem.Elem())
		if !d.src.bad[path] {
			v.Set(elem)
		}
	case reflect.String:
		s, ok := scalarText(n)
		if !ok {
			d.fail(path, orig, "must be text, not %s", describe(n))
			return
		}
		v.SetString(s)
	case reflect.Int:
		x, ok := n.(*ast.IntegerNode)
		if !ok {
			d.fail(path, orig, "must be a whole number, not %s%s", describe(n), quoted(n))
			return
		}
		i, err := strconv.ParseInt(fmt.Sprint(x.Value), 10, 32)
		if err != nil {
			d.fail(path, orig, "%s is too large", x.GetToken().Value)
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		x, ok := n.(*ast.BoolNode)
		if !ok {
			d.fail(path, orig, "must be true or false, not %s%s", describe(n), quoted(n))
			return
		}
		v.SetBool(x.Value)
	case reflect.Float64:
		switch x := n.(type) {
		case *ast.FloatNode:
			v.SetFloat(x.Value)
		case *ast.IntegerNode:
			f, _ := strconv.ParseFloat(fmt.Sprint(x.Value), 64)
			v.SetFloat(f)
		default:
			d.fail(path, orig, "must be a number, not %s%s", describe(n), quoted(n))
		}
	case reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			d.fail(path, orig, "must be a list, e.g. [a, b], not %s%s", describe(n), quoted(n))
			return
		}
		s := reflect.MakeSlice(t, len(seq.Values), len(seq.Values))
		for i, item := range seq.Values {
			d.decode(item, fmt.Sprintf("%s[%d]", path, i), s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		es, ok := d.entries(n, path)
		if !ok {
			d.fail(path, orig, "must be a mapping of name: value, not %s%s", describe(n), quoted(n))
			return
		}
		m := reflect.MakeMapWithSize(t, len(es))
		for _, e := range es {
			p := join(path, e.key)
			if pos, ok := tokenPos(e.keyN); ok {
				d.src.keyPos[p] = pos
			}
			ev := reflect.New(t.Elem()).Elem()
			d.decode(e.value, p, ev)
			m.SetMapIndex(reflect.ValueOf(e.key), ev)
		}
		v.Set(m)
	case reflect.Struct:
		es, ok := d.entries(n, path)
		if !ok {
			d.fail(path, orig, "must be a mapping of field: value, not %s%s", describe(n), quoted(n))
			return
		}
		fields := structFields(t)
		for _, e := range es {
			p := join(path, e.key)
			if pos, ok := tokenPos(e.keyN); ok {
				d.src.keyPos[p] = pos
			}
			idx, ok := fields[e.key]
			if !ok {
				names := sortedKeys(fields)
				msg := "unknown field"
				if s := suggest(e.key, names); s != "" {
					msg += fmt.Sprintf("; did you mean %s?", s)
				}
				if path == "" {
					msg += fmt.Sprintf(" (top-level fields: %s)", strings.Join(names, ", "))
				} else {
					msg += fmt.Sprintf(" (fields here: %s)", strings.Join(names, ", "))
				}
				if pos, ok := tokenPos(e.keyN); ok {
					d.src.pos[p] = pos
				}
				d.fail(p, e.keyN, "%s", msg)
				continue
			}
			d.decode(e.value, p, v.FieldByIndex(idx))
		}
	default:
		d.fail(path, orig, "cannot decode into %s", t)
	}
}

func quoted(n ast.Node) string {
	if s, ok := scalarText(n); ok {
		if len(s) > 40 {
			s = s[:40] + "…"
		}
		return fmt.Sprintf(" %q", s)
	}
	return ""
}

func (d *decoder) decodeDuration(orig, n ast.Node, path string, v reflect.Value) {
	switch x := n.(type) {
	case *ast.IntegerNode:
		if fmt.Sprint(x.Value) == "0" {
			v.SetInt(0)
			return
		}
		d.fail(path, orig, "%s has no unit: write a duration such as %ss or %sms", x.GetToken().Value, x.GetToken().Value, x.GetToken().Value)
	case *ast.StringNode:
		dur, err := time.ParseDuration(strings.TrimSpace(x.Value))
		if err != nil {
			d.fail(path, orig, "%q is not a duration: write e.g. 500ms, 5s, 2m or 1h30m", x.Value)
			return
		}
		v.SetInt(int64(dur))
	default:
		d.fail(path, orig, "must be a duration such as 5s, not %s%s", describe(n), quoted(n))
	}
}

// structFields maps yaml names to field indexes, following ",inline" embedding.
func structFields(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if opts == "inline" {
			for k, idx := range structFields(f.Type) {
				out[k] = append([]int{i}, idx...)
			}
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		out[name] = []int{i}
	}
	return out
}
