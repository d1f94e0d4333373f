package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"strconv"

	"github.com/b2b/backoffice/internal/apperr"
)

// cursorKey only makes cursors tamper-evident: a cursor is an opaque position, not a secret.
var cursorKey = []byte("b2b-backoffice cursor v1")

// EncodeCursor returns the opaque cursor for "after id".
func EncodeCursor(afterID int64) string {
	buf := make([]byte, 8, 8+8)
	binary.BigEndian.PutUint64(buf, uint64(afterID))
	return base64.RawURLEncoding.EncodeToString(append(buf, cursorMAC(buf)...))
}

// DecodeCursor returns the id a cursor made by EncodeCursor points after; "" means the start (0).
// Anything the server did not make is 400 INVALID_CURSOR.
func DecodeCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	// Strict: a cursor has one spelling only, so non-zero padding bits are refused too.
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(raw) != 16 || !hmac.Equal(raw[8:], cursorMAC(raw[:8])) {
		return 0, apperr.ErrInvalidCursor
	}
	id := int64(binary.BigEndian.Uint64(raw[:8]))
	if id <= 0 {
		return 0, apperr.ErrInvalidCursor
	}
	return id, nil
}

func cursorMAC(b []byte) []byte {
	m := hmac.New(sha256.New, cursorKey)
	m.Write(b)
	return m.Sum(nil)[:8]
}

// Page is the cursor and limit of a list request.
type Page struct {
	AfterID int64
	Limit   int
}

// ParsePage reads ?cursor= and ?limit= (default 20, 1..100).
func ParsePage(r *http.Request) (Page, error) {
	q := r.URL.Query()
	p := Page{Limit: 20}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return Page{}, apperr.Validation(apperr.FieldError{Field: "limit", Message: "must be an integer from 1 to 100"})
		}
		p.Limit = n
	}
	after, err := DecodeCursor(q.Get("cursor"))
	if err != nil {
		return Page{}, err
	}
	p.AfterID = after
	return p, nil
}

// List is the wire shape of every list response.
type List[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// NewList builds a page from rows fetched with LIMIT page.Limit+1: the extra row only tells that another
// page exists, so the last page never has a cursor to an empty one.
func NewList[T any](rows []T, limit int, id func(T) int64) List[T] {
	l := List[T]{Data: rows}
	if len(rows) > limit {
		l.Data = rows[:limit]
		c := EncodeCursor(id(l.Data[limit-1]))
		l.NextCursor = &c
	}
	if l.Data == nil {
		l.Data = []T{}
	}
	return l
}
