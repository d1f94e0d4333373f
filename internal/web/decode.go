package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/b2b/backoffice/internal/apperr"
)

// MaxBodyBytes is the largest request body any route accepts.
const MaxBodyBytes = 1 << 20

// Decode reads a JSON request body into v: application/json only (415), at most 1 MiB (413), no unknown
// fields and no trailing data (400), malformed JSON 400 INVALID_JSON, a wrong type 400 VALIDATION_FAILED.
func Decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" || r.ContentLength != 0 {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return apperr.ErrUnsupportedMedia
		}
	}
	return DecodeReader(http.MaxBytesReader(w, r.Body, MaxBodyBytes), v)
}

// DecodeReader decodes one JSON value from body into v with the rules of Decode (except the content type).
func DecodeReader(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		if err != nil {
			if e := decodeError(err); apperr.As(e).Kind == apperr.KindTooLarge {
				return e
			}
		}
		return apperr.ErrInvalidJSON.WithMessage("request body must hold a single JSON value")
	}
	return nil
}

func decodeError(err error) error {
	var (
		maxErr    *http.MaxBytesError
		typeErr   *json.UnmarshalTypeError
		syntaxErr *json.SyntaxError
	)
	switch {
	case errors.As(err, &maxErr):
		return apperr.ErrTooLarge
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return apperr.ErrInvalidJSON.WithMessage("request body must be a JSON object")
		}
		return apperr.Validation(apperr.FieldError{Field: field, Message: fmt.Sprintf("must be of type %s", jsonType(typeErr.Type.Kind().String()))})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return apperr.Validation(apperr.FieldError{Field: name, Message: "unknown field"})
	case errors.Is(err, io.EOF):
		return apperr.ErrInvalidJSON.WithMessage("request body is empty")
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.ErrInvalidJSON
	default:
		return apperr.ErrInvalidJSON
	}
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "integer"
	case "float32", "float64":
		return "number"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	default:
		return "object"
	}
}
