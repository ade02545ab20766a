package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log"
	"strings"
	"time"

	"github.com/gotd/td/tg"
	"google.golang.org/grpc/status"

	pb "mtgate.example/backend/upstreampb"
)

// The login code of every sign-in.
const loginCode = "12345"

// Backend implements mtgate.upstream.v1.Upstream over State.
type Backend struct {
	pb.UnimplementedUpstreamServer
	state  *State
	delay  time.Duration
	pusher *Pusher
}

// Invoke handles one client query (after the configured delay).
func (b *Backend) Invoke(ctx context.Context, req *pb.InvokeRequest) (*pb.InvokeReply, error) {
	if b.delay > 0 {
		if err := b.wait(ctx); err != nil {
			log.Printf("%s user=%d: %v", req.GetMethod(), req.GetUserId(), err)
			return nil, err
		}
	}
	reply := b.handle(req)
	if e := reply.GetRpcError(); e != nil {
		log.Printf("%s user=%d → %d %s", req.GetMethod(), req.GetUserId(), e.GetCode(), e.GetMessage())
	} else {
		log.Printf("%s user=%d → ok", req.GetMethod(), req.GetUserId())
	}
	return reply, nil
}

// wait sleeps the configured delay, or until the call ends (its deadline passed: mtgate answers the
// client -503 Timeout by itself).
func (b *Backend) wait(ctx context.Context) error {
	select {
	case <-time.After(b.delay):
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

// methods are the ones a signed-in key may call (each with the caller's user).
var methods = map[string]func(b *Backend, req *pb.InvokeRequest, caller *User) *pb.InvokeReply{
	"auth.logOut": func(*Backend, *pb.InvokeRequest, *User) *pb.InvokeReply {
		r := replyOf(boxed(&tg.AuthLoggedOut{}))
		r.UnbindUser = true
		return r
	},
	"users.getUsers": func(b *Backend, req *pb.InvokeRequest, caller *User) *pb.InvokeReply {
		return replyOf(b.getUsers(req, caller))
	},
	"users.getFullUser": func(b *Backend, req *pb.InvokeRequest, caller *User) *pb.InvokeReply {
		return replyOf(b.getFullUser(req, caller))
	},
	"updates.getState": func(_ *Backend, _ *pb.InvokeRequest, caller *User) *pb.InvokeReply {
		return replyOf(boxed(&tg.UpdatesState{Pts: caller.Pts, Date: now()}))
	},
	"updates.getDifference": func(b *Backend, req *pb.InvokeRequest, caller *User) *pb.InvokeReply {
		return replyOf(b.getDifference(req, caller))
	},
	"messages.sendMessage": func(b *Backend, req *pb.InvokeRequest, caller *User) *pb.InvokeReply {
		return replyOf(b.sendMessage(req, caller))
	},
	"account.updateStatus": func(*Backend, *pb.InvokeRequest, *User) *pb.InvokeReply { return replyOf(boxed(&tg.BoolTrue{})) },
}

// handle answers a method outside `methods` INPUT_METHOD_INVALID whoever calls it (a 401 would tell
// a client that is not signed in yet that its key is gone), and one in `methods` 401
// AUTH_KEY_UNREGISTERED on a key with no user.
func (b *Backend) handle(req *pb.InvokeRequest) *pb.InvokeReply {
	if req.GetMethod() == "help.getAppConfig" {
		// the same for everyone, signed in or not; reads no state
		return replyOf(appConfig, nil)
	}
	s := b.state
	s.mu.Lock()
	defer s.mu.Unlock()
	switch req.GetMethod() {
	case "auth.sendCode":
		return replyOf(b.sendCode(req))
	case "auth.signIn":
		return b.signIn(req)
	}
	method, ok := methods[req.GetMethod()]
	if !ok {
		return replyOf(nil, errMethodInvalid)
	}
	var caller *User
	if req.GetUserId() != 0 {
		caller = s.user(req.GetUserId())
	}
	if caller == nil {
		return replyOf(nil, errAuthKeyUnregistered)
	}
	return method(b, req, caller)
}

func now() int { return int(time.Now().Unix()) }

// digits is the phone number with everything but digits left out.
func digits(phone string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, phone)
}

func (b *Backend) sendCode(req *pb.InvokeRequest) ([]byte, error) {
	var q tg.AuthSendCodeRequest
	if err := decodeQuery(req.GetQuery(), &q); err != nil {
		return nil, err
	}
	phone := digits(q.PhoneNumber)
	if phone == "" {
		return nil, errPhoneNumberInvalid
	}
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, err
	}
	hash := hex.EncodeToString(raw[:])
	b.state.Codes[phone] = hash
	if err := b.state.save(); err != nil {
		return nil, err
	}
	return boxed(&tg.AuthSentCode{Type: &tg.AuthSentCodeTypeApp{Length: len(loginCode)}, PhoneCodeHash: hash})
}

// signIn answers auth.authorization and binds the key to the user (made on its first sign-in).
func (b *Backend) signIn(req *pb.InvokeRequest) *pb.InvokeReply {
	var q tg.AuthSignInRequest
	if err := decodeQuery(req.GetQuery(), &q); err != nil {
		return replyOf(nil, err)
	}
	s := b.state
	phone := digits(q.PhoneNumber)
	if hash, ok := s.Codes[phone]; !ok || hash != q.PhoneCodeHash {
		return replyOf(nil, errPhoneCodeExpired)
	}
	if q.PhoneCode != loginCode {
		return replyOf(nil, errPhoneCodeInvalid)
	}
	delete(s.Codes, phone)
	u := s.userByPhone(phone)
	if u == nil {
		u = s.addUser(phone)
	}
	if err := s.save(); err != nil {
		return replyOf(nil, err)
	}
	r := replyOf(boxed(&tg.AuthAuthorization{User: tlUser(u, u.ID)}))
	r.BindUserId = u.ID
	return r
}

// inputUser is the user an InputUser names: nil for an unknown id, USER_ID_INVALID for a wrong
// access_hash or another kind of InputUser.
func (b *Backend) inputUser(in tg.InputUserClass, caller *User) (*User, error) {
	switch v := in.(type) {
	case *tg.InputUserSelf:
		return caller, nil
	case *tg.InputUser:
		u := b.state.user(v.UserID)
		if u != nil && v.AccessHash != u.AccessHash() {
			return nil, errUserIDInvalid
		}
		return u, nil
	}
	return nil, errUserIDInvalid
}

func (b *Backend) getUsers(req *pb.InvokeRequest, caller *User) ([]byte, error) {
	var q tg.UsersGetUsersRequest
	if err := decodeQuery(req.GetQuery(), &q); err != nil {
		return nil, err
	}
	users := []*tg.User{}
	for _, in := range q.ID {
		u, err := b.inputUser(in, caller)
		if err != nil {
			return nil, err
		}
		if u != nil {
			users = append(users, tlUser(u, caller.ID))
		}
	}
	return vectorOf(users)
}

func (b *Backend) getFullUser(req *pb.InvokeRequest, caller *User) ([]byte, error) {
	var q tg.UsersGetFullUserRequest
	if err := decodeQuery(req.GetQuery(), &q); err != nil {
		return nil, err
	}
	u, err := b.inputUser(q.ID, caller)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, errUserIDInvalid
	}
	return boxed(&tg.UsersUserFull{
		FullUser: tg.UserFull{ID: u.ID, Settings: tg.PeerSettings{}, NotifySettings: tg.PeerNotifySettings{}},
		Chats:    []tg.ChatClass{},
		Users:    []tg.UserClass{tlUser(u, caller.ID)},
	})
}

// getDifference answers the caller's messages after the client's pts, with their users.
func (b *Backend) getDifference(req *pb.InvokeRequest, caller *User) ([]byte, error) {
	var q tg.UpdatesGetDifferenceRequest
	if err := decodeQuery(req.GetQuery(), &q); err != nil {
		return nil, err
	}
	date := now()
	msgs := []tg.MessageClass{}
	users := []tg.UserClass{tlUser(caller, caller.ID)}
	seen := map[int64]bool{caller.ID: true}
	for _, m := range caller.Messages {
		if m.Pts <= q.Pts {
			continue
		}
		msgs = append(msgs, tlMessage(m))
		for _, id := range []int64{m.From, m.Peer} {
			if u := b.state.user(id); u != nil && !seen[id] {
				seen[id] = true
				users = append(users, tlUser(u, caller.ID))
			}
		}
	}
	if len(msgs) == 0 {
		return boxed(&tg.UpdatesDifferenceEmpty{Date: date})
	}
	return boxed(&tg.UpdatesDifference{
		NewMessages:          msgs,
		NewEncryptedMessages: []tg.EncryptedMessageClass{},
		OtherUpdates:         []tg.UpdateClass{},
		Chats:                []tg.ChatClass{},
		Users:                users,
		State:                tg.UpdatesState{Pts: caller.Pts, Date: date},
	})
}

// sendMessage stores the message in both boxes (one for a message to oneself), answers the sender
// updateShortSentMessage and pushes updateShortMessage to the recipient's sessions (for a message
// to oneself: those of the user's other keys).
func (b *Backend) sendMessage(req *pb.InvokeRequest, caller *User) ([]byte, error) {
	var q tg.MessagesSendMessageRequest
	if err := decodeQuery(req.GetQuery(), &q); err != nil {
		return nil, err
	}
	var to *User
	switch p := q.Peer.(type) {
	case *tg.InputPeerSelf:
		to = caller
	case *tg.InputPeerUser:
		to = b.state.user(p.UserID)
		if to == nil || p.AccessHash != to.AccessHash() {
			return nil, errPeerIDInvalid
		}
	default:
		return nil, errPeerIDInvalid
	}
	if q.Message == "" {
		return nil, errMessageEmpty
	}
	date := now()
	sent := caller.deliver(true, caller.ID, to.ID, q.Message, date)
	got := sent
	if to != caller {
		got = to.deliver(false, caller.ID, caller.ID, q.Message, date)
	}
	if err := b.state.save(); err != nil {
		return nil, err
	}
	var except int64
	if to == caller {
		except = req.GetPermAuthKeyId()
	}
	b.pusher.Push(to.ID, except, shortMessage(got))
	return boxed(&tg.UpdateShortSentMessage{Out: true, ID: sent.ID, Pts: sent.Pts, PtsCount: 1, Date: date})
}
