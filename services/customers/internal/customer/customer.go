// Package customer holds the customer domain: what a valid customer is, how a partial update applies,
// who may see and change which customer, and the use cases of customers-api. It knows nothing of HTTP
// or SQL.
package customer

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/identity"
	"github.com/b2b/backoffice/internal/logging"
)

// Errors with stable codes.
var (
	ErrNotFound   = apperr.NotFound("CUSTOMER_NOT_FOUND", "customer not found")
	ErrEmailTaken = apperr.Conflict("EMAIL_TAKEN", "email is already registered to another customer")
	// ErrForbidden refuses a change to a caller bound to one customer: customers are the backoffice's
	// to register, change and delete, whatever scopes a customer's own access token carries.
	ErrForbidden = apperr.Forbidden("FORBIDDEN", "an access token bound to a customer cannot change customers")
)

// Audit actions: what a change of a customer is recorded as.
const (
	ActionCreated = "customer.created"
	ActionUpdated = "customer.updated"
	ActionDeleted = "customer.deleted"
)

// Audit is the record of one change of a customer, which the store writes in the change's
// transaction: who made it (the caller's actor and the customer it is bound to, if any), what and when.
type Audit struct {
	Action          string
	At              time.Time
	Actor           string
	ActorCustomerID int64
	CorrelationID   string
}

// Limits of the customer fields.
const (
	MaxNameLen   = 200
	MaxEmailLen  = 254
	MinPhoneLen  = 3
	MaxPhoneLen  = 32
	MaxSearchLen = 200
)

// Customer is a B2B customer. Phone is nil when absent.
type Customer struct {
	ID        int64
	Name      string
	Email     string
	Phone     *string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// New is the input of Create.
type New struct {
	Name  string
	Email string
	Phone *string
}

// Patch is a partial update: nil fields are left alone. Phone is applied when PhoneSet, and a nil Phone
// then clears it.
type Patch struct {
	Name     *string
	Email    *string
	Phone    *string
	PhoneSet bool
}

// Empty reports whether p changes nothing.
func (p Patch) Empty() bool { return p.Name == nil && p.Email == nil && !p.PhoneSet }

// Query selects a page of live customers: those after AfterID (keyset, ascending id) whose name or email
// contains Search, case-insensitively, and, when OnlyID is set, only that one. Stores return up to
// Limit+1 rows so the caller can tell whether another page exists.
type Query struct {
	Search  string
	AfterID int64
	Limit   int
	OnlyID  int64
}

// Store persists customers. Get, Update and Delete see live customers only: a soft-deleted customer is
// ErrNotFound. Create and Update return ErrEmailTaken when another live customer has the email. Every
// change writes its Audit in the same transaction, for the customer it changed.
type Store interface {
	Create(ctx context.Context, c Customer, a Audit) (Customer, error)
	Get(ctx context.Context, id int64) (Customer, error)
	List(ctx context.Context, q Query) ([]Customer, error)
	// Update locks the customer, lets fn change it and saves the result atomically.
	Update(ctx context.Context, id int64, a Audit, fn func(*Customer) error) (Customer, error)
	// Delete marks the customer deleted at a.At.
	Delete(ctx context.Context, id int64, a Audit) error
}

// Service is the customers use cases.
type Service struct {
	store Store
	now   func() time.Time
}

// NewService returns a Service over store.
func NewService(store Store) *Service {
	return &Service{store: store, now: time.Now}
}

// audit returns the record of a change by who, checking first that who may change customers.
func (s *Service) audit(ctx context.Context, who identity.Caller, action string) (Audit, error) {
	if !who.Operator() {
		return Audit{}, ErrForbidden
	}
	if err := who.CheckActor(); err != nil {
		return Audit{}, fmt.Errorf("%s: %w", action, err)
	}
	return Audit{Action: action, At: s.timestamp(), Actor: who.Actor, ActorCustomerID: who.CustomerID,
		CorrelationID: logging.CorrelationID(ctx)}, nil
}

// Create validates and normalizes in, then stores a new customer made by who, an operator.
func (s *Service) Create(ctx context.Context, who identity.Caller, in New) (Customer, error) {
	a, err := s.audit(ctx, who, ActionCreated)
	if err != nil {
		return Customer{}, err
	}
	name, email, phone := in.Name, in.Email, in.Phone
	var errs []apperr.FieldError
	errs = normalizeName(&name, errs)
	errs = normalizeEmail(&email, errs)
	if phone != nil {
		p := *phone
		errs = normalizePhone(&p, errs)
		phone = &p
	}
	if len(errs) > 0 {
		return Customer{}, apperr.Validation(errs...)
	}
	return s.store.Create(ctx, Customer{Name: name, Email: email, Phone: phone, CreatedAt: a.At, UpdatedAt: a.At}, a)
}

// Get returns a live customer that who may see: a caller bound to another customer gets ErrNotFound,
// as for a customer that does not exist, so that ids of other customers cannot be probed.
func (s *Service) Get(ctx context.Context, who identity.Caller, id int64) (Customer, error) {
	if !who.Sees(id) {
		return Customer{}, ErrNotFound
	}
	return s.store.Get(ctx, id)
}

// List returns a page of the live customers who may see, as Query describes: every one for an
// operator, only its own for a caller bound to a customer.
func (s *Service) List(ctx context.Context, who identity.Caller, q Query) ([]Customer, error) {
	q.OnlyID = 0
	if !who.Operator() {
		q.OnlyID = who.CustomerID
	}
	if !ValidText(q.Search) {
		return nil, apperr.Validation(apperr.FieldError{Field: "search", Message: textMessage})
	}
	q.Search = strings.TrimSpace(q.Search)
	if utf8.RuneCountInString(q.Search) > MaxSearchLen {
		return nil, apperr.Validation(apperr.FieldError{Field: "search", Message: fmt.Sprintf("must be at most %d characters", MaxSearchLen)})
	}
	return s.store.List(ctx, q)
}

// Update applies p to a live customer, for who, an operator. The patch is validated before the store
// is touched.
func (s *Service) Update(ctx context.Context, who identity.Caller, id int64, p Patch) (Customer, error) {
	a, err := s.audit(ctx, who, ActionUpdated)
	if err != nil {
		return Customer{}, err
	}
	if err := p.normalize(); err != nil {
		return Customer{}, err
	}
	return s.store.Update(ctx, id, a, func(c *Customer) error {
		if p.Name != nil {
			c.Name = *p.Name
		}
		if p.Email != nil {
			c.Email = *p.Email
		}
		if p.PhoneSet {
			c.Phone = p.Phone
		}
		c.UpdatedAt = a.At
		return nil
	})
}

// Delete soft-deletes a live customer, for who, an operator; its email becomes free for a new customer.
func (s *Service) Delete(ctx context.Context, who identity.Caller, id int64) error {
	a, err := s.audit(ctx, who, ActionDeleted)
	if err != nil {
		return err
	}
	return s.store.Delete(ctx, id, a)
}

// timestamp is now at the database's precision, so what Create returns equals what Get reads back.
func (s *Service) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

func (p *Patch) normalize() error {
	if p.Empty() {
		return apperr.Validation(apperr.FieldError{Field: "body", Message: "must set at least one of name, email, phone"})
	}
	var errs []apperr.FieldError
	if p.Name != nil {
		n := *p.Name
		errs = normalizeName(&n, errs)
		p.Name = &n
	}
	if p.Email != nil {
		e := *p.Email
		errs = normalizeEmail(&e, errs)
		p.Email = &e
	}
	if p.PhoneSet && p.Phone != nil {
		ph := *p.Phone
		errs = normalizePhone(&ph, errs)
		p.Phone = &ph
	}
	if len(errs) > 0 {
		return apperr.Validation(errs...)
	}
	return nil
}

// ValidText reports whether s is text a customer field may hold: valid UTF-8 without control characters
// (C0, DEL, C1: NUL, tab, newline, escape and the like), none of which belongs in a name, an address or a
// search. Other characters (letters of any script, emoji, joiners) are fine.
func ValidText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

const textMessage = "must be valid UTF-8 without control characters"

func normalizeName(name *string, errs []apperr.FieldError) []apperr.FieldError {
	if !ValidText(*name) {
		return append(errs, apperr.FieldError{Field: "name", Message: textMessage})
	}
	*name = strings.TrimSpace(*name)
	if n := utf8.RuneCountInString(*name); n < 1 || n > MaxNameLen {
		return append(errs, apperr.FieldError{Field: "name", Message: fmt.Sprintf("must be 1 to %d characters", MaxNameLen)})
	}
	return errs
}

func normalizeEmail(email *string, errs []apperr.FieldError) []apperr.FieldError {
	if !ValidText(*email) {
		return append(errs, apperr.FieldError{Field: "email", Message: textMessage})
	}
	*email = strings.ToLower(strings.TrimSpace(*email))
	if !ValidEmail(*email) {
		return append(errs, apperr.FieldError{Field: "email", Message: fmt.Sprintf("must be a valid ASCII email address of at most %d characters, without a display name", MaxEmailLen)})
	}
	return errs
}

func normalizePhone(phone *string, errs []apperr.FieldError) []apperr.FieldError {
	if !ValidText(*phone) {
		return append(errs, apperr.FieldError{Field: "phone", Message: textMessage})
	}
	*phone = strings.TrimSpace(*phone)
	if !ValidPhone(*phone) {
		return append(errs, apperr.FieldError{Field: "phone", Message: fmt.Sprintf("must be %d to %d characters of digits, spaces and + - ( ) . with at least one digit", MinPhoneLen, MaxPhoneLen)})
	}
	return errs
}

// ValidEmail reports whether s is a bare address ("ops@acme.com", no display name or angle brackets)
// that net/mail accepts, of at most MaxEmailLen bytes, all of them visible ASCII.
//
// Internationalized addresses (RFC 6531, "jörg@exämple.de") are refused, though net/mail accepts them:
// an address is the key that makes a customer unique, and a non-ASCII one has several spellings of one
// mailbox (composed and decomposed accents; a domain as Unicode or as its xn-- form) that would have to
// be normalized first, and mail to it needs SMTPUTF8 on every hop. A client with such a domain sends its
// xn-- form. The contract says the same: format email, ASCII only.
func ValidEmail(s string) bool {
	if s == "" || len(s) > MaxEmailLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

// ValidPhone reports whether s is MinPhoneLen..MaxPhoneLen characters of digits, spaces and + - ( ) .,
// holding at least one digit.
func ValidPhone(s string) bool {
	if len(s) < MinPhoneLen || len(s) > MaxPhoneLen {
		return false
	}
	digit := false
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digit = true
		case strings.ContainsRune(" +-().", r):
		default:
			return false
		}
	}
	return digit
}
