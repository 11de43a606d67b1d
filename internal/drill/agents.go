package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// agents are the people at the desk: each claims the next escalation of a queue,
// acknowledges it, answers the customer, and hands the conversation back to the bot
// after Hold. Every action is recorded, so the checker knows which escalations a
// human acknowledged and which agent replies were asked for.
type agents struct {
	cfg    Agents
	queues []string
	target *Target
	rec    *recorder
	hc     *http.Client
	api    func() string
}

// run works the queues until ctx ends.
func (a *agents) run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range a.cfg.Count {
		name := fmt.Sprintf("drill-agent-%d", i+1)
		wg.Go(func() {
			t := time.NewTicker(a.cfg.Every)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				for _, q := range a.queues {
					a.work(ctx, name, q)
				}
			}
		})
	}
	wg.Wait()
}

// work claims one escalation of queue and sees it through.
func (a *agents) work(ctx context.Context, agent, queue string) {
	var esc struct {
		ID             string `json:"id"`
		ConversationID string `json:"conversation_id"`
	}
	ev := a.call(ctx, agent, "claim", "/v1/queues/"+url.PathEscape(queue)+"/claim", map[string]string{"agent": agent}, &esc, "")
	if ev.Status == http.StatusNotFound {
		return // nobody waiting: not worth recording
	}
	ev.EscalationID, ev.ConversationID = esc.ID, esc.ConversationID
	a.rec.desk(ev)
	if !ev.OK() {
		return
	}
	path := "/v1/conversations/" + url.PathEscape(esc.ConversationID) + "/escalation/"
	body := map[string]string{"escalation_id": esc.ID, "agent": agent}
	step := func(action string, body map[string]string) bool {
		// A desk action is retried with the same Idempotency-Key: the same workflow
		// update, so a retried reply is sent once.
		key := "drill/" + agent + "/" + esc.ID + "/" + action
		for range 3 {
			ev := a.call(ctx, agent, action, path+action, body, nil, key)
			ev.EscalationID, ev.ConversationID = esc.ID, esc.ConversationID
			a.rec.desk(ev)
			if ev.OK() || ev.Status/100 == 4 {
				return ev.OK()
			}
			time.Sleep(time.Second)
		}
		return false
	}
	if !step("ack", body) {
		return
	}
	reply := map[string]string{"escalation_id": esc.ID, "agent": agent, "text": "Hi, this is " + agent + " from the drill's desk."}
	step("reply", reply)
	select {
	case <-ctx.Done():
	case <-time.After(a.cfg.Hold):
	}
	step("resolve", body)
}

// call makes one desk call, on the next api that takes the connection.
func (a *agents) call(ctx context.Context, agent, action, path string, body any, out any, idemKey string) DeskEvent {
	var ev DeskEvent
	for range len(a.target.APIs) {
		var sent bool
		ev, sent = a.callAPI(ctx, a.api(), agent, action, path, body, out, idemKey)
		if sent {
			break
		}
	}
	return ev
}

// callAPI calls one api; sent is false when the request cannot have reached it.
func (a *agents) callAPI(ctx context.Context, apiURL, agent, action, path string, body any, out any, idemKey string) (ev DeskEvent, sent bool) {
	ev = DeskEvent{At: time.Now(), Agent: agent, Action: action}
	sent = true
	b, err := json.Marshal(body)
	if err != nil {
		ev.Error = err.Error()
		return ev, sent
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(apiURL, "/")+path, bytes.NewReader(b))
	if err != nil {
		ev.Error = err.Error()
		return ev, sent
	}
	req.Header.Set("Authorization", "Bearer "+a.target.AgentToken)
	req.Header.Set("Content-Type", "application/json")
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		ev.Error = err.Error()
		return ev, !neverSent(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	ev.Status = resp.StatusCode
	if resp.StatusCode/100 != 2 {
		ev.Error = strings.TrimSpace(string(data))
		return ev, sent
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			ev.Error = "answer: " + err.Error()
		}
	}
	return ev, sent
}
