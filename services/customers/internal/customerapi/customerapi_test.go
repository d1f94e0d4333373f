package customerapi_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/b2b/backoffice/internal/apitest"
	"github.com/b2b/backoffice/internal/auth/authtest"
	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/web"
	"github.com/b2b/backoffice/services/customers"
	"github.com/b2b/backoffice/services/customers/internal/customer"
	"github.com/b2b/backoffice/services/customers/internal/customerapi"
	"github.com/b2b/backoffice/services/customers/internal/customerdb"
)

const token = "test-service-token-0123456789"

// api is customers-api on a fresh database, with every exchange checked against openapi.yaml.
type api struct {
	t  *testing.T
	c  *apitest.Contract
	db *dbtest.DB
	h  http.Handler
	// bearer is the access token do sends to public routes unless the request names its own.
	bearer string
}

func newAPI(t *testing.T, c *apitest.Contract) *api {
	t.Helper()
	db := dbtest.New(t, "customers")
	return &api{t: t, c: c, db: db, h: routes(db.DB, io.Discard), bearer: authtest.Operator(t)}
}

func routes(db *sql.DB, logs io.Writer) http.Handler {
	store := customerdb.New(db)
	return customerapi.Routes(logging.New(logs, customerapi.Service, "info"), customer.NewService(store), token, authtest.Verifier(), store.Ping, customers.OpenAPI)
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request; body is sent as application/json unless a Content-Type header is given, and
// a public route gets a.bearer unless an Authorization header is given (an empty one sends none).
func (a *api) do(method, path, body string, header ...string) response {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if !strings.HasPrefix(path, "/internal/") {
		req.Header.Set("Authorization", authtest.Bearer(a.bearer))
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
		if header[i+1] == "" {
			req.Header.Del(header[i])
		}
	}
	status, h, b := a.c.Do(a.t, a.h, req)
	if h.Get(web.CorrelationHeader) == "" {
		a.t.Errorf("%s %s: no %s in the response", method, path, web.CorrelationHeader)
	}
	return response{status, h, b}
}

type wireCustomer struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	Phone     *string   `json:"phone"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type wireList struct {
	Data       []wireCustomer `json:"data"`
	NextCursor *string        `json:"next_cursor"`
}

type wireError struct {
	Error struct {
		Code    string              `json:"code"`
		Message string              `json:"message"`
		Details []map[string]string `json:"details"`
	} `json:"error"`
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, r.body, err)
	}
	return v
}

// want asserts the status, and for errors the code.
func (r response) want(t *testing.T, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("got status %d, want %d; body %s", r.status, status, r.body)
	}
	if code != "" {
		e := decode[wireError](t, r)
		if e.Error.Code != code || e.Error.Message == "" {
			t.Fatalf("got error %+v, want code %s with a message", e.Error, code)
		}
	}
}

// wantFields asserts a 400 VALIDATION_FAILED naming exactly fields.
func (r response) wantFields(t *testing.T, fields ...string) {
	t.Helper()
	r.want(t, http.StatusBadRequest, "VALIDATION_FAILED")
	var got []string
	for _, d := range decode[wireError](t, r).Error.Details {
		if d["message"] == "" {
			t.Errorf("detail %v has no message", d)
		}
		got = append(got, d["field"])
	}
	if !slices.Equal(got, fields) {
		t.Fatalf("got invalid fields %q, want %q", got, fields)
	}
}

func (a *api) create(name, email string) wireCustomer {
	a.t.Helper()
	b, _ := json.Marshal(map[string]string{"name": name, "email": email})
	r := a.do(http.MethodPost, "/customers", string(b))
	r.want(a.t, http.StatusCreated, "")
	return decode[wireCustomer](a.t, r)
}

func (a *api) count(where string) int {
	a.t.Helper()
	var n int
	if err := a.db.QueryRow("SELECT COUNT(*) FROM customers WHERE " + where).Scan(&n); err != nil {
		a.t.Fatal(err)
	}
	return n
}

// walk follows next_cursor from the first page and returns every customer and the page sizes.
func (a *api) walk(query url.Values) ([]wireCustomer, []int) {
	a.t.Helper()
	var (
		all   []wireCustomer
		sizes []int
	)
	for cursor := ""; ; {
		q := url.Values{}
		for k, v := range query {
			q[k] = v
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		r := a.do(http.MethodGet, "/customers?"+q.Encode(), "")
		r.want(a.t, http.StatusOK, "")
		page := decode[wireList](a.t, r)
		all = append(all, page.Data...)
		sizes = append(sizes, len(page.Data))
		if page.NextCursor == nil {
			return all, sizes
		}
		if len(sizes) > 1000 {
			a.t.Fatal("paging does not end")
		}
		cursor = *page.NextCursor
	}
}

func ids(cs []wireCustomer) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func TestAPI(t *testing.T) {
	c := apitest.Load(t, customers.OpenAPI)
	t.Run("routes", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			fn   func(t *testing.T, c *apitest.Contract)
		}{
			{"create", testCreate},
			{"create rejects bad input", testCreateBadInput},
			{"a body that is not an object", testNotAnObject},
			{"text fields", testTextFields},
			{"email is ASCII", testEmailASCII},
			{"the contract agrees with the server", testContractAgreesWithServer},
			{"email taken", testEmailTaken},
			{"get", testGet},
			{"list paging", testListPaging},
			{"list bad paging", testListBadPaging},
			{"search", testSearch},
			{"update", testUpdate},
			{"update errors", testUpdateErrors},
			{"soft delete", testSoftDelete},
			{"internal", testInternal},
			{"health", testHealth},
			{"openapi", testOpenAPI},
			{"authentication", testAuthentication},
			{"scopes", testScopes},
			{"customer-bound token", testCustomerBound},
			{"audit", testAudit},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.fn(t, c)
			})
		}
	})
	t.Run("every operation exercised", func(t *testing.T) {
		if f := flag.Lookup("test.run"); f != nil && strings.Contains(f.Value.String(), "/") {
			t.Skip("only a part of the routes ran")
		}
		if got := c.Uncovered(); len(got) != 0 {
			t.Fatalf("operations of openapi.yaml no test called: %q", got)
		}
	})
}

func testCreate(t *testing.T, c *apitest.Contract) {
	a := newAPI(t, c)
	before := time.Now().UTC().Add(-time.Second)
	r := a.do(http.MethodPost, "/customers", `{"name":"  ACME Corp ","email":" Ops@ACME.com ","phone":" +1 (555) 010-0100 "}`)
	r.want(t, http.StatusCreated, "")
	got := decode[wireCustomer](t, r)
	if got.ID <= 0 || got.Name != "ACME Corp" || got.Email != "ops@acme.com" || got.Phone == nil || *got.Phone != "+1 (555) 010-0100" {
		t.Fatalf("got %+v, want trimmed name, lowercased email, trimmed phone", got)
	}
	if got.CreatedAt.Before(before) || !got.CreatedAt.Equal(got.UpdatedAt) || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("got created_at %v updated_at %v, want equal, recent, UTC", got.CreatedAt, got.UpdatedAt)
	}
	if !bytes.Contains(r.body, []byte(`"created_at":"`+got.CreatedAt.Format(time.RFC3339Nano)+`"`)) || !strings.HasSuffix(got.CreatedAt.Format(time.RFC3339Nano), "Z") {
		t.Fatalf("created_at is not RFC 3339 UTC in %s", r.body)
	}
	if loc := r.header.Get("Location"); loc != fmt.Sprintf("/customers/%d", got.ID) {
		t.Fatalf("got Location %q", loc)
	}
	var name, email string
	var phone sql.NullString
	if err := a.db.QueryRow("SELECT name, email, phone FROM customers WHERE id = ?", got.ID).Scan(&name, &email, &phone); err != nil {
		t.Fatal(err)
	}
	if name != "ACME Corp" || email != "ops@acme.com" || phone.String != "+1 (555) 010-0100" {
		t.Fatalf("row: got %q %q %q", name, email, phone.String)
	}

	// Without a phone (absent or null) the field is null, not missing.
	for _, body := range []string{`{"name":"Initech","email":"orders@initech.example"}`, `{"name":"Globex","email":"p@globex.example","phone":null}`} {
		r = a.do(http.MethodPost, "/customers", body)
		r.want(t, http.StatusCreated, "")
		if !bytes.Contains(r.body, []byte(`"phone":null`)) {
			t.Fatalf("got %s, want phone null", r.body)
		}
	}
	// Limits are inclusive: 200-character name (multi-byte letters count once), 254-character email.
	long := strings.Repeat("é", 200)
	email254 := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 184) + ".test"
	r = a.do(http.MethodPost, "/customers", fmt.Sprintf(`{"name":%q,"email":%q,"phone":"123"}`, long, email254))
	r.want(t, http.StatusCreated, "")
	if got := decode[wireCustomer](t, r); got.Name != long || got.Email != email254 {
		t.Fatalf("got %+v", got)
	}
}

func testCreateBadInput(t *testing.T, c *apitest.Contract) {
	a := newAPI(t, c)
	big := `{"name":"` + strings.Repeat("x", 2<<20) + `","email":"a@b.example"}`
	for _, tc := range []struct {
		name, body, contentType string
		status                  int
		code                    string
		fields                  []string
	}{
		{"malformed json", `{"name":`, "", 400, "INVALID_JSON", nil},
		{"not an object", `[1,2]`, "", 400, "INVALID_JSON", nil},
		{"empty body", ``, "application/json", 400, "INVALID_JSON", nil},
		{"trailing data", `{"name":"A","email":"a@b.example"} {}`, "", 400, "INVALID_JSON", nil},
		{"unknown field", `{"name":"A","email":"a@b.example","vip":true}`, "", 400, "VALIDATION_FAILED", []string{"vip"}},
		{"wrong type", `{"name":5,"email":"a@b.example"}`, "", 400, "VALIDATION_FAILED", []string{"name"}},
		{"empty name", `{"name":"","email":"a@b.example"}`, "", 400, "VALIDATION_FAILED", []string{"name"}},
		{"blank name", `{"name":"   ","email":"a@b.example"}`, "", 400, "VALIDATION_FAILED", []string{"name"}},
		{"name too long", `{"name":"` + strings.Repeat("n", 201) + `","email":"a@b.example"}`, "", 400, "VALIDATION_FAILED", []string{"name"}},
		{"missing email", `{"name":"A"}`, "", 400, "VALIDATION_FAILED", []string{"email"}},
		{"invalid email", `{"name":"A","email":"not-an-email"}`, "", 400, "VALIDATION_FAILED", []string{"email"}},
		{"email with display name", `{"name":"A","email":"Bob <bob@b.example>"}`, "", 400, "VALIDATION_FAILED", []string{"email"}},
		{"email too long", `{"name":"A","email":"` + strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + `.test"}`, "", 400, "VALIDATION_FAILED", []string{"email"}},
		{"phone letters", `{"name":"A","email":"a@b.example","phone":"call me"}`, "", 400, "VALIDATION_FAILED", []string{"phone"}},
		{"phone too short", `{"name":"A","email":"a@b.example","phone":"12"}`, "", 400, "VALIDATION_FAILED", []string{"phone"}},
		{"phone too long", `{"name":"A","email":"a@b.example","phone":"` + strings.Repeat("1", 33) + `"}`, "", 400, "VALIDATION_FAILED", []string{"phone"}},
		{"every field wrong", `{"name":"","email":"x","phone":"?"}`, "", 400, "VALIDATION_FAILED", []string{"name", "email", "phone"}},
		{"2 MiB body", big, "", 413, "PAYLOAD_TOO_LARGE", nil},
		{"text/plain", `{"name":"A","email":"a@b.example"}`, "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE", nil},
		{"form", `name=A`, "application/x-www-form-urlencoded", 415, "UNSUPPORTED_MEDIA_TYPE", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.contentType != "" {
				hdr = []string{"Content-Type", tc.contentType}
			}
			r := a.do(http.MethodPost, "/customers", tc.body, hdr...)
			if tc.fields != nil {
				r.wantFields(t, tc.fields...)
			} else {
				r.want(t, tc.status, tc.code)
			}
		})
	}
	t.Run("missing content type", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/customers", strings.NewReader(`{"name":"A","email":"a@b.example"}`))
		req.Header.Set("Authorization", authtest.Bearer(a.bearer))
		status, _, body := c.Do(t, a.h, req)
		response{status: status, body: body}.want(t, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
	})
	if n := a.count("1=1"); n != 0 {
		t.Fatalf("got %d rows after only bad requests, want 0", n)
	}
}

func testEmailTaken(t *testing.T, c *apitest.Contract) {
	a := newAPI(t, c)
	a.create("ACME Corp", "ops@acme.com")
	// Emails are compared lowercased.
	a.do(http.MethodPost, "/customers", `{"name":"Other","email":"OPS@acme.com"}`).want(t, http.StatusConflict, "EMAIL_TAKEN")

	// Concurrent registrations of one email: the unique key, not a prior read, decides, so exactly one wins.
	const n = 8
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := httptest.NewRequest(http.MethodPost, "/customers", strings.NewReader(fmt.Sprintf(`{"name":"Racer %d","email":"race@x.example"}`, i)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", authtest.Bearer(a.bearer))
			status, _, body := c.Do(t, a.h, req)
			if status == http.StatusConflict && !bytes.Contains(body, []byte(`"EMAIL_TAKEN"`)) {
				t.Errorf("409 without EMAIL_TAKEN: %s", body)
			}
			mu.Lock()
			statuses[status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[http.StatusCreated] != 1 || statuses[http.StatusConflict] != n-1 {
		t.Fatalf("got statuses %v, want one 201 and %d 409", statuses, n-1)
	}
	if got := a.count("email = 'race@x.example'"); got != 1 {
		t.Fatalf("got %d rows with the email, want 1", got)
	}
}

func testGet(t *testing.T, c *apitest.Contract) {
	a := newAPI(t, c)
	created := a.do(http.MethodPost, "/customers", `{"name":"ACME Corp","email":"ops@acme.com","phone":"+1-555-0100"}`)
	created.want(t, http.StatusCreated, "")
	want := decode[wireCustomer](t, created)

	r := a.do(http.MethodGet, fmt.Sprintf("/customers/%d", want.ID), "")
	r.want(t, http.StatusOK, "")
	if !bytes.Equal(r.body, created.body) {
		t.Fatalf("GET body\n%s\nwant the body POST returned\n%s", r.body, created.body)
	}
	a.do(http.MethodGet, "/customers/999999", "").want(t, http.StatusNotFound, "CUSTOMER_NOT_FOUND")
	for _, id := range []string{"abc", "0", "-1", "1.5", "99999999999999999999"} {
		a.do(http.MethodGet, "/customers/"+id, "").wantFields(t, "id")
	}
	// The correlation id of the request comes back.
	r = a.do(http.MethodGet, fmt.Sprintf("/customers/%d", want.ID), "", web.CorrelationHeader, "corr-123")
	if got := r.header.Get(web.CorrelationHeader); got != "corr-123" {
		t.Fatalf("got correlation id %q, want corr-123", got)
	}
}

func testListPaging(t *testing.T, c *apitest.Contract) {
	a := newAPI(t, c)
	var live []int64
	for i := range 23 {
		cu := a.create(fmt.Sprintf("Customer %02d", i), fmt.Sprintf("c%02d@x.example", i))
		live = append(live, cu.ID)
	}
	// Deleted customers are skipped, also at a page boundary.
	for _, i := range []int{0, 6, 7, 22} {
		a.do(http.MethodDelete, fmt.Sprintf("/customers/%d", live[i]), "").want(t, http.StatusNoContent, "")
	}
	live = slices.DeleteFunc(live, func(id int64) bool {
		return slices.Contains([]int64{live[0], live[6], live[7], live[22]}, id)
	})
	if len(live) != 19 {
		t.Fatalf("setup: %d live", len(live))
	}
	for _, limit := range []int{1, 2, 3, 7, 19, 20, 100} {
		got, sizes := a.walk(url.Values{"limit": {fmt.Sprint(limit)}})
		if !slices.Equal(ids(got), live) {
			t.Fatalf("limit %d: got ids %v, want each live id once in order %v", limit, ids(got), live)
		}
		wantPages := (len(live) + limit - 1) / limit
		if len(sizes) != wantPages || sizes[len(sizes)-1] == 0 {
			t.Fatalf("limit %d: got page sizes %v, want %d pages and no empty last page", limit, sizes, wantPages)
		}
	}
	// Default limit is 20.
	r := a.do(http.MethodGet, "/customers", "")
	r.want(t, http.StatusOK, "")
	if page := decode[wireList](t, r); len(page.Data) != 19 || page.NextCursor != nil {
		t.Fatalf("default page: got %d rows, cursor %v", len(page.Data), page.NextCursor)
	}
	// Exactly a multiple of the limit: the last full page already says there is no more.
	a.create("Customer 23", "c23@x.example")
	got, sizes := a.walk(url.Values{"limit": {"5"}})
	if len(got) != 20 || !slices.Equal(sizes, []int{5, 5, 5, 5}) {
		t.Fatalf("got page sizes %v (%d rows), want 4 pages of 5 and no trailing empty page", sizes, len(got))
	}
	// The empty list is a page too.
	b := newAPI(t, c)
	r = b.do(http.MethodGet, "/customers", "")
	r.want(t, http.StatusOK, "")
	if string(r.body) != `{"data":[],"next_cursor":null}` {
		t.Fatalf("empty list: got %s", r.body)
	}
}

func testListBadPaging(t *testing.T, c *apitest.Contract) {
	a := newAPI(t, c)
	for i := range 3 {
		a.create(fmt.Sprint("C ", i), fmt.Sprintf("c%d@x.example", i))
	}
	for _, limit := range []string{"0", "101", "abc", "-1", "1.5"} {
		a.do(http.MethodGet, "/customers?limit="+limit, "").wantFields(t, "limit")
	}
	r := a.do(http.MethodGet, "/customers?limit=1", "")
	cursor := *decode[wireList](t, r).NextCursor
	tampered := []byte(cursor)
	tampered[3] ^= 1
	if tampered[3] == '-' || tampered[3] == '_' || tampered[3] < '0' {
		tampered[3] = 'A'
	}
	for _, bad := range []string{string(tampered), cursor + "A", cursor[:len(cursor)-1], "not-a-cursor", "MTIz", web.EncodeCursor(1)[:5]} {
		a.do(http.MethodGet, "/customers?cursor="+url.QueryEscape(bad), "").want(t, http.StatusBadRequest, "INVALID_CURSOR")
	}
	a.do(http.MethodGet, "/customers?search="+strings.Repeat("s", 201), "").wantFields(t, "search")
}

func testSearch(t *testing.T, c *apitest.Contract) {
	a := newAPI(t, c)
	mk := func(name, email string) int64 { return a.create(name, email).ID }
	widgetsName := mk("Alpha WIDGETS Ltd", "sales@alpha.example")
	_ = mk("Beta Corp", "buyers@beta.example")
	widgetsEmail := mk("Gamma Inc", "orders@widgets-gamma.example")
	widgetsBoth := mk("Widget World", "hello@widget.example")
	_ = mk("Delta", "delta@delta.example")
	deleted := mk("Deleted Widgets", "gone@deleted.example")
	pct := mk("100% Cotton", "cotton@percent.example")
	_ = mk("100 Cotton", "cotton@plain.example")
	under := mk("snake_case Co", "snake@under.example")
	_ = mk("snakeXcase Co", "snake@x.example")
	back := mk(`Back\slash`, "back@slash.example")
	_ = mk("BackXslash", "back@x.example")
	bang := mk("Bang! Corp", "bang@bang.example")
	a.do(http.MethodDelete, fmt.Sprintf("/customers/%d", deleted), "").want(t, http.StatusNoContent, "")

	for _, tc := range []struct {
		search string
		want   []int64
	}{
		{"widget", []int64{widgetsName, widgetsEmail, widgetsBoth}},
		{"WiDgEt", []int64{widgetsName, widgetsEmail, widgetsBoth}},
		{"  widget  ", []int64{widgetsName, widgetsEmail, widgetsBoth}},
		{"WIDGETS-GAMMA.EXAMPLE", []int64{widgetsEmail}},
		{"%", []int64{pct}},
		{"100%", []int64{pct}},
		{"_", []int64{under}},
		{`\`, []int64{back}},
		{`k\s`, []int64{back}},
		{"!", []int64{bang}},
		{"no such customer", nil},
	} {
		for _, limit := range []int{1, 2, 20} {
			got, _ := a.walk(url.Values{"search": {tc.search}, "limit": {fmt.Sprint(limit)}})
			if !slices.Equal(ids(got), tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Fatalf("search %q limit %d: got %v, want %v", tc.search, limit, ids(got), tc.want)
			}
		}
	}
}

func testUpdate(t *testing.T, c *apitest.Contract) {
	a := newAPI(t, c)
	r := a.do(http.MethodPost, "/customers", `{"name":"ACME","email":"ops@acme.com","phone":"+1-555-0100"}`)
	orig := decode[wireCustomer](t, r)
	path := fmt.Sprintf("/customers/%d", orig.ID)

	steps := []struct {
		body                 string
		name, email          string
		phone                *string
		wantUnchangedPhoneOf bool
	}{
		{`{"name":"  ACME Corp "}`, "ACME Corp", "ops@acme.com", ptr("+1-555-0100"), false},
		{`{"email":"Billing@ACME.com"}`, "ACME Corp", "billing@acme.com", ptr("+1-555-0100"), false},
		{`{"phone":"(555) 999.0000"}`, "ACME Corp", "billing@acme.com", ptr("(555) 999.0000"), false},
		{`{"phone":null}`, "ACME Corp", "billing@acme.com", nil, false},
		{`{"name":"ACME","email":"ops@acme.com","phone":"123"}`, "ACME", "ops@acme.com", ptr("123"), false},
		// Setting its own email again is no conflict.
		{`{"email":"ops@acme.com"}`, "ACME", "ops@acme.com", ptr("123"), false},
	}
	prev := orig
	for _, s := range steps {
		r := a.do(http.MethodPut, path, s.body)
		r.want(t, http.StatusOK, "")
		got := decode[wireCustomer](t, r)
		if got.ID != orig.ID || got.Name != s.name || got.Email != s.email || !equalPtr(got.Phone, s.phone) {
			t.Fatalf("after %s: got %+v, want name %q email %q phone %v", s.body, got, s.name, s.email, s.phone)
		}
		if !got.CreatedAt.Equal(orig.CreatedAt) || got.UpdatedAt.Before(prev.UpdatedAt) {
			t.Fatalf("after %s: created_at %v (was %v), updated_at %v (was %v)", s.body, got.CreatedAt, orig.CreatedAt, got.UpdatedAt, prev.UpdatedAt)
		}
		// The change is stored, not only echoed.
		g := a.do(http.MethodGet, path, "")
		if !bytes.Equal(g.body, r.body) {
			t.Fatalf("GET after PUT: got %s, want %s", g.body, r.body)
		}
		prev = got
	}
	var phone sql.NullString
	if err := a.db.QueryRow("SELECT phone FROM customers WHERE id = ?", orig.ID).Scan(&phone); err != nil || phone.String != "123" {
		t.Fatalf("row phone: %v %v", phone, err)
	}
}

func testUpdateErrors(t *testing.T, c *apitest.Contract) {
	a := newAPI(t, c)
	one := a.create("One", "one@x.example")
	a.create("Two", "two@x.example")
	gone := a.create("Gone", "gone@x.example")
	a.do(http.MethodDelete, fmt.Sprintf("/customers/%d", gone.ID), "").want(t, http.StatusNoContent, "")
	path := fmt.Sprintf("/customers/%d", one.ID)

	a.do(http.MethodPut, path, `{"email":"TWO@x.example"}`).want(t, http.StatusConflict, "EMAIL_TAKEN")
	// A deleted customer's email is free.
	r := a.do(http.MethodPut, path, `{"email":"gone@x.example"}`)
	r.want(t, http.StatusOK, "")
	a.do(http.MethodPut, "/customers/999999", `{"name":"X"}`).want(t, http.StatusNotFound, "CUSTOMER_NOT_FOUND")
	a.do(http.MethodPut, fmt.Sprintf("/customers/%d", gone.ID), `{"name":"X"}`).want(t, http.StatusNotFound, "CUSTOMER_NOT_FOUND")
	a.do(http.MethodPut, "/customers/abc", `{"name":"X"}`).wantFields(t, "id")
	a.do(http.MethodPut, path, `{"name":""}`).wantFields(t, "name")
	a.do(http.MethodPut, path, `{"name":null}`).wantFields(t, "name")
	a.do(http.MethodPut, path, `{"email":null,"name":null}`).wantFields(t, "name", "email")
	a.do(http.MethodPut, path, `{"email":"nope"}`).wantFields(t, "email")
	a.do(http.MethodPut, path, `{"phone":"x"}`).wantFields(t, "phone")
	a.do(http.MethodPut, path, `{"phone":12345}`).wantFields(t, "phone")
	a.do(http.MethodPut, path, `{"id":7}`).wantFields(t, "id")
	a.do(http.MethodPut, path, `{}`).wantFields(t, "body")
	a.do(http.MethodPut, path, `{"name":`).want(t, http.StatusBadRequest, "INVALID_JSON")
	a.do(http.MethodPut, path, `{"name":"A"}`, "Content-Type", "text/plain").want(t, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
	a.do(http.MethodPut, path, `{"name":"`+strings.Repeat("x", 2<<20)+`"}`).want(t, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")

	// Nothing of the failed updates reached the row.
	g := decode[wireCustomer](t, a.do(http.MethodGet, path, ""))
	if g.Name != "One" || g.Email != "gone@x.example" || g.Phone != nil {
		t.Fatalf("got %+v after failed updates", g)
	}
}

func testSoftDelete(t *testing.T, c *apitest.Contract) {
	a := newAPI(t, c)
	keep := a.create("Keep", "keep@x.example")
	gone := a.create("Gone", "ops@acme.com")
	path := fmt.Sprintf("/customers/%d", gone.ID)

	r := a.do(http.MethodDelete, path, "")
	r.want(t, http.StatusNoContent, "")
	if len(r.body) != 0 {
		t.Fatalf("204 with body %q", r.body)
	}
	a.do(http.MethodGet, path, "").want(t, http.StatusNotFound, "CUSTOMER_NOT_FOUND")
	a.do(http.MethodGet, "/internal"+path, "", "Authorization", "Bearer "+token).want(t, http.StatusNotFound, "CUSTOMER_NOT_FOUND")
	a.do(http.MethodDelete, path, "").want(t, http.StatusNotFound, "CUSTOMER_NOT_FOUND")
	a.do(http.MethodDelete, "/customers/999999", "").want(t, http.StatusNotFound, "CUSTOMER_NOT_FOUND")
	a.do(http.MethodDelete, "/customers/x", "").wantFields(t, "id")

	all, _ := a.walk(url.Values{})
	if !slices.Equal(ids(all), []int64{keep.ID}) {
		t.Fatalf("list after delete: got %v, want only %d", ids(all), keep.ID)
	}
	if found, _ := a.walk(url.Values{"search": {"acme"}}); len(found) != 0 {
		t.Fatalf("search finds the deleted customer: %v", ids(found))
	}
	// Soft: the row is still there, marked deleted.
	if n := a.count(fmt.Sprintf("id = %d AND deleted_at IS NOT NULL", gone.ID)); n != 1 {
		t.Fatalf("got %d deleted rows, want 1", n)
	}
	// The email is free again, for a new customer with a new id.
	again := a.create("ACME again", "OPS@acme.com")
	if again.ID == gone.ID || again.Email != "ops@acme.com" {
		t.Fatalf("re-registered: got %+v", again)
	}
	// Deleting the new one too leaves two deleted rows with one email.
	a.do(http.MethodDelete, fmt.Sprintf("/customers/%d", again.ID), "").want(t, http.StatusNoContent, "")
	if n := a.count("email = 'ops@acme.com' AND deleted_at IS NOT NULL"); n != 2 {
		t.Fatalf("got %d deleted rows with the email, want 2", n)
	}
}

func testInternal(t *testing.T, c *apitest.Contract) {
	a := newAPI(t, c)
	cu := a.do(http.MethodPost, "/customers", `{"name":"ACME Corp","email":"ops@acme.com"}`)
	id := decode[wireCustomer](t, cu).ID
	path := fmt.Sprintf("/internal/customers/%d", id)

	for _, tc := range []struct {
		name   string
		header []string
	}{
		{"no header", nil},
		{"wrong token, same length", []string{"Authorization", "Bearer " + strings.Repeat("x", len(token))}},
		{"wrong token, shorter", []string{"Authorization", "Bearer " + token[:5]}},
		{"wrong token, longer", []string{"Authorization", "Bearer " + token + "x"}},
		{"empty bearer", []string{"Authorization", "Bearer "}},
		{"other scheme", []string{"Authorization", "Basic " + token}},
		{"token without scheme", []string{"Authorization", token}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.do(http.MethodGet, path, "", tc.header...)
			r.want(t, http.StatusUnauthorized, "UNAUTHORIZED")
			if r.header.Get("WWW-Authenticate") != "Bearer" {
				t.Fatalf("got WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
	auth := []string{"Authorization", "Bearer " + token}
	r := a.do(http.MethodGet, path, "", auth...)
	r.want(t, http.StatusOK, "")
	if !bytes.Equal(r.body, cu.body) {
		t.Fatalf("internal GET: got %s, want %s", r.body, cu.body)
	}
	a.do(http.MethodGet, "/internal/customers/999999", "", auth...).want(t, http.StatusNotFound, "CUSTOMER_NOT_FOUND")
	a.do(http.MethodGet, "/internal/customers/abc", "", auth...).wantFields(t, "id")
	// Unauthenticated callers learn nothing, not even whether the id exists.
	a.do(http.MethodGet, "/internal/customers/999999", "").want(t, http.StatusUnauthorized, "UNAUTHORIZED")
}

func testHealth(t *testing.T, c *apitest.Contract) {
	a := newAPI(t, c)
	r := a.do(http.MethodGet, "/health", "")
	r.want(t, http.StatusOK, "")
	if string(r.body) != `{"checks":{"db":"ok"},"service":"customers-api","status":"ok"}` {
		t.Fatalf("got %s", r.body)
	}

	down := func(name string, db *sql.DB) {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/health", nil)
			status, _, body := c.Do(t, routes(db, io.Discard), req)
			if status != http.StatusServiceUnavailable || string(body) != `{"checks":{"db":"down"},"service":"customers-api","status":"degraded"}` {
				t.Fatalf("got %d %s, want 503 with db down", status, body)
			}
		})
	}
	// A pool that was closed.
	closed := dbtest.New(t, "customers")
	closed.Close()
	down("closed pool", closed.DB)

	// A server that is not there (nothing listens on the port).
	l := httptest.NewUnstartedServer(nil).Listener
	addr := l.Addr().String()
	l.Close()
	mc := mysql.NewConfig()
	mc.Net, mc.Addr, mc.User, mc.Timeout = "tcp", addr, "backoffice", time.Second
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		t.Fatal(err)
	}
	gone := sql.OpenDB(conn)
	defer gone.Close()
	down("unreachable server", gone)

	// A database dropped under a running service: its pooled connections still answer a ping, so the
	// check has to touch the customers table.
	dropped := dbtest.New(t, "customers")
	if _, err := a.db.ExecContext(context.Background(), "DROP DATABASE `"+dropped.Name+"`"); err != nil {
		t.Fatalf("drop %s: %v", dropped.Name, err)
	}
	down("dropped database", dropped.DB)
}

func testOpenAPI(t *testing.T, c *apitest.Contract) {
	a := newAPI(t, c)
	r := a.do(http.MethodGet, "/openapi.yaml", "")
	r.want(t, http.StatusOK, "")
	if !bytes.Equal(r.body, customers.OpenAPI) || r.header.Get("Content-Type") != "application/yaml" {
		t.Fatalf("got %s (%d bytes), want the embedded document as application/yaml", r.header.Get("Content-Type"), len(r.body))
	}
	// What is served is itself a valid OpenAPI 3.0 document.
	apitest.Load(t, r.body)
}

func ptr(s string) *string { return &s }

func equalPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}
