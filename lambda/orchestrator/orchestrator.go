// Package orchestrator is the create-and-confirm endpoint: it validates the customer synchronously, hands
// the order to orders-api as a PlaceOrder command on SQS, and waits for the final answer. It is a plain
// net/http handler; cmd/lambda serves it behind API Gateway, cmd/local on a local port.
package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/customerclient"
	"github.com/b2b/backoffice/internal/identity"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/queue"
	"github.com/b2b/backoffice/internal/web"
)

// Paths the endpoint answers on: API Gateway passes the path with or without its stage prefix depending on
// how the API is reached, and the local runner mirrors the deployed URL.
const (
	Path      = "/orchestrator/create-and-confirm-order"
	StagePath = "/dev" + Path
)

// Handler serves create-and-confirm.
type Handler struct {
	cfg       Config
	customers *customerclient.Client
	orders    orders
	pub       message.Publisher
	now       func() time.Time
	observer  Observer // nil: nobody is told
}

// New returns the handler. pub publishes PlaceOrder commands to the queue named cfg.Queue; client makes the
// calls to customers-api and orders-api (nil means a default client). It fails on a base URL that is
// not one.
func New(cfg Config, pub message.Publisher, client *http.Client) (*Handler, error) {
	cfg = cfg.withDefaults()
	if client == nil {
		client = &http.Client{Transport: http.DefaultTransport}
	}
	customers, err := customerclient.New(cfg.CustomersBase, cfg.ServiceToken, cfg.UpstreamTimeout, client)
	if err != nil {
		return nil, fmt.Errorf("CUSTOMERS_API_BASE %w", err)
	}
	ordersClient, err := web.NewServiceClient(cfg.OrdersBase, cfg.ServiceToken, cfg.UpstreamTimeout, client)
	if err != nil {
		return nil, fmt.Errorf("ORDERS_API_BASE %w", err)
	}
	return &Handler{cfg: cfg, customers: customers, orders: orders{ordersClient}, pub: pub, now: time.Now}, nil
}

// Routes returns the whole HTTP surface: create-and-confirm on both paths and GET /health, behind the
// shared middleware with the endpoint's own response envelope.
func Routes(h *Handler, log *slog.Logger) http.Handler {
	r := web.NewRouter(log, web.WithErrorRenderer(errorBody))
	r.Post(Path, h.CreateAndConfirm)
	r.Post(StagePath, h.CreateAndConfirm)
	r.Get("/health", web.Health("orchestrator", nil))
	return r
}

// CreateAndConfirm is POST /orchestrator/create-and-confirm-order.
func (h *Handler) CreateAndConfirm(w http.ResponseWriter, r *http.Request) {
	start := h.now()
	rec := &web.Recorder{ResponseWriter: w}
	defer h.answered(rec)
	w = rec
	who, err := caller(w, r)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	var body CreateRequest
	if err := web.Decode(w, r, &body); err != nil {
		web.Error(w, r, err)
		return
	}
	if body.CorrelationID != nil && web.ValidCorrelationID(*body.CorrelationID) {
		// The body's correlation id wins over the header's: it is the documented way to pass one.
		r = web.SetCorrelationID(w, r, *body.CorrelationID)
	}
	req, err := body.validate()
	web.Annotate(r.Context(), "idempotency_key", req.IdempotencyKey, "customer_id", req.CustomerID)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	if !who.Sees(req.CustomerID) {
		web.Error(w, r, ErrOtherCustomer)
		return
	}
	req.Caller = who
	status, data, err := h.run(r.Context(), req, h.deadline(r.Context(), start))
	if err != nil {
		web.Error(w, r, err)
		return
	}
	respond(w, r, status, data)
}

// caller is who asks. On AWS, API Gateway's authorizer authenticated the caller and apigw carried its
// claims into the request context: such a caller needs scope orders:write (403 otherwise, with the
// RFC 6750 challenge). The local runner has no authorizer: its callers are nobody authenticated, whose
// orders are made by identity.Anonymous.
func caller(w http.ResponseWriter, r *http.Request) (identity.Caller, error) {
	p, ok := auth.FromContext(r.Context())
	if !ok {
		return identity.Caller{}, nil
	}
	web.Annotate(r.Context(), "sub", p.Subject)
	if p.CustomerID != 0 {
		web.Annotate(r.Context(), "caller_customer_id", p.CustomerID)
	}
	if !p.Has(auth.ScopeOrdersWrite) {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_scope", scope="%s"`, auth.ScopeOrdersWrite))
		return identity.Caller{}, apperr.Forbidden(auth.CodeForbidden, "the access token lacks scope "+auth.ScopeOrdersWrite)
	}
	return p.Caller(), nil
}

// deadline is when waiting stops: ORDER_WAIT_TIMEOUT after the request began, but never later than the
// invocation's own deadline minus a margin to write the answer.
func (h *Handler) deadline(ctx context.Context, start time.Time) time.Time {
	d := start.Add(h.cfg.WaitTimeout)
	if cd, ok := ctx.Deadline(); ok && cd.Add(-h.cfg.Margin).Before(d) {
		d = cd.Add(-h.cfg.Margin)
	}
	return d
}

// Answer is the data of a 201: the customer and the confirmed order.
type Answer struct {
	Customer Customer `json:"customer"`
	Order    Order    `json:"order"`
}

// Order is the order part of a 201 answer.
type Order struct {
	ID          int64         `json:"id"`
	Status      string        `json:"status"`
	TotalCents  int64         `json:"total_cents"`
	Items       []events.Item `json:"items"`
	CreatedAt   time.Time     `json:"created_at"`
	ConfirmedAt *time.Time    `json:"confirmed_at"`
}

// Pending is the data of a 202: the request is accepted and still being processed.
type Pending struct {
	Status         string `json:"status"`
	IdempotencyKey string `json:"idempotency_key"`
}

func (h *Handler) run(ctx context.Context, req placeRequest, deadline time.Time) (int, any, error) {
	// Every call, not only the polls, must end in time for the answer to be written: a customers-api or
	// orders-api that hangs up to UpstreamTimeout would otherwise run into the invocation's own timeout.
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(h.cfg.Margin/2))
	defer cancel()
	cust, err := h.customers.Get(ctx, req.CustomerID)
	if err != nil {
		return 0, nil, err
	}
	hash := events.RequestHash(req.CustomerID, req.Items)

	known, found, err := h.orders.OrderRequest(ctx, req.IdempotencyKey, 0)
	if err != nil {
		return 0, nil, err
	}
	if found {
		if known.RequestHash != hash {
			return 0, nil, ErrKeyReused
		}
		if known.Final() {
			web.Annotate(ctx, "replayed", true)
			return final(cust, known)
		}
	}
	// Sent even when orders-api holds the request as PROCESSING: the command that got it there may since
	// have gone to the dead-letter queue (transient failures on every delivery), and a client's retry is
	// how a request resumes. The worker makes a duplicate harmless: it confirms a PROCESSING request.
	sending := h.now()
	if err := h.send(ctx, req, hash, deadline); err != nil {
		return 0, nil, err
	}
	sent := h.now()
	status, data, err := h.wait(ctx, req.IdempotencyKey, hash, cust, deadline)
	h.waited(status, h.now().Sub(sent))
	// Where the time went, on the request's log line: sending the command, and waiting from then on for
	// the worker's answer (the queue's delivery, the worker's processing, orders-api's hold).
	web.Annotate(ctx, "send_ms", ms(sent.Sub(sending)), "wait_ms", ms(h.now().Sub(sent)))
	return status, data, err
}

// send puts the PlaceOrder on the queue, within UpstreamTimeout and the deadline. A send that does not
// finish in time is a 503: the command may still arrive, which the client's retry with the same key
// makes harmless.
func (h *Handler) send(ctx context.Context, req placeRequest, hash string, deadline time.Time) error {
	cmd := events.PlaceOrder{
		IdempotencyKey: req.IdempotencyKey,
		RequestHash:    hash,
		CustomerID:     req.CustomerID,
		Items:          events.MergeItems(req.Items),
		CorrelationID:  logging.CorrelationID(ctx),
		RequestedAt:    h.now().UTC(),
		// Empty for a caller nobody authenticated: the worker records identity.Anonymous.
		Actor:           req.Caller.Actor,
		ActorCustomerID: req.Caller.CustomerID,
	}
	body, err := json.Marshal(cmd)
	if err != nil {
		return apperr.ErrInternal.Wrap(fmt.Errorf("encode PlaceOrder: %w", err))
	}
	msg := message.NewMessage(watermill.NewUUID(), body)
	msg.Metadata.Set(events.MetaCorrelationID, cmd.CorrelationID)
	msg.Metadata.Set(events.MetaIdempotencyKey, cmd.IdempotencyKey)
	msg.SetContext(ctx)
	ctx, cancel := context.WithTimeout(ctx, h.cfg.UpstreamTimeout)
	defer cancel()
	ctx, cancelDeadline := context.WithDeadline(ctx, deadline)
	defer cancelDeadline()
	if err := queue.Publish(ctx, h.pub, h.cfg.Queue, msg); err != nil {
		return ErrQueueUnavailable.Wrap(fmt.Errorf("send PlaceOrder: %w", err))
	}
	web.Annotate(ctx, "sent", true)
	return nil
}

// maxHold bounds one long poll of orders-api: a longer wait is asked for again, so a connection lost
// along the way costs at most this much.
const maxHold = 5 * time.Second

// wait asks orders-api for the request's final answer until it comes or the deadline passes. Each ask
// is a long poll (orders-api answers as soon as the worker has recorded the answer), so the answer is
// seen within milliseconds of its commit. Failed asks are retried with backoff: the command is on the
// queue, so orders-api being briefly unreachable only delays the answer.
func (h *Handler) wait(ctx context.Context, key, hash string, cust Customer, deadline time.Time) (int, any, error) {
	b := backoff{initial: h.cfg.PollInitial, max: h.cfg.PollMax}
	for polls := 1; ; polls++ {
		left := deadline.Sub(h.now())
		// A poll may run into the margin, never past half of it: the answer still has to be written.
		pctx, cancel := context.WithDeadline(ctx, deadline.Add(h.cfg.Margin/2))
		hold, asked := min(max(left, 0), maxHold), h.now()
		r, found, err := h.orders.OrderRequest(pctx, key, hold)
		cancel()
		switch {
		case err != nil:
			logging.FromContext(ctx).Warn("poll order request failed", "error", err.Error())
		case found && r.RequestHash != hash:
			return 0, nil, ErrKeyReused
		case found && r.Final():
			web.Annotate(ctx, "polls", polls)
			return final(cust, r)
		}
		left = deadline.Sub(h.now())
		if left <= 0 {
			web.Annotate(ctx, "polls", polls)
			return pending(key)
		}
		if err == nil && h.now().Sub(asked) >= hold/2 {
			continue // the hold ended without an answer: ask again at once
		}
		// An error, or a not-final answer long before the hold ended (an orders-api that does not hold):
		// pause before asking again.
		t := time.NewTimer(min(b.next(), left))
		select {
		case <-ctx.Done():
			t.Stop()
			web.Annotate(ctx, "polls", polls)
			return pending(key)
		case <-t.C:
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func pending(key string) (int, any, error) {
	return http.StatusAccepted, Pending{Status: "PENDING", IdempotencyKey: key}, nil
}

func final(cust Customer, r events.OrderRequest) (int, any, error) {
	if r.Status == events.RequestRejected {
		return 0, nil, rejection(r.Error)
	}
	if r.Order == nil {
		return 0, nil, apperr.ErrInternal.Wrap(fmt.Errorf("confirmed order request %q carries no order", r.IdempotencyKey))
	}
	o := r.Order
	items := o.Items
	if items == nil {
		items = []events.Item{}
	}
	return http.StatusCreated, Answer{
		Customer: cust,
		Order: Order{
			ID:          o.ID,
			Status:      o.Status,
			TotalCents:  o.TotalCents,
			Items:       items,
			CreatedAt:   o.CreatedAt,
			ConfirmedAt: o.ConfirmedAt,
		},
	}, nil
}
