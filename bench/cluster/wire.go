package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// MongoDB wire protocol: every message starts with a 16-byte header
// (length, requestID, responseTo, opCode, little-endian int32s).
const (
	headerLen = 16
	opQuery   = 2004 // the legacy handshake
	opMsg     = 2013 // every command since MongoDB 3.6
	// maxMessage is MongoDB's maxMessageSizeBytes.
	maxMessage = 48_000_000
)

// counter is a TCP proxy in front of the database for one replica: it
// forwards everything both ways, message by message, and counts the
// messages the replica sends by command, and the answers that are
// errors. Each message the driver sends is one request the database
// answers: a command of Lookout's (find, update, ...) or of the driver
// itself (the handshake, server monitoring, endSessions).
type counter struct {
	ln       net.Listener
	upstream string

	mu     sync.Mutex
	counts map[string]uint64
	// failed are the answers that were errors, by command and error.
	failed map[string]uint64
	opened uint64 // connections accepted
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// startCounter listens on 127.0.0.1:0 and forwards each connection to
// upstream.
func startCounter(upstream string) (*counter, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy: listen: %w", err)
	}
	c := &counter{ln: ln, upstream: upstream, counts: map[string]uint64{}, failed: map[string]uint64{}, conns: map[net.Conn]struct{}{}}
	c.wg.Add(1)
	go c.accept()
	return c, nil
}

// Addr is where the replica connects.
func (c *counter) Addr() string { return c.ln.Addr().String() }

// Counts is a copy of the messages counted so far, by command.
func (c *counter) Counts() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

// Failed is a copy of the answers that were errors so far, by command
// and error.
func (c *counter) Failed() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.failed)
}

// Opened is how many connections the replica opened so far.
func (c *counter) Opened() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opened
}

// Close stops listening and closes every connection.
func (c *counter) Close() {
	_ = c.ln.Close()
	c.mu.Lock()
	c.closed = true
	for conn := range c.conns {
		_ = conn.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *counter) accept() {
	defer c.wg.Done()
	for {
		client, err := c.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", c.upstream)
		if err != nil {
			_ = client.Close()
			continue
		}
		if !c.track(client, server) {
			_ = client.Close()
			_ = server.Close()
			return
		}
		var pending sync.Map // requestID → command name, until answered
		c.wg.Add(2)
		go func() {
			defer c.wg.Done()
			_ = relay(client, server, func(h header, body []byte) {
				name := commandName(h.opCode, body)
				pending.Store(h.requestID, name)
				c.mu.Lock()
				c.counts[name]++
				c.mu.Unlock()
			})
			_ = server.Close()
			c.untrack(client, server)
		}()
		go func() {
			defer c.wg.Done()
			_ = relay(server, client, func(h header, body []byte) {
				name, ok := pending.LoadAndDelete(h.responseTo)
				if !ok || h.opCode != opMsg {
					return
				}
				if problem := replyProblem(body); problem != "" {
					c.mu.Lock()
					c.failed[name.(string)+": "+problem]++
					c.mu.Unlock()
				}
			})
			_ = client.Close()
		}()
	}
}

// track remembers a connection pair for Close; false once closed.
func (c *counter) track(conns ...net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.opened++
	for _, conn := range conns {
		c.conns[conn] = struct{}{}
	}
	return true
}

func (c *counter) untrack(conns ...net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range conns {
		delete(c.conns, conn)
	}
}

// header is a message's header.
type header struct {
	length, requestID, responseTo, opCode int32
}

// relay copies messages from src to dst one at a time, calling seen with
// each before it is sent on.
func relay(src io.Reader, dst io.Writer, seen func(header, []byte)) error {
	var buf []byte
	for {
		var raw [headerLen]byte
		if _, err := io.ReadFull(src, raw[:]); err != nil {
			return err
		}
		h := header{
			length:     int32(binary.LittleEndian.Uint32(raw[0:4])),
			requestID:  int32(binary.LittleEndian.Uint32(raw[4:8])),
			responseTo: int32(binary.LittleEndian.Uint32(raw[8:12])),
			opCode:     int32(binary.LittleEndian.Uint32(raw[12:16])),
		}
		if h.length < headerLen || h.length > maxMessage {
			return fmt.Errorf("proxy: a message of %d bytes", h.length)
		}
		if cap(buf) < int(h.length) {
			buf = make([]byte, h.length)
		}
		buf = buf[:h.length]
		copy(buf, raw[:])
		if _, err := io.ReadFull(src, buf[headerLen:]); err != nil {
			return err
		}
		seen(h, buf[headerLen:])
		if _, err := dst.Write(buf); err != nil {
			return err
		}
	}
}

// replyProblem is what went wrong in a command's answer: "error CODE"
// for ok: 0, "write error CODE" for a write that failed (like a duplicate
// key), "" when nothing did.
func replyProblem(body []byte) string {
	doc, err := msgBody(body)
	if err != nil {
		return ""
	}
	if ok, found := doc.Lookup("ok").AsFloat64OK(); found && ok != 1 {
		code, _ := doc.Lookup("code").AsInt64OK()
		name, _ := doc.Lookup("codeName").StringValueOK()
		return fmt.Sprintf("error %d %s", code, name)
	}
	if arr, ok := doc.Lookup("writeErrors").ArrayOK(); ok {
		if first, err := arr.IndexErr(0); err == nil {
			var code int64
			if e, ok := first.DocumentOK(); ok {
				code, _ = e.Lookup("code").AsInt64OK()
			}
			return fmt.Sprintf("write error %d", code)
		}
	}
	return ""
}

// commandName names a message by its command and collection, like
// "find replicas" or "update alerts", or by its command and database when
// the command names no collection, like "hello (admin)" (the driver's
// monitoring) or "hello (lookout)" (Lookout reading the server's clock).
// The legacy handshake that opens each connection is an OP_QUERY, named
// like "OP_QUERY isMaster (admin.$cmd)".
func commandName(opCode int32, body []byte) string {
	var doc bson.Raw
	var db string
	var err error
	switch opCode {
	case opMsg:
		doc, err = msgBody(body)
		if err == nil {
			db, _ = doc.Lookup("$db").StringValueOK()
		}
	case opQuery:
		db, doc, err = queryBody(body)
	default:
		return fmt.Sprintf("opcode %d", opCode)
	}
	if err != nil {
		return fmt.Sprintf("opcode %d (unreadable: %v)", opCode, err)
	}
	first, err := doc.IndexErr(0)
	if err != nil {
		return fmt.Sprintf("opcode %d (empty)", opCode)
	}
	prefix := ""
	if opCode == opQuery {
		prefix = "OP_QUERY "
	}
	if coll, ok := first.Value().StringValueOK(); ok && opCode == opMsg {
		return first.Key() + " " + coll
	}
	if db == "" {
		db = "?"
	}
	return fmt.Sprintf("%s%s (%s)", prefix, first.Key(), db)
}

// msgBody is the command document of an OP_MSG: its section of kind 0.
func msgBody(b []byte) (bson.Raw, error) {
	if len(b) < 4 {
		return nil, errors.New("short OP_MSG")
	}
	flags := binary.LittleEndian.Uint32(b[0:4])
	end := len(b)
	if flags&1 != 0 { // checksumPresent
		end -= 4
	}
	for i := 4; i < end; {
		kind := b[i]
		i++
		if i+4 > end {
			break
		}
		size := int(int32(binary.LittleEndian.Uint32(b[i : i+4])))
		if size < 4 || i+size > end {
			break
		}
		if kind == 0 {
			return bson.Raw(b[i : i+size]), nil
		}
		i += size // a document sequence (kind 1) is its size too
	}
	return nil, errors.New("OP_MSG without a body section")
}

// queryBody is the collection (like admin.$cmd) and query document of an
// OP_QUERY.
func queryBody(b []byte) (string, bson.Raw, error) {
	i := 4 // flags
	for i < len(b) && b[i] != 0 {
		i++ // fullCollectionName, a C string
	}
	coll := string(b[min(4, len(b)):i])
	i += 1 + 8 // its NUL, numberToSkip, numberToReturn
	if i+4 > len(b) {
		return "", nil, errors.New("short OP_QUERY")
	}
	size := int(int32(binary.LittleEndian.Uint32(b[i : i+4])))
	if size < 5 || i+size > len(b) {
		return "", nil, errors.New("short OP_QUERY")
	}
	return coll, bson.Raw(b[i : i+size]), nil
}
