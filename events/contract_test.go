package events_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/asyncapitest"
	"github.com/b2b/backoffice/internal/auth/authtest"
	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/internal/proctest"
	"github.com/b2b/backoffice/internal/sqstest"
)

func TestMain(m *testing.M) { proctest.Main(m) }

const token = "contract-test-token"

// operator is the access token of the REST calls, signed once the test starts.
var operator string

// TestRealEventsMatchTheContract drives the real orders-api and orders-worker binaries through every
// kind of change (created, confirmed, canceled before and after confirmation, and PlaceOrder commands
// rejected for each business reason), then checks every event they wrote to the outbox, payload and
// message attributes, against events/asyncapi.yaml. The document can therefore not drift from the code:
// an undocumented field, a changed type or a missing attribute fails here.
func TestRealEventsMatchTheContract(t *testing.T) {
	contract := asyncapitest.Load(t, events.AsyncAPI)
	operator = authtest.Operator(t)
	customersDB, ordersDB := dbtest.New(t, "customers"), dbtest.New(t, "orders")
	sqs := sqstest.Start(t, "order-commands")

	customers := start(t, "customers-api", append(authtest.Env(), "PORT=0", "DB_DSN="+customersDB.DSN, "SERVICE_TOKEN="+token)...)
	orders := start(t, "orders-api", append(authtest.Env(), "PORT=0", "DB_DSN="+ordersDB.DSN, "SERVICE_TOKEN="+token, "CUSTOMERS_API_BASE="+customers.url)...)
	c := sqs.Config()
	start(t, "orders-worker", "DB_DSN="+ordersDB.DSN, "SERVICE_TOKEN="+token, "CUSTOMERS_API_BASE="+customers.url,
		"AWS_REGION="+c.Region, "AWS_ENDPOINT_URL="+c.Endpoint, "AWS_ACCESS_KEY_ID="+c.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+c.SecretAccessKey,
		"ORDER_COMMANDS_QUEUE=order-commands", "ORDER_COMMANDS_VISIBILITY_TIMEOUT=2s", "WORKER_ADMIN_ADDR=127.0.0.1:0")

	customer := post(t, customers.url+"/customers", `{"name":"Contract Corp","email":"contract@example.com"}`, 201)["id"]
	plenty := post(t, orders.url+"/products", `{"sku":"C-1","name":"Plenty","price_cents":1250,"stock":1000}`, 201)["id"]
	scarce := post(t, orders.url+"/products", `{"sku":"C-2","name":"Scarce","price_cents":99900,"stock":1}`, 201)["id"]
	order := func(qty int) string {
		return fmt.Sprint(post(t, orders.url+"/orders", fmt.Sprintf(`{"customer_id":%v,"items":[{"product_id":%v,"qty":%d},{"product_id":%v,"qty":1}]}`, customer, plenty, qty, scarce), 201)["id"])
	}
	// Created, confirmed, then canceled within the window.
	a := order(2)
	post(t, orders.url+"/orders/"+a+"/confirm", "", 200, "X-Idempotency-Key", "confirm-a")
	post(t, orders.url+"/orders/"+a+"/cancel", "", 200)
	// Created, then canceled before any confirmation.
	b := order(3)
	post(t, orders.url+"/orders/"+b+"/cancel", "", 200)
	// Created and confirmed.
	post(t, orders.url+"/orders/"+order(1)+"/confirm", "", 200, "X-Idempotency-Key", "confirm-c")

	// PlaceOrder commands for the worker: one it confirms, and one rejected for each business reason.
	for key, cmd := range map[string]struct {
		customer any
		items    []events.LineItem
	}{
		"place-ok":           {customer, []events.LineItem{{ProductID: toInt(plenty), Qty: 4}}},
		"place-no-product":   {customer, []events.LineItem{{ProductID: 424242, Qty: 1}, {ProductID: toInt(plenty), Qty: 1}}},
		"place-short":        {customer, []events.LineItem{{ProductID: toInt(scarce), Qty: 5}}},
		"place-no-customer":  {int64(9999), []events.LineItem{{ProductID: toInt(plenty), Qty: 1}}},
		"place-invalid-line": {customer, []events.LineItem{{ProductID: toInt(plenty), Qty: 0}}},
	} {
		body, _ := json.Marshal(events.PlaceOrder{IdempotencyKey: key, CustomerID: toInt(cmd.customer), Items: cmd.items,
			RequestHash: events.RequestHash(toInt(cmd.customer), cmd.items), CorrelationID: "corr-" + key, RequestedAt: time.Now().UTC(),
			Actor: "orchestrator-caller"})
		sqs.Send(t, "order-commands", string(body), map[string]string{events.MetaCorrelationID: "corr-" + key, events.MetaIdempotencyKey: key})
	}

	// 3 + 2 + 2 events from the REST calls, 2 from the confirmed command, 4 rejections.
	const want = 13
	deadline := time.Now().Add(60 * time.Second)
	var n int
	for {
		if err := ordersDB.QueryRow("SELECT COUNT(*) FROM outbox").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n != want {
		t.Fatalf("outbox: %d events, want %d", n, want)
	}

	rows, err := ordersDB.Query("SELECT `uuid`, `payload`, `metadata` FROM outbox ORDER BY `offset`")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type stored struct {
		payload []byte
		attrs   map[string]string
	}
	var all []stored
	types := map[string]int{}
	actors := map[string]int{}
	codes := map[string]bool{}
	for rows.Next() {
		var uuid string
		var payload, metadata []byte
		if err := rows.Scan(&uuid, &payload, &metadata); err != nil {
			t.Fatal(err)
		}
		// On the queue the metadata are the message attributes, with the message uuid beside them.
		attrs := map[string]string{}
		if err := json.Unmarshal(metadata, &attrs); err != nil {
			t.Fatalf("outbox metadata %s: %v", metadata, err)
		}
		attrs["_watermill_message_uuid"] = uuid
		if err := contract.Validate(payload, attrs); err != nil {
			t.Errorf("event %s does not match events/asyncapi.yaml:\n%v\npayload %s\nattributes %v", uuid, err, payload, attrs)
		}
		var env events.Envelope
		_ = json.Unmarshal(payload, &env)
		types[env.Type]++
		actors[env.Actor]++
		if env.Type == events.OrderRejected {
			var r events.Rejected
			_ = json.Unmarshal(env.Data, &r)
			codes[r.Error.Code] = true
		}
		all = append(all, stored{payload, attrs})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got := contract.Uncovered(); len(got) != 0 {
		t.Errorf("messages of the document no real event exercised: %v", got)
	}
	if types[events.OrderCreated] != 4 || types[events.OrderConfirmed] != 3 || types[events.OrderCanceled] != 2 || types[events.OrderRejected] != 4 {
		t.Errorf("event types: got %v", types)
	}
	// Every event says who made its change: the REST calls' token subject, the commands' actor.
	if want := map[string]int{authtest.OperatorSubject: 7, "orchestrator-caller": 6}; !maps.Equal(actors, want) {
		t.Errorf("actors of the events: got %v, want %v", actors, want)
	}
	for _, code := range []string{"PRODUCT_NOT_FOUND", "INSUFFICIENT_STOCK", "CUSTOMER_NOT_FOUND", "VALIDATION_FAILED"} {
		if !codes[code] {
			t.Errorf("no order.rejected with %s among %v", code, codes)
		}
	}

	// The check can fail: real events, broken the ways drift would break them, are refused.
	for _, tc := range []struct {
		name string
		edit func(env, data map[string]any, attrs map[string]string)
	}{
		{"a field the document does not list", func(env, _ map[string]any, _ map[string]string) { env["tenant"] = "acme" }},
		{"an empty actor", func(env, _ map[string]any, _ map[string]string) { env["actor"] = "" }},
		{"a data field missing", func(_, data map[string]any, _ map[string]string) { delete(data, "total_cents") }},
		{"a renamed event type", func(env, _ map[string]any, attrs map[string]string) {
			env["type"] = "order.cancelled"
			attrs["event_type"] = "order.cancelled"
		}},
		{"an attribute that disagrees with the envelope", func(_, _ map[string]any, attrs map[string]string) { attrs["aggregate_version"] = "7" }},
		{"an attribute missing", func(_, _ map[string]any, attrs map[string]string) { delete(attrs, "aggregate_id") }},
	} {
		var env map[string]any
		for _, s := range all {
			_ = json.Unmarshal(s.payload, &env)
			if env["type"] == events.OrderCanceled {
				attrs := map[string]string{}
				for k, v := range s.attrs {
					attrs[k] = v
				}
				tc.edit(env, env["data"].(map[string]any), attrs)
				b, _ := json.Marshal(env)
				if err := contract.Validate(b, attrs); err == nil {
					t.Errorf("%s: a broken event passed validation", tc.name)
				}
				break
			}
		}
	}
}

func toInt(v any) int64 {
	switch n := v.(type) {
	case float64:
		return int64(n)
	case int64:
		return n
	}
	panic(fmt.Sprintf("not a number: %v", v))
}

// post sends a JSON POST (an empty body sends none) and returns the decoded answer, failing unless the
// status is want. headers come in name, value pairs.
func post(t *testing.T, url, body string, want int, headers ...string) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(http.MethodPost, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-Correlation-Id", "contract-"+strings.ReplaceAll(strings.TrimPrefix(url, "http://"), "/", "-"))
	req.Header.Set("Authorization", authtest.Bearer(operator))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("POST %s: got %d %s, want %d", url, resp.StatusCode, b, want)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// process is a started binary; url is set for those that listen.
type process struct {
	url  string
	logs *proctest.Buffer
}

// start builds (once) and runs the named command of the repository with env, stops it when the test
// ends, and for a process given PORT=0 waits for its "listening" line to learn its address.
func start(t *testing.T, name string, env ...string) *process {
	t.Helper()
	pkg := map[string]string{
		"customers-api": "github.com/b2b/backoffice/services/customers/cmd/customers-api",
		"orders-api":    "github.com/b2b/backoffice/services/orders/cmd/orders-api",
		"orders-worker": "github.com/b2b/backoffice/services/orders/cmd/orders-worker",
	}[name]
	p := &process{logs: &proctest.Buffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, proctest.Build(t, pkg))
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "DB_CONNECT_TIMEOUT=5s", "LOG_LEVEL=info"}, env...)
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cancel()
			<-done
		}
		cancel()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.logs.String())
		}
	})
	if !bytes.Contains([]byte(strings.Join(env, "\n")), []byte("PORT=0")) {
		return p
	}
	deadline := time.Now().Add(30 * time.Second)
	for p.url == "" {
		select {
		case <-done:
			t.Fatalf("%s exited:\n%s", name, p.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start:\n%s", name, p.logs.String())
		}
		for _, line := range p.logs.Lines() {
			var m struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &m) == nil && m.Msg == "listening" {
				_, port, _ := net.SplitHostPort(m.Addr)
				p.url = "http://127.0.0.1:" + port
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}
