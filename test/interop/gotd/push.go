package main

// The push mode (-push-text): gotd's telegram.Options.UpdateHandler is a tg.UpdateDispatcher (it
// takes an Updates object's updates as they are: no pts bookkeeping, no updates.getState), wrapped to record
// every Updates object; once connected the client calls account.updateStatus(offline=false), prints
// {"ready":true} and waits up to -push-wait for an updateNewMessage with the expected text.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/gotd/td/telegram"
	"github.com/gotd/td/tg"
)

// received is one update the handler saw.
type received struct {
	Updates    string `json:"updates"`
	Update     string `json:"update,omitempty"`
	Message    string `json:"message,omitempty"`
	MessageCtr string `json:"message_ctor,omitempty"`
	Text       string `json:"text,omitempty"`
}

type inbox struct {
	text    string
	mu      sync.Mutex
	got     []received
	arrived chan struct{}
	once    sync.Once
}

func newInbox(text string) *inbox { return &inbox{text: text, arrived: make(chan struct{})} }

func (b *inbox) add(r received) {
	b.mu.Lock()
	b.got = append(b.got, r)
	b.mu.Unlock()
	if r.Text == b.text {
		b.once.Do(func() { close(b.arrived) })
	}
}

func (b *inbox) list() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received{}, b.got...)
}

// handler records each Updates object, and each updateNewMessage the dispatcher hands out.
func (b *inbox) handler() telegram.UpdateHandler {
	d := tg.NewUpdateDispatcher()
	d.OnNewMessage(func(_ context.Context, _ tg.Entities, u *tg.UpdateNewMessage) error {
		r := received{Updates: "dispatched", Update: u.TypeName(), Message: u.Message.TypeName(), MessageCtr: fmt.Sprintf("%08x", u.Message.TypeID())}
		if m, ok := u.Message.(*tg.Message); ok {
			r.Text = m.Message
		}
		b.add(r)
		return nil
	})
	return telegram.UpdateHandlerFunc(func(ctx context.Context, u tg.UpdatesClass) error {
		b.add(received{Updates: u.TypeName()})
		return d.Handle(ctx, u)
	})
}

// pushScenario: account.updateStatus, the ready line, then the wait for the push.
func pushScenario(ctx context.Context, client *telegram.Client, rec *recorder, b *inbox, wait time.Duration) error {
	rec.set(func(r *result) { r.Stage = "updateStatus" })
	ok, err := client.API().AccountUpdateStatus(ctx, false)
	if err != nil {
		return fmt.Errorf("account.updateStatus: %w", err)
	}
	rec.set(func(r *result) { r.Status = ok; r.Stage = "push" })
	line, _ := json.Marshal(map[string]bool{"ready": true})
	fmt.Fprintln(os.Stdout, string(line))
	defer rec.set(func(r *result) { r.Received = b.list() })
	select {
	case <-b.arrived:
		return nil
	case <-time.After(wait):
		return fmt.Errorf("no updateNewMessage with the expected text within %s", wait)
	case <-ctx.Done():
		return ctx.Err()
	}
}
