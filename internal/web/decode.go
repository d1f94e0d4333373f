package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/b2b/backoffice/internal/apperr"
)

// MaxBodyBytes is the largest request body any route accepts.
const MaxBodyBytes = 1 << 20

// Decode reads a JSON request body into v: application/json only (415), at most 1 MiB (413). The body
// must be exactly one JSON object in valid UTF-8, else 400 INVALID_JSON: null, an array, a string, a
// number, a boolean, trailing data, and text encoding/json would silently alter (invalid UTF-8 or a
// lone UTF-16 surrogate escape, both turned into U+FFFD) are all refused alike. An unknown field or a
// value of the wrong type is 400 VALIDATION_FAILED naming the field by its full path, array indexes
// included ("items[1].qty"), the same path the domain's range checks use.
func Decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" || r.ContentLength != 0 {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return apperr.ErrUnsupportedMedia
		}
	}
	return DecodeReader(http.MaxBytesReader(w, r.Body, MaxBodyBytes), v)
}

// DecodeReader decodes the JSON object in body into v with the rules of Decode (except the content type).
func DecodeReader(body io.Reader, v any) error {
	b, err := io.ReadAll(body)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return apperr.ErrTooLarge
		}
		return apperr.ErrInvalidJSON.WithMessage("request body could not be read").Wrap(err)
	}
	if err := checkObject(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(b, reflect.TypeOf(v), err)
	}
	return nil
}

// checkObject returns INVALID_JSON unless b is one JSON object that encoding/json decodes faithfully.
func checkObject(b []byte) error {
	if !utf8.Valid(b) {
		return apperr.ErrInvalidJSON.WithMessage("request body is not valid UTF-8")
	}
	if len(bytes.TrimLeft(b, jsonSpace)) == 0 {
		return apperr.ErrInvalidJSON.WithMessage("request body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return apperr.ErrInvalidJSON
	}
	if len(bytes.TrimLeft(b[dec.InputOffset():], jsonSpace)) > 0 {
		return apperr.ErrInvalidJSON.WithMessage("request body must hold a single JSON value")
	}
	if raw[0] != '{' {
		return apperr.ErrInvalidJSON.WithMessage("request body must be a JSON object")
	}
	if !pairedSurrogates(raw) {
		return apperr.ErrInvalidJSON.WithMessage(`request body escapes a lone UTF-16 surrogate (\ud800 to \udfff), which is no character`)
	}
	return nil
}

const jsonSpace = " \t\r\n"

// pairedSurrogates reports whether every \u escape of a UTF-16 surrogate in the JSON text b is half of a
// pair. b must be valid JSON, so a backslash is always inside a string and starts an escape.
func pairedSurrogates(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if b[i+1] != 'u' {
			i++ // \\, \" and the like
			continue
		}
		r := hexRune(b[i+2 : i+6])
		i += 5
		if !utf16.IsSurrogate(r) {
			continue
		}
		if i+6 >= len(b) || b[i+1] != '\\' || b[i+2] != 'u' {
			return false
		}
		if utf16.DecodeRune(r, hexRune(b[i+3:i+7])) == unicode.ReplacementChar {
			return false
		}
		i += 6
	}
	return true
}

func hexRune(h []byte) rune {
	var r rune
	for _, c := range h {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		}
	}
	return r
}

// decodeError maps an error of encoding/json decoding the checked body b into a value of type t.
func decodeError(b []byte, t reflect.Type, err error) error {
	if typeErr, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if typeErr.Field == "" {
			return apperr.ErrInvalidJSON.WithMessage("request body must be a JSON object")
		}
		return apperr.Validation(apperr.FieldError{
			Field:   typeErrorPath(b, t, typeErr.Field, typeErr.Offset),
			Message: fmt.Sprintf("must be of type %s", jsonType(typeErr.Type.Kind())),
		})
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return apperr.Validation(apperr.FieldError{Field: unknownFieldPath(b, t, strings.Trim(name, `"`)), Message: "unknown field"})
	}
	return apperr.ErrInvalidJSON.Wrap(err)
}

func jsonType(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	default:
		return "object"
	}
}

// typeErrorPath returns the indexed path ("items[1].qty") of the value a type error decoding b into t is
// about. encoding/json names the field without indexes ("items.qty") and gives the offset it had read to
// when it found the error: of the values at that field, the last one starting before the offset. An
// error that a custom unmarshaler reported carries an offset within its own value; then the first one
// is taken.
func typeErrorPath(b []byte, t reflect.Type, field string, offset int64) string {
	var last, first []segment
	walk(b, t, func(w *walker, start int64, f string, _ bool) bool {
		if f != field {
			return false
		}
		if start < offset {
			last = append(last[:0], w.stack...)
			return false
		}
		// The first value past the offset: no later one can be the culprit.
		first = append([]segment(nil), w.stack...)
		return true
	})
	switch {
	case last != nil:
		return pathOf(last)
	case first != nil:
		return pathOf(first)
	}
	return field
}

// unknownFieldPath returns the indexed path of the first object member named name that the type t has
// no field for: encoding/json reports the first unknown member by its name alone.
func unknownFieldPath(b []byte, t reflect.Type, name string) string {
	path := name
	walk(b, t, func(w *walker, _ int64, _ string, unknown bool) bool {
		if unknown && w.stack[len(w.stack)-1].key == name {
			path = pathOf(w.stack)
			return true
		}
		return false
	})
	return path
}

// segment is one step of a path: an array index when index >= 0, else an object member's key.
type segment struct {
	key   string
	index int
}

func pathOf(stack []segment) string {
	var b strings.Builder
	for _, s := range stack {
		if s.index >= 0 {
			fmt.Fprintf(&b, "[%d]", s.index)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.key)
	}
	return b.String()
}

// walk visits the values of the valid JSON text b in document order, until visit returns true. visit
// gets the offset at or before the value's first byte (after the end of the value before it), its field
// as encoding/json names fields (without indexes: items.qty) and whether it is an object member that
// t, the Go type b decodes into, has no field for; w.stack is the value's path. Nothing is kept per
// value: a large body costs time, not memory.
func walk(b []byte, t reflect.Type, visit func(w *walker, start int64, field string, unknown bool) bool) {
	w := walker{dec: json.NewDecoder(bytes.NewReader(b)), visit: visit}
	w.value("", t, false)
}

type walker struct {
	dec   *json.Decoder
	visit func(w *walker, start int64, field string, unknown bool) bool
	stack []segment
	done  bool
}

func (w *walker) value(field string, t reflect.Type, unknown bool) {
	start := w.dec.InputOffset()
	tok, err := w.dec.Token()
	if err != nil || w.visit(w, start, field, unknown) {
		w.done = true
		return
	}
	t = decodedAs(t)
	switch tok {
	case json.Delim('{'):
		for !w.done && w.dec.More() {
			key, err := w.dec.Token()
			if err != nil {
				w.done = true
				return
			}
			name, _ := key.(string)
			ft, known := member(t, name)
			f := join(field, name)
			if t != nil && t.Kind() == reflect.Map {
				f = field // encoding/json names a map's values by the map's field, like an array's
			}
			w.stack = append(w.stack, segment{key: name, index: -1})
			w.value(f, ft, !known)
			w.stack = w.stack[:len(w.stack)-1]
		}
	case json.Delim('['):
		var et reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			et = t.Elem()
		}
		for i := 0; !w.done && w.dec.More(); i++ {
			w.stack = append(w.stack, segment{index: i})
			w.value(field, et, false)
			w.stack = w.stack[:len(w.stack)-1]
		}
	default:
		return
	}
	if !w.done {
		_, _ = w.dec.Token() // the closing delimiter
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[interface{ UnmarshalText([]byte) error }]()
)

// decodedAs is the type whose structure a JSON value is decoded by: pointers followed, and nil for a
// type that decodes itself (its members are its own business).
func decodedAs(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return nil
	}
	return t
}

// member returns the type of t's member name and whether t has one, matching names the way
// encoding/json does (the exact name first, then ignoring case).
func member(t reflect.Type, name string) (reflect.Type, bool) {
	if t == nil {
		return nil, true
	}
	switch t.Kind() {
	case reflect.Map:
		return t.Elem(), true
	case reflect.Struct:
		var folded reflect.Type
		found := false
		for _, f := range jsonFields(t) {
			if f.name == name {
				return f.typ, true
			}
			if !found && strings.EqualFold(f.name, name) {
				folded, found = f.typ, true
			}
		}
		return folded, found
	}
	return nil, true // not an object at all: encoding/json reports the type of the whole value
}

type jsonField struct {
	name string
	typ  reflect.Type
}

func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, jsonFields(ft)...)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		out = append(out, jsonField{name: name, typ: sf.Type})
	}
	return out
}
