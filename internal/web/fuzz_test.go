package web_test

import (
	"errors"
	"testing"

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
