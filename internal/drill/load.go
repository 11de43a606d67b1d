package drill

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/internal/testmsg"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/routing"
)

// webhookTimeout is how long an attempt waits for the api's answer: Twilio gives a
// webhook 15 s.
const webhookTimeout = 15 * time.Second

// customers are the load: each conversation sends its turns one after the other,
// the next only once the stack has answered the one before (2xx, or given up on
// after RetryFor), so that the order it sent them in is the order owed.
type customers struct {
	sc     *Scenario
	target *Target
	rec    *recorder
	hc     *http.Client
	signer testmsg.Signer

	convs   []*customer
	rngMu   sync.Mutex
	rng     *mrand.Rand
	nextAPI atomic.Uint64
}

type customer struct {
	Conversation
	vendor, channel string
	next            int // index of its next turn
}

// newCustomers draws the conversations: their ingress from the channel mix, each a
// customer number of its own. run tells one drill's customers from another's on a
// shared stack.
func newCustomers(sc *Scenario, pol *routing.Policy, target *Target, rec *recorder, run uint16) (*customers, error) {
	seed := sc.Seed
	if seed == 0 {
		seed = uint64(run) + 1
	}
	c := &customers{
		sc: sc, target: target, rec: rec,
		hc: &http.Client{Timeout: webhookTimeout, Transport: &http.Transport{
			MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second,
		}},
		signer: testmsg.Signer{PublicURL: target.publicURL(), TwilioAccountSID: target.TwilioAccountSID,
			TwilioAuthToken: target.TwilioAuthToken, VonageSecret: target.VonageSignatureSecret},
		rng: mrand.New(mrand.NewPCG(seed, 0x5eed)),
	}
	for i := range sc.Load.Conversations {
		name := weighted(c.rng, sc.Load.Channels)
		vendor, channel := ingress(name)
		biz, ok := businessAddress(pol, vendor)
		if !ok {
			return nil, fmt.Errorf("no business address for %s", name)
		}
		if !strings.HasPrefix(biz, "+") {
			biz = "+" + biz
		}
		cust := fmt.Sprintf("+1555%04d%04d", run%10000, i)
		c.convs = append(c.convs, &customer{
			Conversation: Conversation{ID: turn.ConversationID(vendor, channel, cust, biz), Ingress: name, Customer: cust, Business: biz},
			vendor:       vendor, channel: channel,
		})
	}
	return c, nil
}

// conversations lists them for the history.
func (c *customers) conversations() []Conversation {
	out := make([]Conversation, len(c.convs))
	for i, cv := range c.convs {
		out[i] = cv.Conversation
	}
	return out
}

// weighted draws a key of m with probability proportional to its value.
func weighted(rng *mrand.Rand, m map[string]float64) string {
	keys := sortedKeys(m)
	total := 0.0
	for _, k := range keys {
		total += m[k]
	}
	x := rng.Float64() * total
	for _, k := range keys {
		if x -= m[k]; x < 0 {
			return k
		}
	}
	return keys[len(keys)-1]
}

// rateAt is the load's turns per second at offset d: linear between the points,
// held after the last.
func (l Load) rateAt(d time.Duration) float64 {
	for i := len(l.Rate) - 1; i >= 0; i-- {
		p := l.Rate[i]
		if d < p.At {
			continue
		}
		if i == len(l.Rate)-1 {
			return p.TurnsPerSecond
		}
		q := l.Rate[i+1]
		f := float64(d-p.At) / float64(q.At-p.At)
		return p.TurnsPerSecond + f*(q.TurnsPerSecond-p.TurnsPerSecond)
	}
	return 0
}

// run sends turns at the scenario's rate from start until its duration is over,
// then waits for the turns in flight (each retried up to RetryFor). A turn due
// while every conversation waits on its previous turn is skipped and counted.
func (c *customers) run(ctx context.Context, start time.Time) {
	idle := make(chan *customer, len(c.convs))
	order := c.rng.Perm(len(c.convs))
	for _, i := range order {
		idle <- c.convs[i]
	}
	var inflight sync.WaitGroup
	defer inflight.Wait()
	const tick = 50 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	due, last := 0.0, time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Since(start)
		if now >= c.sc.Duration {
			return
		}
		due += c.sc.Load.rateAt(now) * (now - last).Seconds()
		last = now
		for ; due >= 1; due-- {
			select {
			case cv := <-idle:
				inflight.Go(func() {
					c.send(ctx, cv)
					idle <- cv
				})
			default:
				c.rec.skipped()
			}
		}
	}
}

// send delivers the conversation's next turn, retrying as a vendor retries a
// webhook: with the same message id, until an api answers 2xx or RetryFor has
// passed. A 4xx other than 429 is final: retrying would get it again.
func (c *customers) send(ctx context.Context, cv *customer) {
	c.rngMu.Lock()
	text := weighted(c.rng, c.sc.Load.Texts)
	c.rngMu.Unlock()
	var msgID string
	switch cv.vendor {
	case turn.VendorTwilio:
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		msgID = "SM" + hex.EncodeToString(b)
	case turn.VendorVonage:
		msgID = uuid.NewString()
	default:
		msgID = fmt.Sprintf("drill-%s-%d", strings.TrimPrefix(cv.Customer, "+"), cv.next)
	}
	idx := c.rec.turn(TurnRecord{ID: turn.ID(cv.vendor, msgID), MessageID: msgID, ConversationID: cv.ID, Index: cv.next, Text: text})
	cv.next++
	first := time.Now()
	// The apis are tried in turn from one chosen round robin, so that a retry goes
	// to the next api, as a load balancer's retry does.
	base := int(c.nextAPI.Add(1))
	for attempt := 0; ; attempt++ {
		apiURL := c.target.APIs[(base+attempt)%len(c.target.APIs)]
		a := c.attempt(ctx, apiURL, cv, msgID, text)
		c.rec.attempt(idx, a)
		if a.Status/100 == 2 || a.Status/100 == 4 && a.Status != http.StatusTooManyRequests && a.Status != http.StatusRequestTimeout {
			return
		}
		if time.Since(first) >= c.sc.Load.RetryFor || ctx.Err() != nil {
			return
		}
		// An api that refused the connection is down: the next one is tried at once.
		pause := min(time.Duration(attempt+1)*250*time.Millisecond, 2*time.Second)
		if a.Status == 0 && !a.CutOff && attempt < len(c.target.APIs) {
			pause = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}

// attempt posts the turn once.
func (c *customers) attempt(ctx context.Context, apiURL string, cv *customer, msgID, text string) Attempt {
	a := Attempt{API: apiURL, Start: time.Now()}
	req, err := c.request(ctx, apiURL, cv, msgID, text)
	if err != nil {
		a.End, a.Error = time.Now(), err.Error()
		return a
	}
	resp, err := c.hc.Do(req)
	a.End = time.Now()
	if err != nil {
		a.Error = err.Error()
		a.CutOff = !neverSent(err)
		return a
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	a.Status = resp.StatusCode
	if resp.StatusCode/100 != 2 {
		a.Error = strings.TrimSpace(string(body))
	}
	return a
}

// neverSent reports whether the request cannot have reached the api: the
// connection was never made.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func (c *customers) request(ctx context.Context, apiURL string, cv *customer, msgID, text string) (*http.Request, error) {
	if cv.vendor == turn.VendorAPI {
		body, err := json.Marshal(map[string]string{"message_id": msgID, "channel": cv.channel, "from": cv.Customer, "to": cv.Business, "text": text})
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(apiURL, "/")+"/v1/turns", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		token := c.target.IngressToken
		if token == "" {
			token = c.target.OpsToken
		}
		req.Header.Set("Authorization", "Bearer "+token)
		return req, nil
	}
	req, _, err := c.signer.Request(ctx, apiURL, testmsg.Message{Vendor: cv.vendor, Channel: cv.channel, From: cv.Customer, To: cv.Business, Text: text, MessageID: msgID})
	return req, err
}

// runNumber tells one drill's customers from another's on a shared stack.
func runNumber() uint16 {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return binary.BigEndian.Uint16(b) % 10000
}
