// Command tgcodec checks mtgate's TL ↔ Teamgram protobuf codec against Teamgram's own code
// (github.com/teamgram/proto): for each request line on stdin it answers one line on stdout.
//
//	tl <Message> <layer> <hex>   protobuf bytes of mtproto.<Message> → proto.Unmarshal → Teamgram's TL Encode(layer)
//	pb <Message> <hex>           TL bytes → Teamgram's TL Decode into mtproto.<Message> → proto.Marshal
//
// An answer is `ok <hex>` or `err <reason>`. <Message> is a boxed type (User), a method (TL_auth_signIn),
// Bool, or a result vector (Vector_User, Vector_Long, Vector_Int).
package main

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/teamgram/proto/mtproto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

type tlCodec interface {
	Encode(x *mtproto.EncodeBuf, layer int32) error
	Decode(d *mtproto.DecodeBuf) error
}

const vectorID = 0x1cb5c415

func newMessage(name string) (proto.Message, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName("mtproto." + name))
	if err != nil {
		return nil, err
	}
	return mt.New().Interface(), nil
}

// setConstructor sets a method message's constructor field (Teamgram's method Decode switches on it).
func setConstructor(m proto.Message, id int32) {
	r := m.ProtoReflect()
	f := r.Descriptor().Fields().ByName("constructor")
	r.Set(f, protoreflect.ValueOfEnum(protoreflect.EnumNumber(id)))
}

func toTL(name string, layer int32, b []byte) ([]byte, error) {
	m, err := newMessage(name)
	if err != nil {
		return nil, err
	}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, err
	}
	x := mtproto.NewEncodeBuf(512)
	if strings.HasPrefix(name, "Vector_") {
		list := m.ProtoReflect().Get(m.ProtoReflect().Descriptor().Fields().ByNumber(1)).List()
		x.Int(vectorID)
		x.Int(int32(list.Len()))
		for i := 0; i < list.Len(); i++ {
			switch v := list.Get(i).Interface().(type) {
			case int32:
				x.Int(v)
			case int64:
				x.Long(v)
			case protoreflect.Message:
				if err := v.Interface().(tlCodec).Encode(x, layer); err != nil {
					return nil, err
				}
			default:
				return nil, fmt.Errorf("vector element %T", v)
			}
		}
		return x.GetBuf(), nil
	}
	c, ok := m.(tlCodec)
	if !ok {
		return nil, fmt.Errorf("%s has no TL codec", name)
	}
	if err := c.Encode(x, layer); err != nil {
		return nil, err
	}
	return x.GetBuf(), nil
}

func toPB(name string, b []byte) ([]byte, error) {
	m, err := newMessage(name)
	if err != nil {
		return nil, err
	}
	d := mtproto.NewDecodeBuf(b)
	if strings.HasPrefix(name, "Vector_") {
		if d.Int() != vectorID {
			return nil, fmt.Errorf("not a vector")
		}
		r := m.ProtoReflect()
		f := r.Descriptor().Fields().ByNumber(1)
		list := r.Mutable(f).List()
		n := int(d.Int())
		for i := 0; i < n; i++ {
			switch f.Kind() {
			case protoreflect.Int32Kind:
				list.Append(protoreflect.ValueOfInt32(d.Int()))
			case protoreflect.Int64Kind:
				list.Append(protoreflect.ValueOfInt64(d.Long()))
			default:
				e := list.NewElement()
				if err := e.Message().Interface().(tlCodec).Decode(d); err != nil {
					return nil, err
				}
				list.Append(e)
			}
		}
	} else {
		c, ok := m.(tlCodec)
		if !ok {
			return nil, fmt.Errorf("%s has no TL codec", name)
		}
		if strings.HasPrefix(name, "TL_") {
			setConstructor(m, d.Int())
		}
		if err := c.Decode(d); err != nil {
			return nil, err
		}
	}
	if err := d.GetError(); err != nil {
		return nil, err
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		f := strings.Fields(in.Text())
		var (
			res []byte
			err error
		)
		switch {
		case len(f) == 4 && f[0] == "tl":
			var layer int
			var b []byte
			if layer, err = strconv.Atoi(f[2]); err == nil {
				if b, err = hex.DecodeString(f[3]); err == nil {
					res, err = toTL(f[1], int32(layer), b)
				}
			}
		case len(f) == 3 && f[0] == "pb":
			var b []byte
			if b, err = hex.DecodeString(f[2]); err == nil {
				res, err = toPB(f[1], b)
			}
		default:
			err = fmt.Errorf("bad request line")
		}
		if err != nil {
			fmt.Fprintf(out, "err %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		} else {
			fmt.Fprintf(out, "ok %s\n", hex.EncodeToString(res))
		}
		out.Flush()
	}
}
