package main

// Users and their message boxes. A user's id is its phone number's digits read as a number (so any
// process, the key tool too, knows a phone's user without shared state); its access_hash is
// id * 7919. Messages live in memory, one box per user: ids 1, 2, … in the box (Teamgram numbers a
// private message per user), each at the box's next pts.

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/teamgram/proto/mtproto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func accessHash(userID int64) int64 { return userID * 7919 }

// userIDOfPhone is the phone's digits as a number; 0 when it has none (or too many).
func userIDOfPhone(phone string) int64 {
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, phone)
	id, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || len(digits) > 15 {
		return 0
	}
	return id
}

// makeUser is the user as `self` (the caller) or another user sees it.
func makeUser(id int64, self bool) *mtproto.User {
	return mtproto.MakeTLUser(&mtproto.User{
		Id:         id,
		Self:       self,
		AccessHash: wrapperspb.Int64(accessHash(id)),
		FirstName:  wrapperspb.String("User " + strconv.FormatInt(id%10000, 10)),
		Phone:      wrapperspb.String(strconv.FormatInt(id, 10)),
		Status:     mtproto.MakeTLUserStatusRecently(nil).To_UserStatus(),
	}).To_User()
}

// firstPts is a new user's pts: an update's pts - pts_count is then at least 1 (TDLib drops an
// update below that).
const firstPts = 1

type boxMessage struct {
	id      int32
	pts     int32
	message *mtproto.Message
	peer    int64
}

type boxes struct {
	mu    sync.Mutex
	boxes map[int64][]boxMessage
}

func newBoxes() *boxes { return &boxes{boxes: map[int64][]boxMessage{}} }

func (b *boxes) pts(userID int64) int32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return firstPts + int32(len(b.boxes[userID]))
}

// add stores a private message between owner and peer in owner's box; returns it with its pts.
func (b *boxes) add(owner, peer, from int64, text string, date int32) boxMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := int32(len(b.boxes[owner])) + 1
	pts := firstPts + id
	m := mtproto.MakeTLMessage(&mtproto.Message{
		Id:      id,
		Out:     from == owner,
		PeerId:  mtproto.MakeTLPeerUser(&mtproto.Peer{UserId: peer}).To_Peer(),
		FromId:  mtproto.MakeTLPeerUser(&mtproto.Peer{UserId: from}).To_Peer(),
		Date:    date,
		Message: text,
	}).To_Message()
	bm := boxMessage{id: id, pts: pts, message: m, peer: peer}
	b.boxes[owner] = append(b.boxes[owner], bm)
	return bm
}

// after is the owner's messages with pts above `pts`.
func (b *boxes) after(owner int64, pts int32) []boxMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []boxMessage
	for _, m := range b.boxes[owner] {
		if m.pts > pts {
			out = append(out, m)
		}
	}
	return out
}

func now() int32 { return int32(time.Now().Unix()) }
