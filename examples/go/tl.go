package main

import (
	"github.com/gotd/td/bin"
	"github.com/gotd/td/tg"

	pb "mtgate.example/backend/upstreampb"
)

// rpcErr is an answer that is an rpc_error.
type rpcErr struct {
	code    int32
	message string
}

func (e *rpcErr) Error() string { return e.message }

var (
	errAuthKeyUnregistered = &rpcErr{401, "AUTH_KEY_UNREGISTERED"}
	errMethodInvalid       = &rpcErr{400, "INPUT_METHOD_INVALID"}
	errRequestInvalid      = &rpcErr{400, "INPUT_REQUEST_INVALID"}
	errPeerIDInvalid       = &rpcErr{400, "PEER_ID_INVALID"}
	errUserIDInvalid       = &rpcErr{400, "USER_ID_INVALID"}
	errPhoneCodeExpired    = &rpcErr{400, "PHONE_CODE_EXPIRED"}
	errPhoneCodeInvalid    = &rpcErr{400, "PHONE_CODE_INVALID"}
	errPhoneNumberInvalid  = &rpcErr{400, "PHONE_NUMBER_INVALID"}
	errMessageEmpty        = &rpcErr{400, "MESSAGE_EMPTY"}
)

// encoder is a TL object gotd can write boxed (constructor id first).
type encoder interface {
	Encode(b *bin.Buffer) error
}

// decoder is a TL object gotd can read boxed.
type decoder interface {
	Decode(b *bin.Buffer) error
}

// boxed is obj TL-serialised with its constructor id.
func boxed(obj encoder) ([]byte, error) {
	var b bin.Buffer
	if err := obj.Encode(&b); err != nil {
		return nil, err
	}
	return b.Buf, nil
}

// vectorOf is a boxed Vector of boxed objects.
func vectorOf[T encoder](items []T) ([]byte, error) {
	var b bin.Buffer
	b.PutVectorHeader(len(items))
	for _, it := range items {
		if err := it.Encode(&b); err != nil {
			return nil, err
		}
	}
	return b.Buf, nil
}

// decodeQuery reads the boxed query into q; a query that does not parse is INPUT_REQUEST_INVALID.
func decodeQuery(query []byte, q decoder) error {
	if err := q.Decode(&bin.Buffer{Buf: query}); err != nil {
		return errRequestInvalid
	}
	return nil
}

// tlUser is u as `viewer` sees it: `self` and the phone number for the user itself.
func tlUser(u *User, viewer int64) *tg.User {
	t := &tg.User{ID: u.ID, AccessHash: u.AccessHash(), FirstName: u.FirstName}
	if u.ID == viewer {
		t.Self = true
		t.Phone = u.Phone
	}
	return t
}

// tlMessage is a box message as the box's owner sees it.
func tlMessage(m BoxMessage) *tg.Message {
	return &tg.Message{
		ID:      m.ID,
		Out:     m.Out,
		FromID:  &tg.PeerUser{UserID: m.From},
		PeerID:  &tg.PeerUser{UserID: m.Peer},
		Date:    m.Date,
		Message: m.Text,
	}
}

// shortMessage is the updateShortMessage of a box message (user_id: the other party).
func shortMessage(m BoxMessage) *tg.UpdateShortMessage {
	return &tg.UpdateShortMessage{Out: m.Out, ID: m.ID, UserID: m.Peer, Message: m.Text, Pts: m.Pts, PtsCount: 1, Date: m.Date}
}

// replyOf is the InvokeReply of a result or an error.
func replyOf(result []byte, err error) *pb.InvokeReply {
	if err != nil {
		e, ok := err.(*rpcErr)
		if !ok {
			e = &rpcErr{500, "INTERNAL"}
		}
		return &pb.InvokeReply{Outcome: &pb.InvokeReply_RpcError{RpcError: &pb.RpcError{Code: e.code, Message: e.message}}}
	}
	return &pb.InvokeReply{Outcome: &pb.InvokeReply_Result{Result: result}}
}
