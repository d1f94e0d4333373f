package web_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/web"
)

// FuzzDecodeCursor: decoding never panics, rejects with INVALID_CURSOR only, and a cursor that decodes
// is exactly the one the server would make for that id, so no second spelling of a position exists.
func FuzzDecodeCursor(f *testing.F) {
	for _, seed := range []string{
		"", web.EncodeCursor(1), web.EncodeCursor(42), web.EncodeCursor(1<<63 - 1),
		"AAAAAAAAAAAAAAAAAAAAAA", "not a cursor", "====", "MTIz", web.EncodeCursor(7) + "A",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := web.DecodeCursor(s)
		if err != nil {
			if !errors.Is(err, apperr.ErrInvalidCursor) {
				t.Fatalf("DecodeCursor(%q): got %v, want INVALID_CURSOR", s, err)
			}
			return
		}
		if s == "" {
			if id != 0 {
				t.Fatalf(`DecodeCursor("") = %d, want 0`, id)
			}
			return
		}
		if id <= 0 {
			t.Fatalf("DecodeCursor(%q) = %d, want a positive id", s, id)
		}
		if re := web.EncodeCursor(id); re != s {
			t.Fatalf("DecodeCursor(%q) = %d, which encodes to %q", s, id, re)
		}
	})
}

// FuzzDecodeReader: decoding any bytes never panics, fails only with INVALID_JSON or VALIDATION_FAILED
// (one detail), and accepts nothing but one JSON object in valid UTF-8.
func FuzzDecodeReader(f *testing.F) {
	for _, seed := range []string{
		`{}`, `null`, `[]`, `"a"`, `{"items":[{"qty":1},{"qty":"x"}]}`, `{"items":[{"x":1}]}`, `{"note":"\ud83d\ude00"}`,
		`{"note":"\ud83d"}`, `{"note":"\\u"}`, "{\"note\":\"\xff\"}", `{"groups":[[{"qty":1}]]}`, `{"lookup":{"a":{"qty":[]}}}`, `{"":""}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v nested
		err := web.DecodeReader(bytes.NewReader(b), &v)
		if err == nil {
			if !utf8.Valid(b) || !json.Valid(b) || bytes.TrimLeft(b, " \t\r\n")[0] != '{' {
				t.Fatalf("DecodeReader(%q) accepted it", b)
			}
			return
		}
		e := apperr.As(err)
		switch {
		case e == nil:
			t.Fatalf("DecodeReader(%q): got %v, want an application error", b, err)
		case e.Code == "INVALID_JSON":
		case e.Code == "VALIDATION_FAILED" && len(e.Details) == 1:
		default:
			t.Fatalf("DecodeReader(%q): got %v %v", b, e, e.Details)
		}
	})
}
