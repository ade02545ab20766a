package main

// users.*, messages.sendMessage, updates.*, account.updateStatus: the slice of Telegram's API that
// GramJS, mtcute and TDLib call after signing in (the same slice examples/go answers in mtgate's
// own protocol).

import (
	"context"

	"github.com/teamgram/proto/mtproto"
)

type users struct {
	mtproto.UnimplementedRPCUsersServer
	b *bff
}

// UsersGetUsers: the users asked for (inputUserSelf → the caller, with `self`); a wrong access_hash
// is left out.
func (u *users) UsersGetUsers(ctx context.Context, in *mtproto.TLUsersGetUsers) (*mtproto.Vector_User, error) {
	self, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	out := &mtproto.Vector_User{}
	for _, iu := range in.GetId() {
		if id, err := inputUserID(self, iu); err == nil {
			out.Datas = append(out.Datas, makeUser(id, id == self))
		}
	}
	return out, nil
}

func (u *users) UsersGetFullUser(ctx context.Context, in *mtproto.TLUsersGetFullUser) (*mtproto.Users_UserFull, error) {
	self, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	id, err := inputUserID(self, in.GetId())
	if err != nil {
		return nil, err
	}
	full := mtproto.MakeTLUserFull(&mtproto.UserFull{
		Id:             id,
		Settings:       mtproto.MakeTLPeerSettings(nil).To_PeerSettings(),
		NotifySettings: mtproto.MakeTLPeerNotifySettings(nil).To_PeerNotifySettings(),
	}).To_UserFull()
	return mtproto.MakeTLUsersUserFull(&mtproto.Users_UserFull{FullUser: full, Users: []*mtproto.User{makeUser(id, id == self)}}).To_Users_UserFull(), nil
}

type messages struct {
	mtproto.UnimplementedRPCMessagesServer
	b *bff
}

// MessagesSendMessage to inputPeerUser / inputPeerSelf: stored in both boxes; the sender is answered
// updateShortSentMessage, and updateShortMessage is pushed to every permanent key of the recipient
// (a message to oneself: to the sender's other keys).
func (m *messages) MessagesSendMessage(ctx context.Context, in *mtproto.TLMessagesSendMessage) (*mtproto.Updates, error) {
	self, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	peer := in.GetPeer()
	var to int64
	switch peer.GetPredicateName() {
	case mtproto.Predicate_inputPeerSelf:
		to = self
	case mtproto.Predicate_inputPeerUser:
		if peer.GetUserId() != self && peer.GetAccessHash() != accessHash(peer.GetUserId()) {
			return nil, mtproto.ErrPeerIdInvalid
		}
		to = peer.GetUserId()
	default:
		return nil, mtproto.ErrPeerIdInvalid
	}
	if in.GetMessage() == "" {
		return nil, mtproto.ErrMessageEmpty
	}
	date := now()
	sent := m.b.boxes.add(self, to, self, in.GetMessage(), date)
	if to != self {
		got := m.b.boxes.add(to, self, self, in.GetMessage(), date)
		m.b.push.toUser(ctx, to, 0, mtproto.MakeTLUpdateShortMessage(&mtproto.Updates{
			Id: got.id, UserId: self, Message: in.GetMessage(), Pts: got.pts, PtsCount: 1, Date: date,
		}).To_Updates())
	} else {
		m.b.push.toUser(ctx, self, md(ctx).GetPermAuthKeyId(), mtproto.MakeTLUpdateShortMessage(&mtproto.Updates{
			Out: true, Id: sent.id, UserId: self, Message: in.GetMessage(), Pts: sent.pts, PtsCount: 1, Date: date,
		}).To_Updates())
	}
	return mtproto.MakeTLUpdateShortSentMessage(&mtproto.Updates{Out: true, Id: sent.id, Pts: sent.pts, PtsCount: 1, Date: date}).To_Updates(), nil
}

type updates struct {
	mtproto.UnimplementedRPCUpdatesServer
	b *bff
}

func (u *updates) state(userID int64) *mtproto.Updates_State {
	return mtproto.MakeTLUpdatesState(&mtproto.Updates_State{Pts: u.b.boxes.pts(userID), Date: now()}).To_Updates_State()
}

func (u *updates) UpdatesGetState(ctx context.Context, _ *mtproto.TLUpdatesGetState) (*mtproto.Updates_State, error) {
	self, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	return u.state(self), nil
}

// UpdatesGetDifference: the caller's messages after the given pts, with the users they name.
func (u *updates) UpdatesGetDifference(ctx context.Context, in *mtproto.TLUpdatesGetDifference) (*mtproto.Updates_Difference, error) {
	self, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	news := u.b.boxes.after(self, in.GetPts())
	if len(news) == 0 {
		return mtproto.MakeTLUpdatesDifferenceEmpty(&mtproto.Updates_Difference{Date: now()}).To_Updates_Difference(), nil
	}
	d := &mtproto.Updates_Difference{State: u.state(self), Users: []*mtproto.User{makeUser(self, true)}}
	seen := map[int64]bool{self: true}
	for _, m := range news {
		d.NewMessages = append(d.NewMessages, m.message)
		if !seen[m.peer] {
			seen[m.peer] = true
			d.Users = append(d.Users, makeUser(m.peer, false))
		}
	}
	return mtproto.MakeTLUpdatesDifference(d).To_Updates_Difference(), nil
}

type profiles struct {
	mtproto.UnimplementedRPCUserChannelProfilesServer
	b *bff
}

func (p *profiles) AccountUpdateStatus(ctx context.Context, _ *mtproto.TLAccountUpdateStatus) (*mtproto.Bool, error) {
	if _, err := signedIn(ctx); err != nil {
		return nil, err
	}
	return mtproto.BoolTrue, nil
}
